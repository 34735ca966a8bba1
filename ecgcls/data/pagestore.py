"""Shared machinery of the caches built from rendered pages (digitized signals, preprocessed pictures):
a key from the settings, a parallel atomic build, and memory-mapped loading."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from ecgcls.parallel import worker_pool  # noqa: F401  (re-exported: the pool the builders use)


_WORKER_STORES: dict = {}


def worker_signals(root: str, cache_dir: str, fs: int = 500):
    """The ``fs`` Hz :class:`~ecgcls.data.store.SignalStore` of ``root``, opened once per worker process."""
    from ecgcls.data.store import SignalStore

    key = (str(root), str(cache_dir), int(fs))
    if key not in _WORKER_STORES:
        _WORKER_STORES[key] = SignalStore(root, fs, cache_dir, progress=False)
    return _WORKER_STORES[key]


def store_dir(cache_dir: str | Path, kind: str, spec: dict) -> Path:
    """``cache_dir/kind/<hash of spec>``: a different setting never reuses a stale store."""
    key = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir).expanduser() / kind / key


#: how a store draws each page: ecgcls's own look, the domain-randomized renderer, or either (50/50)
RENDERERS = ("random", "randomized", "mixed")


def check_renderer(renderer: str, who: str) -> None:
    if renderer not in RENDERERS:
        raise ValueError(f"{who} renderer must be random, randomized or mixed, got {renderer!r}")


def draw_config(rng: np.random.Generator, renderer: str, dpi_range: Sequence[float], layouts=None,
                artifact_prob: float = 0.3, **random_kw):
    """A page's :class:`~ecgcls.render.RenderConfig`: :meth:`~ecgcls.render.RenderConfig.randomized` (DPI in
    ``dpi_range``) for ``renderer="randomized"`` or, 50/50, ``"mixed"``; else :meth:`RenderConfig.random` with
    ``random_kw`` (artifacts, dpi...)."""
    from ecgcls.render import RenderConfig

    if renderer == "randomized" or (renderer == "mixed" and rng.random() < 0.5):
        return RenderConfig.randomized(rng, layouts=layouts, dpi=tuple(dpi_range), artifact_prob=artifact_prob)
    return RenderConfig.random(rng, layouts=layouts, artifact_prob=artifact_prob, **random_kw)


def build_store(directory: Path, ids: Sequence[int], variants: int, item_shape: tuple[int, ...], dtype,
                job: Callable, jobs: list, spec: dict, desc: str, workers: int | None = None) -> None:
    """Fill ``data.npy`` (N, variants, *item_shape) with ``job(args) -> (item, layout name)`` run in worker
    processes over ``jobs`` (ordered id-major, variant-minor); write ids, layout names and meta last, so
    an interrupted build is redone rather than half-used."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f"data.npy.tmp{os.getpid()}"
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(len(ids), variants, *item_shape))
    names: list[str] = []
    with worker_pool(workers) as ex:
        for k, (item, layout) in enumerate(tqdm(ex.map(job, jobs, chunksize=8), total=len(jobs), desc=desc,
                                                unit="page")):
            arr[k // variants, k % variants] = item
            names.append(layout)
    arr.flush()
    del arr
    os.replace(tmp, directory / "data.npy")
    np.save(directory / "ids.npy", np.asarray(ids, np.int64))
    (directory / "layouts.json").write_text(json.dumps(names))
    (directory / "meta.json").write_text(json.dumps({**spec, "n": len(ids)}))


def _draw_one(job) -> None:
    import cv2

    from ecgcls.render import RenderConfig, render

    root, cache_dir, ecg_id, layout, preset, path = job
    page = render(worker_signals(root, cache_dir).get(ecg_id), 500, RenderConfig(layout=layout, artifacts=(preset,)),
                  rng=ecg_id)
    cv2.imwrite(path, cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR))


def draw_pages(ids: Sequence[int], layouts: Sequence[str], presets: Sequence[str], root: str | Path,
               cache_dir: str | Path, out_dir: str | Path, workers: int | None = None,
               progress: bool = True) -> list[tuple[str, int]]:
    """Each record of ``ids`` drawn once per layout and artifact preset (or single artifact) into
    ``out_dir/<preset>/<ecg_id>_<layout tag>.png`` (``+`` written ``p``), seeded by the record id so a rerun
    draws the same picture; pictures already there are kept. Returns ``(picture, ecg_id)`` in preset,
    record, layout order. An unknown preset or layout raises ``ValueError`` before anything is drawn."""
    from ecgcls.render import get_layout
    from ecgcls.render.artifacts import expand

    for preset in presets:
        expand([preset])  # ValueError naming the choices
    for layout in layouts:
        get_layout(layout)
    out, jobs = [], []
    for preset in presets:
        d = Path(out_dir).expanduser() / preset
        d.mkdir(parents=True, exist_ok=True)
        for ecg_id in ids:
            for layout in layouts:
                p = d / f"{int(ecg_id):05d}_{layout.replace('+', 'p')}.png"
                if not p.is_file():
                    jobs.append((str(root), str(cache_dir), int(ecg_id), layout, preset, str(p)))
                out.append((str(p), int(ecg_id)))
    if jobs:
        with worker_pool(workers) as ex:
            list(tqdm(ex.map(_draw_one, jobs, chunksize=4), total=len(jobs), desc="drawing test pictures",
                      unit="page", disable=not progress))
    return out


def open_store(directory: Path) -> tuple[np.ndarray, np.ndarray, list[str], dict[int, int]]:
    """(ids, memory-mapped data, layout names, ecg_id -> row) of a built store."""
    ids = np.load(directory / "ids.npy")
    data = np.load(directory / "data.npy", mmap_mode="r")
    layouts = json.loads((directory / "layouts.json").read_text())
    return ids, data, layouts, {int(i): r for r, i in enumerate(ids)}
