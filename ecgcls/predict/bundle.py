"""Bundled weights: a small, self-describing file per model, shipped inside the package.

A bundle is a ``torch.save`` dict: ``{"format": 1, "net": {name + kwargs}, "state_dict", "classes",
"thresholds", "fs", "n_samples", "input_fill", "card": {...}}`` — enough to rebuild the plain model
with :func:`ecgcls.models.create` without Lightning, Hydra or the training config.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ecgcls.data.transforms import fill_missing
from ecgcls.models import create

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
BUNDLES = {"patchecg": "patchecg_superdiag.pt", "cnn1d": "cnn1d_masked_superdiag.pt",
           "pic2dx": "pic2dx_ensemble_superdiag.pt"}


def make_bundle(ckpt_path: str | Path, out_path: str | Path, card: dict, fs: int = 100, half: bool = False) -> Path:
    """Turn a Lightning checkpoint of :class:`~ecgcls.train.MultilabelClassifier` into a bundle.

    ``half`` stores floating-point weights as float16 (half the size; loaded back as float32)."""
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    hp = ck["hyper_parameters"]
    state = {k[len("net."):]: v for k, v in ck["state_dict"].items() if k.startswith("net.")}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    net = dict(hp["net"])
    picture = str(net.get("name", "")).startswith("pic2dx")
    bundle = {"format": 1, "net": net, "state_dict": state, "classes": list(hp["classes"]),
              "thresholds": ck["state_dict"]["thresholds"].tolist(), "fs": fs, "n_samples": 10 * fs,
              "input_fill": hp.get("input_fill", "none"), "card": card,
              "input": "picture" if picture else "signal", "image_size": ck.get("image_size"),
              # checkpoints from before the "ink" preprocessing were trained on plain inverted grayscale
              "preprocess": ck.get("preprocess", "gray") if picture else None}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(bundle, out_path)
    return out_path


class BundledModel(nn.Module):
    """A bundled classifier → probabilities (B, C). ``input == 'signal'``: x is (B, 12, T) mV with NaN;
    ``'picture'``: x is (B, 1, H, W) from :func:`ecgcls.data.images.preprocess` (``method=self.preprocess``)
    + ``to_tensor``."""

    def __init__(self, bundle: dict) -> None:
        super().__init__()
        net = dict(bundle["net"])
        name = net.pop("name")
        self.name = name
        self.classes: list[str] = bundle["classes"]
        self.thresholds = np.asarray(bundle["thresholds"], dtype=np.float32)
        self.fs = int(bundle["fs"])
        self.n_samples = int(bundle["n_samples"])
        self.input_fill = bundle["input_fill"]
        self.card = bundle.get("card", {})
        self.input = bundle.get("input", "signal")
        self.image_size = tuple(bundle["image_size"]) if bundle.get("image_size") else None
        self.preprocess = bundle.get("preprocess") or ("gray" if self.input == "picture" else None)
        self.net = create(name, num_classes=len(self.classes), **net)
        self.net.load_state_dict({k: (v.float() if v.is_floating_point() else v)
                                  for k, v in bundle["state_dict"].items()})
        self.eval()

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(fill_missing(x, self.input_fill)))


def load_bundle(name_or_path: str | Path) -> BundledModel:
    """Load a bundled model by name (``patchecg``, ``cnn1d``) or by file path."""
    path = Path(name_or_path)
    if not path.suffix:
        if str(name_or_path) not in BUNDLES:
            raise ValueError(f"no bundled model {name_or_path!r}; bundled: {', '.join(BUNDLES)} (or pass a .pt path)")
        path = WEIGHTS_DIR / BUNDLES[str(name_or_path)]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found (bundled weights ship in ecgcls/weights/)")
    bundle = torch.load(path, map_location="cpu", weights_only=False)
    if bundle.get("format") != 1:
        raise ValueError(f"{path}: not an ecgcls weights bundle")
    return BundledModel(bundle)


def add_parser(sub) -> None:
    p = sub.add_parser("bundle", help="pack a training checkpoint into a small weights bundle with a model card")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--metrics", help="the run's metrics.json (copied into the model card)")
    p.add_argument("--note", default="", help="free text for the card (training command, limits)")
    p.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    import json

    card: dict = {"checkpoint": str(args.checkpoint), "note": args.note}
    if args.metrics:
        m = json.loads(Path(args.metrics).read_text())
        card.update({k: m[k] for k in ("seed", "model", "masking", "data", "test", "layouts", "fit_seconds",
                                       "ablation_macro_auroc", "per_layout", "curriculum") if k in m})
    card["limits"] = ("Research software, not a medical device. Trained on 1,765 PTB-XL records (pack fold 10) "
                      "and pictures rendered from them; not validated on real hospital printouts.")
    path = make_bundle(args.checkpoint, args.out, card, half=args.half)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
