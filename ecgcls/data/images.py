"""Pictures for the image classifiers (Pic2Diagnosis path): one preprocessing for training and prediction,
and a store of rendered pictures + trace masks built once.

Preprocessing (:func:`preprocess`): a grayscale picture with the ink bright on black, resized keeping the
aspect ratio and padded to ``size`` (H, W), uint8. :func:`to_tensor` turns it into a normalised float tensor
(1, H, W). Two methods:

- ``"ink"`` (default): the relative darkness against the local paper brightness, taken on the brightest
  channel (:func:`ecgcls.digitize.grid.darkness`), so coloured grid lines, shadows and uneven light fade and
  the ink stays; area-resized, then the same x2 gain as the trace masks, so pictures look like the stage-1
  masks the curriculum starts from.
- ``"trace"``: the trace network's ink probability (:func:`ecgcls.digitize.segment.trace_probability`, the
  bundled ``traceseg`` weights), area-resized and boosted like the masks: grid, paper texture, creases, text
  and colour casts are gone before the classifier sees the page, so pictures from other generators and
  scanners look like the renderer's (and like the stage-1 masks). Costs one trace-network pass per picture.
- ``"gray"``: plain luminance, inverted (the first bundles were trained on it; kept so they load unchanged).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from ecgcls.data.pagestore import build_store, check_renderer, draw_config, open_store, store_dir, worker_signals
from ecgcls.data.ptbxl import find_root

MEAN, STD = 0.08, 0.2  # of inverted pictures (mostly dark paper, bright ink)
PREPROCESS_METHODS = ("ink", "trace", "gray")
INK_GAIN = 2.0  # thin strokes fade when area-resized: the same boost for pictures ("ink") and trace masks


def fit_resize(gray: np.ndarray, size: tuple[int, int], interp=cv2.INTER_AREA) -> np.ndarray:
    """Resize a 2-D uint8 array into ``size`` (H, W) keeping its aspect ratio; pad with 0, centred."""
    h, w = gray.shape
    H, W = size
    k = min(H / h, W / w)
    nh, nw = max(1, int(round(h * k))), max(1, int(round(w * k)))
    small = cv2.resize(gray, (nw, nh), interpolation=interp)
    out = np.zeros((H, W), np.uint8)
    y0, x0 = (H - nh) // 2, (W - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = small
    return out


def _boost(x: np.ndarray, gain: float | None = None) -> np.ndarray:
    return np.clip(x.astype(np.float32) * (INK_GAIN if gain is None else gain), 0, 255).astype(np.uint8)


def preprocess(image: np.ndarray, size: tuple[int, int] = (208, 272), method: str = "ink",
               gain: float | None = None) -> np.ndarray:
    """RGB (H, W, 3) or grayscale (H, W) uint8 picture → uint8 ``size`` (H, W) with the ink bright on black;
    the same function at train and predict time. ``method``: ``"ink"``, ``"trace"`` or ``"gray"`` (module
    docstring); ``gain``: the boost of ``"ink"``/``"trace"`` (default :data:`INK_GAIN`; a bundle records the one
    it was trained with)."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"preprocess expects a uint8 (H, W) or (H, W, 3) picture, got {image.dtype} {image.shape}")
    if method == "ink":
        from ecgcls.digitize.grid import darkness

        return _boost(fit_resize((darkness(image) * 255.0).astype(np.uint8), size), gain)
    if method == "trace":
        from ecgcls.digitize.segment import trace_probability

        return trace_picture(trace_probability(as_rgb(image))[0], size, gain)
    if method == "gray":
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        return fit_resize(255 - gray, size)
    raise ValueError(f"unknown picture preprocessing {method!r}; choose from {', '.join(PREPROCESS_METHODS)}")


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A uint8 picture as RGB (H, W, 3): grayscale is repeated over the channels."""
    return image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)


def trace_picture(prob: np.ndarray, size: tuple[int, int] = (208, 272), gain: float | None = None) -> np.ndarray:
    """The ``"trace"`` preparation from an ink probability map already computed (H, W) in [0, 1]."""
    return _boost(fit_resize((prob * 255.0).astype(np.uint8), size), gain)


def mask_image(trace_mask: np.ndarray, size: tuple[int, int] = (208, 272)) -> np.ndarray:
    """Boolean trace mask (H, W) → uint8 (size), area-averaged then boosted (thin traces stay visible)."""
    return _boost(fit_resize(trace_mask.astype(np.uint8) * 255, size))


def to_tensor(x: np.ndarray, mean: float | None = None, std: float | None = None) -> torch.Tensor:
    """uint8 (H, W) → float (1, H, W), normalised with ``mean``/``std`` of [0, 1] values (default
    :data:`MEAN`, :data:`STD`; a bundle records the ones it was trained with)."""
    mean = MEAN if mean is None else mean
    std = STD if std is None else std
    return (torch.from_numpy(np.ascontiguousarray(x)).float()[None] / 255.0 - mean) / std




def _render_job(args):
    root, cache, ecg_id, variant, seed, size, layouts, artifacts, prob, dpi, method, renderer, dpi_range = args
    from ecgcls.render import render

    rng = np.random.default_rng([seed, ecg_id, variant, 7])
    cfg = draw_config(rng, renderer, dpi_range, layouts, prob, artifacts=artifacts, dpi=(dpi,))
    page = render(worker_signals(root, cache).get(ecg_id), 500, cfg, rng=rng)
    return np.stack([preprocess(page.image, size, method), mask_image(page.trace_mask(), size)]), page.layout.name


class ImageStore:
    """``(N, variants, 2, H, W)`` uint8: [preprocessed picture, trace mask] of each record rendered with a
    seeded random config (layout, paper, scale, colours, artifacts). Built once, in parallel.

    ``renderer``: ``"random"`` (ecgcls's own look at ``dpi``), ``"randomized"`` (other machines' and generators'
    conventions, DPI log-uniform in ``dpi_range``, every artifact with ``artifact_prob``) or ``"mixed"`` (each
    page either, 50/50)."""

    def __init__(self, root: str | Path, cache_dir: str | Path = "~/.cache/ecgcls", size: Sequence[int] = (208, 272),
                 variants: int = 1, seed: int = 0, layouts: Sequence[str] | None = None,
                 artifacts: Sequence[str] | None = None, artifact_prob: float = 0.4, dpi: float = 100.0,
                 workers: int | None = None, ids: Sequence[int] | None = None, preprocess: str = "ink",
                 renderer: str = "random", dpi_range: Sequence[float] = (75.0, 200.0)) -> None:
        check_renderer(renderer, "ImageStore")
        self.renderer, self.dpi_range = renderer, (float(dpi_range[0]), float(dpi_range[1]))
        if preprocess not in PREPROCESS_METHODS:
            raise ValueError(f"unknown picture preprocessing {preprocess!r}; choose from {', '.join(PREPROCESS_METHODS)}")
        self.root = find_root(root)
        self.preprocess = preprocess
        self.size, self.variants = (int(size[0]), int(size[1])), int(variants)
        spec = {"root": str(self.root.resolve()), "size": list(self.size), "variants": self.variants, "seed": seed,
                "layouts": list(layouts or []), "artifacts": list(artifacts) if artifacts is not None else None,
                "p": artifact_prob, "dpi": float(dpi), "v": 2, "preprocess": preprocess}
        if renderer != "random":  # keys of older stores stay valid
            spec.update(renderer=renderer, dpi_range=list(self.dpi_range))
        self.dir = store_dir(cache_dir, "images", spec)
        if not (self.dir / "meta.json").is_file():
            self._build(cache_dir, seed, layouts, artifacts, artifact_prob, dpi, workers, ids, spec)
        self.ids, self.data, self.layouts, self._row = open_store(self.dir)

    def _build(self, cache_dir, seed, layouts, artifacts, prob, dpi, workers, ids, spec) -> None:
        from ecgcls.data.store import SignalStore

        store = SignalStore(self.root, 500, cache_dir)
        ids = sorted(int(i) for i in (ids if ids is not None else store.ids))
        jobs = [(str(self.root), str(cache_dir), i, v, seed, self.size, list(layouts) if layouts else None,
                 list(artifacts) if artifacts is not None else None, prob, dpi, self.preprocess, self.renderer,
                 self.dpi_range) for i in ids for v in range(self.variants)]
        build_store(self.dir, ids, self.variants, (2, *self.size), np.uint8, _render_job, jobs, spec,
                    "rendering pictures", workers)

    def get(self, ecg_id: int, variant: int = 0, channel: int = 0) -> np.ndarray:
        return np.array(self.data[self._row[int(ecg_id)], variant, channel])

    def layout(self, ecg_id: int, variant: int = 0) -> str:
        return self.layouts[self._row[int(ecg_id)] * self.variants + variant]
