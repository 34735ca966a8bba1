"""Measurements from pictures vs from the signals, and how often the evidence backs the labels.

    python bench/measure_pictures.py [--n 100] [--layouts 3x4+II 6x2 12x1]

Test-fold records (strat_fold 1-7) are rendered in each layout (ecgcls's look, scan-like), digitized with
``ink=auto`` and measured (``ecgcls.measure``); the same measurements on the original 500 Hz signals are the
reference. Reports mean |difference| per measurement and layout. Grounding (the bundled default classifier on the
digitized leads, labels at its thresholds): the share of correct labels with at least one met criterion, and the
share of false-positive labels with no met criterion (the evidence disagreeing with a wrong answer).
Writes bench/out/measure_pictures.json.
"""
from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import REPO, write_json  # noqa: E402

KEYS = ("hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qrs_axis_deg", "sokolow_lyon_mv")
_STORE = None


def _job(args):
    global _STORE
    root, cache, ecg_id, layout = args
    from ecgcls.data import SignalStore
    from ecgcls.data.transforms import resample_nan
    from ecgcls.digitize import DigitizeError, digitize
    from ecgcls.measure import measure
    from ecgcls.render import RenderConfig, render

    if _STORE is None:
        _STORE = SignalStore(root, 500, cache, progress=False)
    sig = _STORE.get(ecg_id).astype(float)
    ref = measure(sig, 500.0)["global"]
    page = render(sig.astype(np.float32), 500, RenderConfig(layout=layout, artifacts=("scan",)), rng=ecg_id)
    try:
        d = digitize(page.image, keep_image=False, ink="auto")
    except DigitizeError:
        return ecg_id, layout, ref, None, None
    m = measure(d.record.signal, d.record.fs)
    return ecg_id, layout, ref, m, resample_nan(d.record.signal, d.record.fs, 100, 1000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--layouts", nargs="+", default=["3x4+II", "6x2", "12x1"])
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    import torch
    from tqdm.auto import tqdm

    from ecgcls.data import derive_labels, load_database, make_splits, resolve_root
    from ecgcls.measure import evidence
    from ecgcls.predict import load_bundle

    shared = os.environ.get("ECGCLS_SHARED", str(REPO.parent / "shared"))
    cache = os.path.expanduser(os.environ.get("ECGCLS_CACHE", "~/.cache/ecgcls"))
    root = resolve_root(archive=f"{shared}/data/ptbxl-mini.tar.xz", cache_dir=cache)
    db = load_database(root)
    y = derive_labels(root, "superdiagnostic", db=db)
    test = make_splits(db, y.index, {"train": [10], "val": [8, 9], "test": list(range(1, 8))})["test"][: args.n]
    jobs = [(str(root), cache, int(i), lay) for i in test for lay in args.layouts]
    with ProcessPoolExecutor(args.workers) as ex:
        rows = list(tqdm(ex.map(_job, jobs, chunksize=2), total=len(jobs), desc="render, digitize, measure"))
    net = load_bundle("cnn1d")
    res: dict = {"records": len(test), "layouts": args.layouts, "model": "cnn1d (bundled)",
                 "mean_abs_difference": {}, "read": {}, "grounding": {}}
    for lay in args.layouts:
        rs = [r for r in rows if r[1] == lay and r[3] is not None]
        res["read"][lay] = len(rs)
        res["mean_abs_difference"][lay] = {}
        for k in KEYS:
            d = np.array([(r[3]["global"][k] - r[2][k]) for r in rs], float)
            if k == "qrs_axis_deg":
                d = (d + 180) % 360 - 180
            ok = np.isfinite(d)
            res["mean_abs_difference"][lay][k] = {"n": int(ok.sum()),
                                                  "mean_abs": round(float(np.abs(d[ok]).mean()), 2) if ok.any() else None}
    good = [r for r in rows if r[3] is not None]
    with torch.no_grad():
        p = net(torch.from_numpy(np.stack([r[4] for r in good]).astype(np.float32))).numpy()
    tp_grounded = tp = fp_unsupported = fp = 0
    for r, pr in zip(good, p):
        truth = y.loc[r[0]]
        given = [c for c, v, t in zip(net.classes, pr, net.thresholds) if v >= t]
        ev = evidence(r[3], given)
        for c in given:
            met = ev.get(c, {}).get("met", 0)
            if truth[c] == 1:
                tp, tp_grounded = tp + 1, tp_grounded + (met > 0)
            else:
                fp, fp_unsupported = fp + 1, fp_unsupported + (met == 0)
    res["grounding"] = {"correct_labels": tp, "correct_with_a_met_criterion": round(tp_grounded / max(1, tp), 3),
                        "false_positive_labels": fp, "false_positives_with_no_met_criterion":
                            round(fp_unsupported / max(1, fp), 3)}
    for lay in args.layouts:
        print(lay, {k: v["mean_abs"] for k, v in res["mean_abs_difference"][lay].items()})
    print(res["grounding"])
    write_json("measure_pictures", res)


if __name__ == "__main__":
    main()
