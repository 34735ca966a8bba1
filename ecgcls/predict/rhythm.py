"""AFIB from the RR intervals a page shows, beside the rhythm bundle's network.

Atrial fibrillation's defining sign is an irregularly irregular ventricular rhythm. A page's digitized leads give
R peaks (:func:`ecgcls.measure.rhythm.rr_features`), and a logistic regression on a few RR-interval features
(the *RR head*) turns them into a probability of AFIB. It is fitted on pictures of **training-fold** records,
drawn like :mod:`ecgcls.predict.calibrate`'s validation pages (half ecgcls's own look, half the
domain-randomized renderer) and read exactly as ``predict.py`` reads a file, so it learns the digitizer's
errors too. Its weight against the network is chosen on validation-fold pages; the AFIB threshold too.

The head lives in the rhythm bundle's JSON (``rr_head``: feature names, centring, coefficients, what it was
fitted on and how it scored) — no pickle, no extra file. In predict, a page whose RR features cannot be measured
(fewer than two beats read) keeps the network's p_AFIB, and the JSONL says which was used.

    ecgcls rhythm-head rhythm [--train-folds 10] [--val-folds 8 9] [--pages-per-record 2] [--dry-run]
"""
from __future__ import annotations

import os

import numpy as np

from ecgcls.digitize.pipeline import DEFAULT_INK
from ecgcls.predict.rrhead import (HEAD_FEATURES, NET_WEIGHTS, RRHead, head_inputs,  # noqa: F401 (re-exported)
                                    page_inputs, standardize)


def _pages(root: str, cache: str, ids: list[int], pages_per_record: int, seed: int, net, ink: str, workers,
           store: str | None = None):
    """Read seeded pictures of ``ids`` like predict → (ecg_id per page, the network's probabilities, head
    inputs) of the pages the digitizer read. ``store``: an .npz keeping the read signals (used instead of
    reading again when it was made from the same records, seed, pages per record, digitizer version and ink)."""
    import torch

    from ecgcls.digitize import DIGITIZER_VERSION
    from ecgcls.predict.calibrate import validation_pages

    key = f"{seed} {pages_per_record} {DIGITIZER_VERSION} {ink} {net.fs} {net.n_samples} " + " ".join(map(str, ids))
    z = np.load(store) if store and os.path.isfile(store) else None
    if z is not None and str(z["key"]) == key:
        out_ids, sig = z["ids"], z["signal"]
    else:
        page_ids, results = validation_pages(root, cache, ids, pages_per_record, seed, net.fs, net.n_samples,
                                             {"ink": ink}, None, workers)
        keep = [k for k, r in enumerate(results) if r.signal is not None]
        out_ids = np.asarray([page_ids[k] for k in keep])
        sig = np.stack([results[k].signal for k in keep]).astype(np.float32)
        if store:
            os.makedirs(os.path.dirname(os.path.abspath(store)), exist_ok=True)
            np.savez(store, key=np.array(key), ids=out_ids, signal=sig)
    with torch.no_grad():
        p = net(torch.from_numpy(sig)).numpy()
    return out_ids, p, np.stack([page_inputs(x, net.fs) for x in sig])


def fit_head(bundle: str = "rhythm", cls: str = "AFIB", train_folds=(10,), val_folds=(8, 9),
             pages_per_record: int = 2, seed: int = 20261203, c: float = 1.0, ink: str = DEFAULT_INK,
             workers: int | None = None, write: bool = True, store: bool = True, limit: int | None = None) -> dict:
    """Fit the RR head of ``bundle`` for class ``cls`` on training-fold pictures, choose its weight against the
    network and the class threshold on validation-fold pictures, and (``write``) store it in the bundle's JSON.
    Returns the head's dict (with what was measured). ``store``: keep the read pages in the cache folder
    (``rhythm_head/``), so that a second fit (another ``c``) does not read them again. ``limit``: at most this
    many records per set, half of them the class's positives where there are that many (for quick checks)."""
    import json

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict

    from ecgcls import metrics as M
    from ecgcls.data import derive_labels, load_database
    from ecgcls.predict.bundle import load_bundle, read_bundle
    from ecgcls.predict.calibrate import pack_root

    net = load_bundle(bundle)
    if cls not in net.classes:
        raise ValueError(f"rhythm-head: {bundle} has no class {cls!r} (it has {net.classes})")
    j = net.classes.index(cls)
    root, cache = pack_root()
    db = load_database(root)
    labels = derive_labels(root, (net.card.get("data") or {}).get("task", "rhythm"), db=db)
    if cls not in labels.columns:
        raise ValueError(f"rhythm-head: no {cls} labels in {root}")

    def ids_of(folds):
        ids = [int(i) for i in labels.index if int(db.loc[i, "strat_fold"]) in set(folds)]
        if limit is None:
            return ids
        pos = [i for i in ids if labels.loc[i, cls] > 0][: limit // 2]
        return pos + [i for i in ids if i not in pos][: limit - len(pos)]

    sets = {}
    for name, folds, s in (("train", train_folds, seed), ("val", val_folds, seed + 1)):
        ids, p, x = _pages(str(root), cache, ids_of(folds), pages_per_record, s, net, ink, workers,
                           os.path.join(cache, "rhythm_head", f"{name}_pages.npz") if store else None)
        y = labels.loc[ids, cls].to_numpy(np.float32)
        if y.sum() == 0 or y.sum() == len(y):
            raise ValueError(f"rhythm-head: the {name} folds {list(folds)} have no {cls} positives and negatives")
        sets[name] = (ids, p[:, j], x, y)
    ids, _, x, y = sets["train"]
    ok = np.isfinite(x[:, 0])  # pages with an RR variation measured (two intervals or more)
    center, scale = np.nanmean(x[ok], axis=0), np.nanstd(x[ok], axis=0) + 1e-6
    lr = LogisticRegression(C=c, max_iter=1000)
    z = standardize(x[ok], center, scale)
    folds_cv = GroupKFold(min(5, len(set(ids[ok].tolist()))))
    cv = cross_val_predict(lr, z, y[ok], groups=ids[ok], cv=folds_cv, method="predict_proba")[:, 1]
    lr.fit(z, y[ok])
    spec = {"class": cls, "features": list(HEAD_FEATURES), "center": center.round(6).tolist(),
            "scale": scale.round(6).tolist(), "coef": lr.coef_[0].round(6).tolist(),
            "intercept": round(float(lr.intercept_[0]), 6), "net_weight": 0.5}
    head = RRHead(spec)
    ids_v, p_net, x_v, y_v = sets["val"]
    grid, p_rr_v = [], head.p_rr(x_v)
    for w in NET_WEIGHTS:
        head.net_weight = w
        grid.append({"net_weight": w, "auroc": auroc_of(head.mix(p_net, x_v, p_rr_v)[0], y_v)})
    best = max(grid, key=lambda g: (g["auroc"], -abs(g["net_weight"] - 0.5)))  # ties: the even mix
    head.net_weight = spec["net_weight"] = best["net_weight"]
    p_v = head.mix(p_net, x_v, p_rr_v)[0]
    thr = float(M.choose_thresholds(p_v[:, None], y_v[:, None])[0])
    spec["threshold"] = round(thr, 4)
    spec["fit"] = {
        "train": {"folds": list(train_folds), "records": len(set(ids.tolist())), "pages": int(len(ids)),
                  "pages_used": int(ok.sum()), "positives": int(y[ok].sum()), "seed": seed,
                  "cv5_auroc_by_record": auroc_of(cv, y[ok])},
        "val": {"folds": list(val_folds), "records": len(set(ids_v.tolist())), "pages": int(len(ids_v)),
                "positives": int(y_v.sum()), "seed": seed + 1, "net_weight_grid": grid,
                "auroc_net": auroc_of(p_net, y_v), "auroc_mixed": auroc_of(p_v, y_v),
                "auroc_rr": auroc_of(np.where(np.isfinite(p_rr_v), p_rr_v, p_net), y_v),
                "rr_measured": round(float(np.isfinite(x_v[:, 0]).mean()), 4)},
        "pages_per_record": pages_per_record, "renderers": ["random", "randomized"], "digitizer_ink": ink,
        "regularisation_c": c,
        "command": f"ecgcls rhythm-head {bundle} --class {cls} --train-folds {' '.join(map(str, train_folds))} "
                   f"--val-folds {' '.join(map(str, val_folds))} --pages-per-record {pages_per_record}"}
    print(json.dumps(spec["fit"], indent=1))
    if write:
        meta, _, path = read_bundle(bundle)
        meta["rr_head"] = spec
        path.write_text(json.dumps(meta, indent=1))
        print(f"wrote the RR head into {path}")
    return spec


def auroc_of(p: np.ndarray, y: np.ndarray) -> float:
    from ecgcls import metrics as M

    return round(M.macro_auroc(np.asarray(p, np.float32)[:, None], np.asarray(y, np.float32)[:, None]), 4)


def add_parser(sub) -> None:
    p = sub.add_parser("rhythm-head", help="fit a rhythm bundle's RR-interval head (AFIB) on training-fold pictures")
    p.add_argument("bundle", help="a bundled rhythm model name or bundle .json path")
    p.add_argument("--class", dest="cls", default="AFIB")
    p.add_argument("--train-folds", nargs="+", type=int, default=[10])
    p.add_argument("--val-folds", nargs="+", type=int, default=[8, 9], help="for the weight and threshold (never test)")
    p.add_argument("--pages-per-record", type=int, default=2)
    p.add_argument("--ink", default=DEFAULT_INK, help="the digitizer's ink (as predict.py)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--dry-run", action="store_true", help="measure only; do not write the bundle")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    fit_head(args.bundle, args.cls, tuple(args.train_folds), tuple(args.val_folds), args.pages_per_record,
             ink=args.ink, workers=args.workers, write=not args.dry_run)
    return 0
