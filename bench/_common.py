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
