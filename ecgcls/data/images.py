"""Pictures for the image classifiers (Pic2Diagnosis path): one preprocessing for training and prediction,
and a store of rendered pictures + trace masks built once.

Preprocessing: grayscale, inverted (ink bright on black), resized keeping the aspect ratio and padded to
``size`` (H, W), uint8. :func:`to_tensor` turns it into a normalised float tensor (1, H, W).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from ecgcls.data.pagestore import build_store, open_store, store_dir, worker_signals
from ecgcls.data.ptbxl import find_root

MEAN, STD = 0.08, 0.2  # of inverted pictures (mostly dark paper, bright ink)


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


def preprocess(image: np.ndarray, size: tuple[int, int] = (208, 272)) -> np.ndarray:
    """RGB uint8 (H, W, 3) picture → grayscale inverted uint8 (size) — the same at train and predict time."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return fit_resize(255 - gray, size)


def mask_image(trace_mask: np.ndarray, size: tuple[int, int] = (208, 272)) -> np.ndarray:
    """Boolean trace mask (H, W) → uint8 (size), area-averaged (thin traces stay visible)."""
    m = fit_resize(trace_mask.astype(np.uint8) * 255, size)
    return np.clip(m.astype(np.float32) * 2.0, 0, 255).astype(np.uint8)  # thin strokes: boost after averaging


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 (H, W) → float (1, H, W), normalised."""
    return (torch.from_numpy(np.ascontiguousarray(x)).float()[None] / 255.0 - MEAN) / STD




def _render_job(args):
    root, cache, ecg_id, variant, seed, size, layouts, artifacts, prob, dpi = args
    from ecgcls.render import RenderConfig, render

    rng = np.random.default_rng([seed, ecg_id, variant, 7])
    cfg = RenderConfig.random(rng, layouts=layouts, artifacts=artifacts, artifact_prob=prob, dpi=(dpi,))
    page = render(worker_signals(root, cache).get(ecg_id), 500, cfg, rng=rng)
    return np.stack([preprocess(page.image, size), mask_image(page.trace_mask(), size)]), page.layout.name


class ImageStore:
    """``(N, variants, 2, H, W)`` uint8: [preprocessed picture, trace mask] of each record rendered with a
    seeded random config (layout, paper, scale, colours, artifacts). Built once, in parallel."""

    def __init__(self, root: str | Path, cache_dir: str | Path = "~/.cache/ecgcls", size: Sequence[int] = (208, 272),
                 variants: int = 1, seed: int = 0, layouts: Sequence[str] | None = None,
                 artifacts: Sequence[str] | None = None, artifact_prob: float = 0.4, dpi: float = 100.0,
                 workers: int | None = None, ids: Sequence[int] | None = None) -> None:
        self.root = find_root(root)
        self.size, self.variants = (int(size[0]), int(size[1])), int(variants)
        spec = {"root": str(self.root.resolve()), "size": list(self.size), "variants": self.variants, "seed": seed,
                "layouts": list(layouts or []), "artifacts": list(artifacts) if artifacts is not None else None,
                "p": artifact_prob, "dpi": dpi, "v": 2}
        self.dir = store_dir(cache_dir, "images", spec)
        if not (self.dir / "meta.json").is_file():
            self._build(cache_dir, seed, layouts, artifacts, artifact_prob, dpi, workers, ids, spec)
        self.ids, self.data, self.layouts, self._row = open_store(self.dir)

    def _build(self, cache_dir, seed, layouts, artifacts, prob, dpi, workers, ids, spec) -> None:
        from ecgcls.data.store import SignalStore

        store = SignalStore(self.root, 500, cache_dir)
        ids = sorted(int(i) for i in (ids if ids is not None else store.ids))
        jobs = [(str(self.root), str(cache_dir), i, v, seed, self.size, list(layouts) if layouts else None,
                 list(artifacts) if artifacts is not None else None, prob, dpi) for i in ids for v in range(self.variants)]
        build_store(self.dir, ids, self.variants, (2, *self.size), np.uint8, _render_job, jobs, spec,
                    "rendering pictures", workers)

    def get(self, ecg_id: int, variant: int = 0, channel: int = 0) -> np.ndarray:
        return np.array(self.data[self._row[int(ecg_id)], variant, channel])

    def layout(self, ecg_id: int, variant: int = 0) -> str:
        return self.layouts[self._row[int(ecg_id)] * self.variants + variant]
