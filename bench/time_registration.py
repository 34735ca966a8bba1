"""Where the digitizer's remaining error on clean pages comes from: time registration and amplitude at the extremes.

    python bench/time_registration.py [--n 4] [--layouts 3x4 6x2] [--dpi 100 150 200 300] [--workers 2]

On clean own renders of validation-fold records (8–9), per resolution:
- grid pitch error (relative, x and y) and the segments' time-origin error (px, digitized x0 − true x0 of every
  printed segment; positive = placed late on the page, so the reading comes out early);
- the official SNR (PhysioNet 2024: integer-sample shift within ±0.5 s and an offset) and what a sub-sample shift,
  then also a gain, would add (each read lead fitted to its truth: shift −5…5 samples in 0.25 steps, gain 0.9–1.15);
- the share of the error power on steep samples (> 10 mV/s, i.e. QRS) and the median error at prominent extremes
  (R and S peaks, mV; negative = read short).
Writes bench/out/time_registration.json.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from ecgcls.data.pagestore import worker_pool  # noqa: E402
from _common import ptbxl_fold_signals, write_json  # noqa: E402


def _snr(r: np.ndarray, e: np.ndarray) -> float:
    ok = np.isfinite(r) & np.isfinite(e)
    off = np.mean(r[ok] - e[ok])
    return float(10 * np.log10(np.sum(r[ok] ** 2) / np.sum((r[ok] - e[ok] - off) ** 2)))


def _shifted(e: np.ndarray, shift: float) -> np.ndarray:
    t = np.arange(len(e), dtype=float)
    ok = np.isfinite(e)
    return np.interp(t - shift, t[ok], e[ok], left=np.nan, right=np.nan)


def _one(args) -> dict:
    rid, sig, layout, dpi = args
    import cv2
    from scipy.signal import find_peaks

    cv2.setNumThreads(1)
    from ecgcls.digitize import DigitizeError, digitize
    from ecgcls.metrics import lead_snr
    from ecgcls.render import RenderConfig, render

    page = render(sig, 500, RenderConfig(layout=layout, dpi=dpi), rng=rid)
    try:
        d = digitize(page.image, keep_image=False, ink="classic")
    except DigitizeError as exc:
        return {"id": rid, "layout": layout, "dpi": dpi, "error": str(exc)}
    g = page.geometry
    ref = np.where(page.layout.coverage(500, sig.shape[1]), sig, np.nan).astype(float)
    est = d.record.signal.astype(float)
    leads = []
    for r, e in zip(ref, est):
        if not np.isfinite(r).any() or np.isfinite(e).sum() < 50:
            continue
        official = lead_snr(r, e, 500)
        frac = max((_snr(r, _shifted(e, s)), s) for s in np.arange(-5, 5.01, 0.25))
        both = max(_snr(r, _shifted(e, frac[1]) * k) for k in np.arange(0.9, 1.151, 0.01))
        es = _shifted(e, frac[1])
        ok = np.isfinite(r) & np.isfinite(es)
        err = r - es - np.mean(r[ok] - es[ok])
        steep = np.abs(np.gradient(np.nan_to_num(r))) * 500 > 10
        peaks = []
        base = np.nanmedian(r[ok] - es[ok])
        for sgn in (1, -1):
            rr = np.where(ok, r, np.nanmedian(r))
            for p in find_peaks(sgn * rr, prominence=0.5)[0]:
                w = slice(max(0, p - 5), p + 6)
                if np.isfinite(es[w]).all():
                    peaks.append(float(sgn * (np.max(sgn * (es[w] + base)) - r[p])))
        leads.append({"snr": official, "snr_subsample": frac[0], "snr_subsample_gain": both, "shift": float(frac[1]),
                      "steep_share": float(np.sum(err[ok & steep] ** 2) / max(np.sum(err[ok] ** 2), 1e-12)),
                      "peaks": peaks})
    x0 = [p["x0"] - float(g.t_to_x_px(p["t0"])) for p in d.placement]
    return {"id": rid, "layout": layout, "dpi": dpi, "pitch_err": [d.px_per_mm[0] / g.px_per_mm - 1,
                                                                    d.px_per_mm[1] / g.px_per_mm - 1],
            "x0_err_px": x0, "leads": leads}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--layouts", nargs="+", default=["3x4", "6x2"])
    ap.add_argument("--dpi", nargs="+", type=float, default=[100.0, 150.0, 200.0, 300.0])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    ids, sigs = ptbxl_fold_signals((8, 9), n=args.n)
    jobs = [(int(r), s, lay, dpi) for r, s in zip(ids, sigs) for lay in args.layouts for dpi in args.dpi]
    with worker_pool(args.workers) as ex:
        rows = list(ex.map(_one, jobs))
    out = {"n_records": args.n, "layouts": args.layouts, "ecg_ids": [int(i) for i in ids], "by_dpi": {}}
    for dpi in args.dpi:
        rs = [r for r in rows if r["dpi"] == dpi and "leads" in r]
        leads = [lead for r in rs for lead in r["leads"]]
        peaks = [p for lead in leads for p in lead["peaks"]]
        s = {"pages": len(rs), "refused": sum(r["dpi"] == dpi and "error" in r for r in rows),
             "pitch_err_abs_median": float(np.median([abs(v) for r in rs for v in r["pitch_err"]])),
             "x0_err_px_median": float(np.median([v for r in rs for v in r["x0_err_px"]])),
             "snr_db": float(np.mean([lead["snr"] for lead in leads])),
             "snr_db_subsample_shift": float(np.mean([lead["snr_subsample"] for lead in leads])),
             "snr_db_subsample_shift_and_gain": float(np.mean([lead["snr_subsample_gain"] for lead in leads])),
             "shift_samples_median": float(np.median([lead["shift"] for lead in leads])),
             "error_power_share_steep": float(np.median([lead["steep_share"] for lead in leads])),
             "extreme_error_mv_median": float(np.median(peaks)) if peaks else None, "extremes": len(peaks)}
        out["by_dpi"][str(int(dpi))] = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in s.items()}
        print(f"{int(dpi):4d} DPI  pitch err {s['pitch_err_abs_median']:.1e}  x0 err {s['x0_err_px_median']:+.2f} px  "
              f"SNR {s['snr_db']:.2f} / sub-sample shift {s['snr_db_subsample_shift']:.2f} / + gain "
              f"{s['snr_db_subsample_shift_and_gain']:.2f} dB  shift {s['shift_samples_median']:+.2f} samples  "
              f"steep share {s['error_power_share_steep']:.2f}  extremes {s['extreme_error_mv_median']:+.3f} mV")
    write_json("time_registration", out)


if __name__ == "__main__":
    main()
