"""Fit the digitizer's quality model (predicted per-lead SNR) on ecgcls's own renders — never on validation
pictures from elsewhere.

    python bench/fit_quality.py --ink classic [--n-train 120] [--n-val 60]

Training pages: randomized renders (RenderConfig.randomized) and the classic presets of training-fold records
(fold 10); validation pages: the same kinds of renders of validation-fold records (8–9). A ridge regression maps
each lead's features (ecgcls.digitize.quality.FEATURES) to its true SNR (clipped to [-10, 30] dB). Thresholds
are chosen on the validation renders: ``drop_db`` = the highest predicted SNR under which at least 80 % of leads
were read worse than 0 dB (wrong numbers); ``uncertain_db`` = the predicted page SNR at which a logistic fit of
"read below 5 dB" on the prediction crosses 30 % (UNCERTAIN_P; quality.probability_crossing — the cumulative
80 % rule used before moved by up to 3 dB between refits). Page kinds rotate with the record
(``(record + page) % 5`` of KINDS), so with 2 pages per record every kind is drawn. Writes
ecgcls/weights/quality_<ink>.json (with the fit's metrics) and bench/results/quality_<ink>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import REPO, ptbxl_fold_signals  # noqa: E402

KINDS = ["randomized", "randomized", "clean", "scan", "photo"]
#: a page is 'uncertain' where it is at least this likely to have been read below 5 dB: a page wrongly passed as
#: 'ok' feeds a confident diagnosis, one wrongly flagged still gets its probabilities, so the rule leans to flagging
UNCERTAIN_P = 0.3


def _one(args):
    rid, sig, k, ink = args
    import cv2

    cv2.setNumThreads(1)
    from ecgcls.digitize import DigitizeError, digitize
    from ecgcls.geometry import CLASSIC_LAYOUTS
    from ecgcls.metrics import lead_snr
    from ecgcls.render import RenderConfig, render
    from ecgcls.types import LEADS

    rng = np.random.default_rng([rid, 11, k])
    kind = KINDS[(rid + k) % len(KINDS)]  # k % 5 alone drew only KINDS[:reps] (randomized) with 2 pages a record
    if kind == "randomized":
        cfg = RenderConfig.randomized(rng)
    else:
        cfg = RenderConfig(layout=str(rng.choice(CLASSIC_LAYOUTS)), artifacts=() if kind == "clean" else (kind,))
    page = render(sig, 500, cfg, rng=rng)
    try:
        d = digitize(page.image, keep_image=False, ink=ink, drop_bad_leads=False)
    except DigitizeError:
        return None
    ref = np.where(page.layout.coverage(500, sig.shape[1]), sig, np.nan)
    rows = []
    for lead, f in d.lead_features.items():
        i = LEADS.index(lead)
        truth = lead_snr(ref[i], d.record.signal[i], 500) if np.isfinite(ref[i]).any() else 0.0
        rows.append((list(map(float, f)), float(truth)))
    page_snr = float(np.mean([t for _, t in rows])) if rows else 0.0
    return {"rows": rows, "page_snr": page_snr, "kind": kind}


def collect(ids, sigs, ink, workers, reps):
    jobs = [(rid, sig, k, ink) for rid, sig in zip(ids, sigs) for k in range(reps)]
    with ProcessPoolExecutor(workers) as ex:
        return [r for r in ex.map(_one, jobs, chunksize=2) if r is not None]


def _threshold(pred, bad, precision=0.8):
    """Highest threshold t such that among items with pred < t at least ``precision`` are bad."""
    order = np.argsort(pred)
    p, b = np.asarray(pred)[order], np.asarray(bad)[order]
    prec = np.cumsum(b) / np.arange(1, len(b) + 1)
    ok = np.flatnonzero((prec >= precision) & (np.arange(1, len(b) + 1) >= 5))
    return float(p[ok[-1]]) if ok.size else float(p[0]) - 1.0


def _ridge(X: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, float]:
    """Ridge regression on standardized features (intercept not penalized): (coef in raw units, intercept)."""
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Z = np.c_[(X - mu) / sd, np.ones(len(X))]
    reg = ridge * np.eye(Z.shape[1])
    reg[-1, -1] = 0
    w = np.linalg.solve(Z.T @ Z + reg, Z.T @ y)
    return w[:-1] / sd, float(w[-1] - (mu / sd) @ w[:-1])


def main() -> None:
    from scipy.stats import spearmanr

    from ecgcls.digitize.quality import FEATURES, WEIGHTS_DIR, predict_lead_snr, probability_crossing

    ap = argparse.ArgumentParser()
    ap.add_argument("--ink", default="classic", choices=["classic", "net"])
    ap.add_argument("--n-train", type=int, default=120)
    ap.add_argument("--n-val", type=int, default=60)
    ap.add_argument("--reps", type=int, default=2, help="pages per record")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ridge", type=float, default=1.0)
    ap.add_argument("--reuse", action="store_true", help="refit on the pages the last run of this ink collected")
    args = ap.parse_args()
    cache = REPO / "bench" / "out" / f"quality_{args.ink}_pages.json"
    if args.reuse:  # refit on the pages a previous run collected (same digitizer), without reading them again
        train, val = (json.loads(cache.read_text())[k] for k in ("train", "val"))
    else:
        tr_ids, tr_sigs = ptbxl_fold_signals((10,), args.n_train, 500)
        va_ids, va_sigs = ptbxl_fold_signals((8, 9), args.n_val, 500)
        train = collect(tr_ids, tr_sigs, args.ink, args.workers, args.reps)
        val = collect(va_ids, va_sigs, args.ink, args.workers, args.reps)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"train": train, "val": val}))
    X = np.array([f for p in train for f, _ in p["rows"]], float)
    y = np.clip([t for p in train for _, t in p["rows"]], -10, 30)
    means = np.nanmean(X, axis=0)  # a feature that could not be measured (NaN) takes its mean, here and in assess()
    X = np.where(np.isfinite(X), X, means)
    coef, intercept = _ridge(X, y, args.ridge)
    # a lead whose page has no limb leads has no identity residual: its SNR is predicted by a model fitted
    # without that feature (what the other features say), not from an imputed average page's residual
    k = FEATURES.index("identity")
    c_wo, b_wo = _ridge(np.delete(X, k, axis=1), y, args.ridge)
    fitted = {"intercept": intercept, "coef": [float(c) for c in coef],
              "feature_means": [round(float(m), 4) for m in means],
              "without": {"identity": {"intercept": b_wo, "coef": np.insert(c_wo, k, 0.0).tolist()}}}

    def pred_rows(pages):
        return [np.array(list(predict_lead_snr({i: np.asarray(f, float) for i, (f, _) in enumerate(p["rows"])},
                                               fitted).values())) for p in pages]

    vp = pred_rows(val)
    lead_pred = np.concatenate(vp)
    lead_true = np.array([t for p in val for _, t in p["rows"]])
    page_pred = np.array([v.mean() for v in vp])
    page_true = np.array([p["page_snr"] for p in val])
    drop_db = _threshold(lead_pred, lead_true < 0.0)
    uncertain_db = probability_crossing(page_pred, page_true < 5.0, p=UNCERTAIN_P)
    dropped, uncertain = lead_pred < drop_db, page_pred < uncertain_db
    kinds = np.array([p["kind"] for p in val])
    metrics = {"n_train_pages": len(train), "n_val_pages": len(val), "n_val_leads": int(len(lead_true)),
               "spearman_lead_val": round(float(spearmanr(lead_pred, lead_true)[0]), 3),
               "spearman_page_val": round(float(spearmanr(page_pred, page_true)[0]), 3),
               "mae_lead_db_val": round(float(np.mean(np.abs(lead_pred - np.clip(lead_true, -10, 30)))), 2),
               "val_leads_dropped": int(dropped.sum()),
               "val_dropped_leads_true_snr_mean": round(float(lead_true[dropped].mean()), 2)
               if dropped.any() else None,
               "val_pages_uncertain": int(uncertain.sum()),
               "val_uncertain_pages_true_snr_mean": round(float(page_true[uncertain].mean()), 2)
               if uncertain.any() else None,
               "val_ok_pages_true_snr_mean": round(float(page_true[~uncertain].mean()), 2),
               "val_pages_by_kind": {k: int((kinds == k).sum()) for k in sorted(set(KINDS))},
               "val_pages_uncertain_by_kind": {k: int((uncertain & (kinds == k)).sum()) for k in sorted(set(KINDS))},
               "uncertain_rule": f"logistic P(page read < 5 dB) = {UNCERTAIN_P} on validation pages"}
    model = {"features": list(FEATURES), **fitted,
             "drop_db": round(drop_db, 2), "uncertain_db": round(uncertain_db, 2), "fitted": True, "ink": args.ink,
             "fit": {"command": " ".join(["python bench/fit_quality.py"] + sys.argv[1:]), "train_folds": [10],
                     "val_folds": [8, 9], "kinds": KINDS, **metrics}}
    (WEIGHTS_DIR / f"quality_{args.ink}.json").write_text(json.dumps(model, indent=1))
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"quality_{args.ink}.json").write_text(json.dumps(model, indent=1))
    print(json.dumps(model["fit"], indent=1))
    print(f"drop_db {drop_db:.2f}, uncertain_db {uncertain_db:.2f}; wrote {WEIGHTS_DIR / f'quality_{args.ink}.json'}")


if __name__ == "__main__":
    main()
