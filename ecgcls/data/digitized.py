"""Signals as the digitizer reads them: each record rendered on paper (random layout, seeded artifacts),
digitized back and resampled — so models can learn the digitizer's noise, and be scored on it.

Built once (in parallel) into a memory-mapped store next to the raw signal store; keyed by the PTB-XL root,
the sampling rate, the seed, the number of variants and the render choices.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from ecgcls.data.pagestore import build_store, check_renderer, draw_config, open_store, store_dir, worker_signals
from ecgcls.data.ptbxl import find_root
from ecgcls.data.store import SignalStore

log = logging.getLogger(__name__)


def _job(args):
    """Worker: render + digitize one (record, variant); returns (signal (12, n) float32 with NaN, layout)."""
    root, cache, ecg_id, variant, seed, fs, layouts, artifacts, artifact_prob, renderer, ink, dpi = args
    from ecgcls.digitize import DigitizeError, digitize
    from ecgcls.data.transforms import resample_nan
    from ecgcls.render import render

    rng = np.random.default_rng([seed, ecg_id, variant])
    cfg = draw_config(rng, renderer, dpi, layouts, artifact_prob, artifacts=artifacts)
    page = render(worker_signals(root, cache).get(ecg_id), 500, cfg, rng=rng)
    try:
        d = digitize(page.image, keep_image=False, ink=ink)
        sig = resample_nan(d.record.signal, 500, fs, 10 * fs)
    except (DigitizeError, ValueError):
        sig = np.full((12, 10 * fs), np.nan, np.float32)
    return sig, cfg.layout


class DigitizedStore:
    """``(N, variants, 12, 10·fs)`` float32 (NaN where not printed / not read) + the printed layout names."""

    def __init__(self, root: str | Path, fs: int = 100, cache_dir: str | Path = "~/.cache/ecgcls", variants: int = 1,
                 seed: int = 0, layouts: Sequence[str] | None = None,
                 artifacts: Sequence[str] = ("rotation", "noise", "blur", "jpeg", "lighting", "perspective"),
                 artifact_prob: float = 0.3, workers: int | None = None, ids: Sequence[int] | None = None,
                 renderer: str = "random", ink: str = "classic", dpi: Sequence[float] = (100.0, 300.0)) -> None:
        """``renderer``: ``"random"`` (:meth:`RenderConfig.random`: ecgcls's look with seeded artifacts),
        ``"randomized"`` (:meth:`RenderConfig.randomized`: other machines' and generators' conventions, DPI
        log-uniform in ``dpi``, every artifact with ``artifact_prob``) or ``"mixed"`` (each page either, 50/50).
        ``ink``: the digitizer's trace finder (``classic``, ``net``, ``auto``)."""
        from ecgcls.digitize import DIGITIZER_VERSION

        check_renderer(renderer, "DigitizedStore")
        self.renderer, self.ink, self.dpi = renderer, ink, (float(dpi[0]), float(dpi[1]))

        self.root = find_root(root)
        self.fs, self.variants = int(fs), int(variants)
        spec = {"root": str(self.root.resolve()), "fs": self.fs, "variants": self.variants, "seed": seed,
                "layouts": list(layouts or []), "artifacts": list(artifacts), "p": artifact_prob, "v": 2,
                "digitizer": DIGITIZER_VERSION}
        if renderer != "random" or ink != "classic":  # keys of older stores stay valid
            spec.update(renderer=renderer, ink=ink, dpi=list(self.dpi))
        self.dir = store_dir(cache_dir, "digitized", spec)
        if not (self.dir / "meta.json").is_file():
            self._build(cache_dir, seed, layouts, artifacts, artifact_prob, workers, ids, spec)
        self.ids, self.signals, self.layouts, self._row = open_store(self.dir)

    def _build(self, cache_dir, seed, layouts, artifacts, artifact_prob, workers, ids, spec) -> None:
        store = SignalStore(self.root, 500, cache_dir)
        ids = sorted(int(i) for i in (ids if ids is not None else store.ids))
        jobs = [(str(self.root), str(cache_dir), i, v, seed, self.fs, list(layouts) if layouts else None,
                 list(artifacts), artifact_prob, self.renderer, self.ink, self.dpi)
                for i in ids for v in range(self.variants)]
        build_store(self.dir, ids, self.variants, (12, 10 * self.fs), np.float32, _job, jobs, spec,
                    "render + digitize", workers)
        log.info("built digitized store %s (%d records x %d variants)", self.dir, len(ids), self.variants)

    def __contains__(self, ecg_id: int) -> bool:
        return int(ecg_id) in self._row

    def get(self, ecg_id: int, variant: int = 0) -> np.ndarray:
        return np.array(self.signals[self._row[int(ecg_id)], variant])
