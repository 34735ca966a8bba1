"""Bundled weights: a network's tensors in ``<name>.safetensors`` and everything else in ``<name>.json``.

No pickles: the JSON says how to rebuild the plain model with :func:`ecgcls.models.create` (no Lightning, Hydra
or training config), what it predicts and how its input must be prepared::

    {"format": 2, "net": {"name": ..., **kwargs}, "classes": [...], "thresholds": [...],
     "input": "signal" | "picture",
     "signal": {"fs": 100, "n_samples": 1000, "fill": "zero"},                         # signal models
     "picture": {"size": [H, W], "method": "ink", "mean": 0.08, "std": 0.2, "ink_gain": 2.0},  # picture models
     "calibration": {"method": "temperature", "temperature": T, ...} | null,
     "card": {...}}                       # written from the training run's own metadata (see card_from_run)

``thresholds`` are on the calibrated probabilities when a calibration is present. Old ``torch.save`` bundles
(format 1, ``.pt``) still load.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ecgcls.data.transforms import fill_missing
from ecgcls.jsonsafe import json_safe
from ecgcls.models import create
from ecgcls.predict.names import BUNDLES, WEIGHTS_DIR, bundle_path  # noqa: F401  (re-exported)

FORMAT = 2


def _picture_defaults() -> dict:
    from ecgcls.data.images import INK_GAIN, MEAN, STD

    return {"mean": MEAN, "std": STD, "ink_gain": INK_GAIN}


def card_from_run(metrics: dict, overrides: list[str] | None = None, note: str = "", config: dict | None = None
                  ) -> dict:
    """A model card from a training run's ``metrics.json`` (and its Hydra overrides and composed ``config``): the
    command, the data actually used (label set, folds, split sizes; how pictures were drawn and prepared), the
    weights it started from, the seed, held-out metrics, and limits written from those facts — never a fixed
    sentence."""
    card: dict = {k: metrics[k] for k in ("seed", "model", "masking", "data", "test", "layouts", "fit_seconds",
                                          "ablation_macro_auroc", "per_layout", "curriculum", "tags") if k in metrics}
    if isinstance(card.get("data"), dict):
        card["data"] = {k: v for k, v in card["data"].items() if k != "split_ids"}
    if overrides is not None:
        card["command"] = " ".join(["python train.py", *overrides])
    if (config or {}).get("init_from"):
        card["init_from"] = str(config["init_from"])
    images = ((config or {}).get("data") or {}).get("images")
    if images:
        card["pictures"] = dict(images)
    if note:
        card["note"] = note
    card["limits"] = limits_text(card)
    return card


def limits_text(card: dict) -> str:
    """What the model was trained and measured on, from the card's own ``data``/``test`` entries."""
    d = card.get("data") or {}
    parts = ["Research software, not a medical device."]
    sizes, folds = d.get("sizes") or {}, d.get("folds") or {}
    if sizes:
        roots = d.get("root", "PTB-XL")
        src = (" + ".join(s["name"] for s in d["sources"]) if isinstance(roots, list) and d.get("sources")
               else Path(str(roots)).name or "PTB-XL")
        parts.append(f"Trained on {sizes.get('train', '?')} records of {src} (strat_fold {folds.get('train', '?')}, "
                     f"{d.get('task', '?')} labels: {', '.join(d.get('classes', []))}); thresholds chosen on "
                     f"{sizes.get('val', '?')} validation records (folds {folds.get('val', '?')}).")
    t = card.get("test") or {}
    if "macro_auroc" in t:
        parts.append(f"Held-out test: macro AUROC {t['macro_auroc']:.3f} on {t.get('n', '?')} records "
                     f"(folds {folds.get('test', '?')}).")
    parts.append("Trained on pictures drawn by ecgcls's renderer (and signals read from them); measure it on "
                 "your own printouts before relying on it.")
    return " ".join(parts)


def save_bundle(out: str | Path, state: dict, meta: dict) -> Path:
    """Write ``<out>.safetensors`` (tensors) and ``<out>.json`` (meta); returns the JSON path."""
    from safetensors.torch import save_file

    out = Path(out)
    stem = out.with_suffix("") if out.suffix in (".json", ".safetensors", ".pt") else out
    stem.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(stem) + ".safetensors",
              metadata={"format": "ecgcls-bundle", "json": stem.name + ".json"})
    path = Path(str(stem) + ".json")
    path.write_text(json.dumps({"format": FORMAT, **json_safe(meta)}, indent=1))
    return path


def make_bundle(ckpt_path: str | Path, out_path: str | Path, card: dict, fs: int = 100, half: bool = False,
                picture: dict | None = None) -> Path:
    """Turn a Lightning checkpoint of :class:`~ecgcls.train.MultilabelClassifier` into a bundle
    (``<out>.safetensors`` + ``<out>.json``; returns the JSON path). ``half`` stores floating-point weights as
    float16 (half the size; loaded back as float32). ``picture`` (``{"size": [H, W], "method": ...}``): the
    picture preprocessing of the run, for checkpoints that do not carry it (plain ``train.py`` image runs)."""
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    hp = ck["hyper_parameters"]
    state = {k[len("net."):]: v for k, v in ck["state_dict"].items() if k.startswith("net.")}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    net = dict(hp["net"])
    meta = {"net": net, "classes": list(hp["classes"]), "thresholds": ck["state_dict"]["thresholds"].tolist(),
            "calibration": None, "card": card}
    if str(net.get("name", "")).startswith("pic2dx"):
        # checkpoints from before the "ink" preprocessing were trained on plain inverted grayscale
        pic = {"size": ck.get("image_size"), "method": ck.get("preprocess", "gray"), **(picture or {})}
        if not pic["size"]:
            raise ValueError(f"{ckpt_path}: a picture model's checkpoint without its picture size; pass the run "
                             "folder (ecgcls bundle --run) so it is read from the run's config")
        meta.update(input="picture", picture={**_picture_defaults(), **pic, "size": list(pic["size"])})
    else:
        meta.update(input="signal", signal={"fs": fs, "n_samples": 10 * fs, "fill": hp.get("input_fill", "none")})
    return save_bundle(out_path, state, meta)


def _legacy_meta(bundle: dict) -> dict:
    """Format-1 ``torch.save`` dict → format-2 meta (same model, same preprocessing)."""
    meta = {"net": bundle["net"], "classes": bundle["classes"], "thresholds": list(bundle["thresholds"]),
            "calibration": None, "card": bundle.get("card", {})}
    if bundle.get("input") == "picture":
        meta.update(input="picture", picture={"size": list(bundle["image_size"]),
                                              "method": bundle.get("preprocess") or "gray", **_picture_defaults()})
    else:
        meta.update(input="signal", signal={"fs": int(bundle["fs"]), "n_samples": int(bundle["n_samples"]),
                                            "fill": bundle.get("input_fill", "none")})
    return meta


class BundledModel(nn.Module):
    """A bundled classifier → calibrated probabilities (B, C). ``input == 'signal'``: x is (B, 12, T) mV with NaN;
    ``'picture'``: x is (B, 1, H, W) from :meth:`picture_tensor`."""

    def __init__(self, meta: dict, state: dict, source: str = "") -> None:
        super().__init__()
        net = dict(meta["net"])
        self.name = net.pop("name")
        self.meta, self.source = meta, source
        self.classes: list[str] = list(meta["classes"])
        self.thresholds = np.asarray(meta["thresholds"], dtype=np.float32)
        self.card = meta.get("card", {})
        self.input = meta.get("input", "signal")
        sig, pic = meta.get("signal") or {}, meta.get("picture") or {}
        self.fs, self.n_samples = int(sig.get("fs", 100)), int(sig.get("n_samples", 1000))
        self.input_fill = sig.get("fill", "none")
        self.image_size = tuple(pic["size"]) if pic.get("size") else None
        self.preprocess = pic.get("method") if pic else None
        self.picture = dict(pic)
        self.calibration = meta.get("calibration")
        self.temperature = float((self.calibration or {}).get("temperature", 1.0))
        self.net = create(self.name, num_classes=len(self.classes), **net)
        self.net.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in state.items()})
        self.eval()
        if self.input == "picture":  # NHWC convolutions: ~1.4-1.5x faster on CPU (bench/results/channels_last.json)
            self.net.to(memory_format=torch.channels_last)

    def prepare_picture(self, image: np.ndarray) -> np.ndarray:
        """RGB/gray uint8 page → the uint8 (H, W) array this picture model was trained on."""
        from ecgcls.data.images import preprocess

        return preprocess(image, self.image_size, self.preprocess, gain=self.picture.get("ink_gain"))

    def picture_tensor(self, prepared: np.ndarray) -> torch.Tensor:
        """uint8 (H, W) from :meth:`prepare_picture` → normalised float (1, H, W) with the bundle's mean/std."""
        from ecgcls.data.images import to_tensor

        return to_tensor(prepared, self.picture.get("mean"), self.picture.get("std"))

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Uncalibrated logits (B, C)."""
        if x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(fill_missing(x, self.input_fill))

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x) / self.temperature)


def read_bundle(name_or_path: str | Path) -> tuple[dict, dict, Path]:
    """(meta, state dict, JSON path) of a bundle, without building the network."""
    path = bundle_path(name_or_path)
    if path.suffix == ".pt":  # format 1
        bundle = torch.load(path, map_location="cpu", weights_only=False)
        if bundle.get("format") != 1:
            raise ValueError(f"{path}: not an ecgcls weights bundle")
        return _legacy_meta(bundle), bundle["state_dict"], path
    from safetensors.torch import load_file

    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a bundle JSON ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: bundle format {meta.get('format')!r}, this ecgcls reads format {FORMAT}")
    tensors = path.with_suffix(".safetensors")
    if not tensors.is_file():
        raise FileNotFoundError(f"{tensors}: the bundle's weights are missing (next to {path.name})")
    return meta, load_file(str(tensors)), path


def load_bundle(name_or_path: str | Path) -> BundledModel:
    """Load a bundled model by name (``cnn1d``, ``patchecg``, ``pic2dx``, ``rhythm``) or by path."""
    meta, state, path = read_bundle(name_or_path)
    return BundledModel(meta, state, str(path))


def set_calibration(name_or_path: str | Path, calibration: dict) -> Path:
    """Store a temperature calibration in a bundle's JSON; thresholds move with it so that the same pages get
    the same labels (t' = sigmoid(logit(t) · T_old / T_new))."""
    meta, _, path = read_bundle(name_or_path)
    if path.suffix != ".json":
        raise ValueError(f"{path}: convert the legacy bundle first (ecgcls bundle --convert)")
    old = float((meta.get("calibration") or {}).get("temperature", 1.0))
    new = float(calibration["temperature"])

    def move(t: float) -> float:
        t = min(max(t, 1e-6), 1 - 1e-6)
        return 1.0 / (1.0 + math.exp(-math.log(t / (1 - t)) * old / new))

    meta["thresholds"] = [round(move(float(t)), 6) for t in meta["thresholds"]]
    meta["calibration"] = calibration
    path.write_text(json.dumps(meta, indent=1))
    return path
