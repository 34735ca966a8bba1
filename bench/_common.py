"""Helpers for bench scripts: a PTB-XL signal source and JSON output next to the script."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"


def ptbxl_signals(fs: int = 500, n: int = 20):
    """(ids, signals) from the shared PTB-XL pack (unpacked into the cache on first use)."""
    from ecgcls.data import SignalStore, unpack_archive

    shared = Path(os.environ.get("ECGCLS_SHARED", REPO.parent / "shared"))
    cache = os.environ.get("ECGCLS_CACHE", "~/.cache/ecgcls")
    root = unpack_archive(shared / "data" / "ptbxl-mini.tar.xz", cache)
    store = SignalStore(root, fs, cache)
    ids = [int(i) for i in store.ids[:n]]
    return ids, [store.get(i) for i in ids]


def ptbxl_fold_signals(folds=(8, 9), n: int = 20, fs: int = 500):
    """(ids, signals) of the first ``n`` records of the given strat_folds (default: the validation folds, which
    no digitizer network is trained on)."""
    from ecgcls.data import SignalStore, unpack_archive
    from ecgcls.data.ptbxl import load_database

    shared = Path(os.environ.get("ECGCLS_SHARED", REPO.parent / "shared"))
    cache = os.environ.get("ECGCLS_CACHE", "~/.cache/ecgcls")
    root = unpack_archive(shared / "data" / "ptbxl-mini.tar.xz", cache)
    store = SignalStore(root, fs, cache, progress=False)
    db = load_database(root)
    ids = [int(i) for i in db.index[db.strat_fold.isin(list(folds))] if int(i) in set(store.ids.tolist())][:n]
    return ids, [store.get(i) for i in ids]


def write_json(name: str, data: dict) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(data, indent=1))
    print(f"wrote {path}")
    return path


def rng_list(seed: int, n: int):
    return [np.random.default_rng([seed, i]) for i in range(n)]


#: the layouts bench/predict.py and bench/predict_cli.py draw their pictures in, in turn
PREDICT_LAYOUTS = ("3x4+II", "6x2", "12x1", "3x4")


def write_predict_pictures(out_dir: Path, n: int, copies: dict | None = None) -> None:
    """The pack's first ``n`` records drawn as 200-DPI Letter PNGs into ``out_dir`` (layouts in turn, every other one
    scan-like), named by record id; ``copies``: {folder: k} also writes the first k into each folder."""
    import cv2

    from ecgcls.render import RenderConfig, render

    ids, sigs = ptbxl_signals(500, n)
    for k, (i, s) in enumerate(zip(ids, sigs)):
        page = render(s, 500, RenderConfig(layout=PREDICT_LAYOUTS[k % len(PREDICT_LAYOUTS)],
                                           artifacts=("scan",) if k % 2 else ()), rng=i)
        bgr = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)
        for d in [out_dir] + [d for d, m in (copies or {}).items() if k < m]:
            cv2.imwrite(str(Path(d) / f"{i:05d}.png"), bgr)
