"""Signals as the digitizer reads them: each record rendered on paper (random layout, seeded artifacts),
digitized back and resampled — so models can learn the digitizer's noise, and be scored on it.

Built once (in parallel) into a memory-mapped store next to the raw signal store; keyed by the PTB-XL root,
the sampling rate, the seed, the number of variants and the render choices.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from ecgcls.data.ptbxl import find_root
from ecgcls.data.store import SignalStore

log = logging.getLogger(__name__)
_W: dict = {}


def _job(args):
    """Worker: render + digitize one (record, variant); returns (signal (12, n) float32 with NaN, layout)."""
    root, cache, ecg_id, variant, seed, fs, layouts, artifacts, artifact_prob = args
    from ecgcls.digitize import DigitizeError, digitize
    from ecgcls.predict.engine import resample_nan
    from ecgcls.render import RenderConfig, render

    if "store" not in _W:
        _W["store"] = SignalStore(root, 500, cache, progress=False)
    rng = np.random.default_rng([seed, ecg_id, variant])
    cfg = RenderConfig.random(rng, layouts=layouts, artifacts=artifacts, artifact_prob=artifact_prob)
    page = render(_W["store"].get(ecg_id), 500, cfg, rng=rng)
    try:
        d = digitize(page.image, keep_image=False)
        sig = resample_nan(d.record.signal, 500, fs, 10 * fs)
    except (DigitizeError, ValueError):
        sig = np.full((12, 10 * fs), np.nan, np.float32)
    return sig, cfg.layout


class DigitizedStore:
    """``(N, variants, 12, 10·fs)`` float32 (NaN where not printed / not read) + the printed layout names."""

    def __init__(self, root: str | Path, fs: int = 100, cache_dir: str | Path = "~/.cache/ecgcls", variants: int = 1,
                 seed: int = 0, layouts: Sequence[str] | None = None,
                 artifacts: Sequence[str] = ("rotation", "noise", "blur", "jpeg", "lighting", "perspective"),
                 artifact_prob: float = 0.3, workers: int | None = None, ids: Sequence[int] | None = None) -> None:
        self.root = find_root(root)
        self.fs, self.variants = int(fs), int(variants)
        spec = {"root": str(self.root.resolve()), "fs": self.fs, "variants": self.variants, "seed": seed,
                "layouts": list(layouts or []), "artifacts": list(artifacts), "p": artifact_prob, "v": 1}
        key = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = Path(cache_dir).expanduser() / "digitized" / key
        if not (self.dir / "meta.json").is_file():
            self._build(cache_dir, seed, layouts, artifacts, artifact_prob, workers, ids, spec)
        self.ids = np.load(self.dir / "ids.npy")
        self.signals = np.load(self.dir / "signals.npy", mmap_mode="r")
        self.layouts = json.loads((self.dir / "layouts.json").read_text())
        self._row = {int(i): r for r, i in enumerate(self.ids)}

    def _build(self, cache_dir, seed, layouts, artifacts, artifact_prob, workers, ids, spec) -> None:
        store = SignalStore(self.root, 500, cache_dir)
        ids = sorted(int(i) for i in (ids if ids is not None else store.ids))
        self.dir.mkdir(parents=True, exist_ok=True)
        n = 10 * self.fs
        tmp = self.dir / f"signals.npy.tmp{os.getpid()}"
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(ids), self.variants, 12, n))
        jobs = [(str(self.root), str(cache_dir), i, v, seed, self.fs, list(layouts) if layouts else None,
                 list(artifacts), artifact_prob) for i in ids for v in range(self.variants)]
        names: list[str] = []
        with ProcessPoolExecutor(workers or os.cpu_count()) as ex:
            for k, (sig, lay) in enumerate(tqdm(ex.map(_job, jobs, chunksize=8), total=len(jobs),
                                                desc="render + digitize", unit="page")):
                arr[k // self.variants, k % self.variants] = sig
                names.append(lay)
        arr.flush()
        del arr
        os.replace(tmp, self.dir / "signals.npy")
        np.save(self.dir / "ids.npy", np.asarray(ids, np.int64))
        (self.dir / "layouts.json").write_text(json.dumps(names))
        (self.dir / "meta.json").write_text(json.dumps({**spec, "n": len(ids)}))
        log.info("built digitized store %s (%d records x %d variants)", self.dir, len(ids), self.variants)

    def __contains__(self, ecg_id: int) -> bool:
        return int(ecg_id) in self._row

    def get(self, ecg_id: int, variant: int = 0) -> np.ndarray:
        return np.array(self.signals[self._row[int(ecg_id)], variant])
