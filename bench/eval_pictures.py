"""Classifiers on *pictures*: render held-out test records in each layout, digitize, predict, score.

    python bench/eval_pictures.py [--n 308] [--layouts 3x4+II 6x2 12x1 cabrera] [--artifacts clean photo]
                                  [--models patchecg cnn1d pic2dx]

Signal models (patchecg, cnn1d) see what the digitizer read; picture models (pic2dx) see the same
rendered picture directly, so both paths are scored on identical pictures. A page the digitizer refuses
counts as all-missing for the signal models (their output on it is scored, not dropped).

Test records: the pack's test folds (1-7) with superdiagnostic labels (never used for training).
Prints macro AUROC per model x layout x artifact preset and writes bench/out/eval_pictures.json and
bench/out/eval_pictures.png (per-layout AUROC).
"""
from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from tqdm.auto import tqdm

sys.path.insert(0, os.path.dirname(__file__))
from _common import OUT, REPO, write_json  # noqa: E402

from ecgcls import metrics as M  # noqa: E402
from ecgcls.data import SignalStore, derive_labels, load_database, make_splits, resolve_root  # noqa: E402
from ecgcls.predict import load_bundle, resample_nan  # noqa: E402

PRESETS = {"clean": (), "scan": ("scan",), "photo": ("photo",)}
_STORE = None


def _work(job):
    """Render + digitize one (record, layout, preset) in a worker: (100 Hz signal or None, layout read or
    None, the picture preprocessed for picture models or None)."""
    global _STORE
    from ecgcls.data.images import preprocess
    from ecgcls.digitize import DigitizeError, digitize
    from ecgcls.render import RenderConfig, render

    root, cache, ecg_id, layout, preset, image_prep, want_signal = job
    if _STORE is None:
        _STORE = SignalStore(root, 500, cache, progress=False)
    page = render(_STORE.get(ecg_id), 500, RenderConfig(layout=layout, artifacts=PRESETS[preset]), rng=ecg_id)
    picture = preprocess(page.image, *image_prep) if image_prep else None
    if not want_signal:  # picture models only: no digitizing
        return None, None, picture
    try:
        d = digitize(page.image, keep_image=False)
    except DigitizeError:
        return None, None, picture
    return resample_nan(d.record.signal, 500, 100, 1000), d.layout, picture


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=308)
    ap.add_argument("--layouts", nargs="+", default=["3x4+II", "6x2", "12x1", "cabrera"])
    ap.add_argument("--artifacts", nargs="+", default=["clean", "photo"])
    ap.add_argument("--models", nargs="+", default=["patchecg", "cnn1d"])
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--name", default="eval_pictures", help="output name under bench/out")
    args = ap.parse_args()
    cache = os.environ.get("ECGCLS_CACHE", os.path.expanduser("~/.cache/ecgcls"))
    shared = os.environ.get("ECGCLS_SHARED", str(REPO.parent / "shared"))
    root = resolve_root(archive=f"{shared}/data/ptbxl-mini.tar.xz", cache_dir=cache)
    db = load_database(root)
    y = derive_labels(root, "superdiagnostic", db=db)
    test = make_splits(db, y.index, {"train": [10], "val": [8, 9], "test": list(range(1, 8))})["test"][: args.n]
    Y = y.loc[test].to_numpy(np.float32)
    models = {m: load_bundle(m) for m in args.models}
    preps = {(tuple(n.image_size), n.preprocess) for n in models.values() if n.input == "picture"}
    if len(preps) > 1:
        raise SystemExit(f"picture models want different sizes/preprocessing {preps}; score them in separate runs")
    image_prep = next(iter(preps)) if preps else None
    res: dict = {"n": len(test), "test_folds": list(range(1, 8)), "auroc": {}, "failed": {}, "layout_acc": {}}
    bars = {}
    for preset in args.artifacts:
        for layout in args.layouts:
            want_signal = any(n.input != "picture" for n in models.values())
            jobs = [(str(root), cache, int(i), layout, preset, image_prep, want_signal) for i in test]
            with ProcessPoolExecutor(args.workers) as ex:
                out = list(tqdm(ex.map(_work, jobs, chunksize=4), total=len(jobs), desc=f"{preset} {layout}"))
            sigs = [s if s is not None else np.full((12, 1000), np.nan, np.float32) for s, _, _ in out]
            failed = sum(s is None for s, _, _ in out) if want_signal else 0
            res["failed"][f"{preset}/{layout}"] = failed
            if want_signal:
                res["layout_acc"][f"{preset}/{layout}"] = float(np.mean([lay == layout for _, lay, _ in out]))
            x = torch.from_numpy(np.stack(sigs))
            if image_prep:
                from ecgcls.data.images import to_tensor
                pics = torch.stack([to_tensor(pic) for _, _, pic in out])
            for name, net in models.items():
                inp = pics if net.input == "picture" else x
                with torch.no_grad():
                    p = torch.cat([net(inp[i:i + 64]) for i in range(0, len(inp), 64)]).numpy()
                auc = M.macro_auroc(p, Y)
                res["auroc"].setdefault(name, {}).setdefault(preset, {})[layout] = round(auc, 4)
                bars[f"{name} {preset} {layout}"] = auc
                print(f"{name:9s} {preset:6s} {layout:8s} macro AUROC {auc:.4f}  (digitizer failed on {failed})")
    for name in models:
        for preset in args.artifacts:
            v = list(res["auroc"][name][preset].values())
            res["auroc"][name][preset]["spread"] = round(max(v) - min(v), 4)
            res["auroc"][name][preset]["mean"] = round(float(np.mean(v)), 4)
    OUT.mkdir(exist_ok=True)
    M.plot_bars(bars, OUT / f"{args.name}.png", title="macro AUROC on rendered test pictures")
    write_json(args.name, res)


if __name__ == "__main__":
    main()
