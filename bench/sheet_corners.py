"""How much the sheet corners cost a photographed page: SNR read with the outline as found on the downscaled copy
(digitizer v10), refined at full resolution (v11), and with the true page corners (an oracle).

    python bench/sheet_corners.py [--n 30] [--sets perspective photo]

Own renders of validation-fold records (folds 8-9): layout 3x4+II / 6x2 / 12x1 and 100 / 150 / 200 DPI drawn per
record, the artifact preset of the set. ``ink=classic``; PhysioNet 2024 SNR, refused = 0 dB. Also the largest corner
error (px) of the coarse and refined outlines. Writes bench/out/sheet_corners.json.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import ptbxl_fold_signals, write_json  # noqa: E402

import ecgcls.digitize.grid as G  # noqa: E402
import ecgcls.digitize.pipeline as P  # noqa: E402
from ecgcls.digitize import DigitizeError, digitize  # noqa: E402
from ecgcls.metrics import signal_snr  # noqa: E402
from ecgcls.render import RenderConfig, render  # noqa: E402


def read_snr(page, sig, fs: int, quad) -> float:
    P.find_page_quad = lambda image: quad
    try:
        d = digitize(page.image, ink="classic", keep_image=False)
    except DigitizeError:
        return 0.0
    finally:
        P.find_page_quad = G.find_page_quad
    ref = np.where(page.layout.coverage(fs, sig.shape[1]), sig, np.nan)
    return float(signal_snr(ref, d.record.signal, fs)[0])


def run_set(preset: str, n: int, fs: int = 500) -> dict:
    ids, sigs = ptbxl_fold_signals((8, 9), n, fs)
    refine = G.refine_quad
    rows = []
    for rid, sig in zip(ids, sigs):
        rng = np.random.default_rng([int(rid), 3])
        layout = str(rng.choice(["3x4+II", "6x2", "12x1"]))
        page = render(sig, fs, RenderConfig(layout=layout, dpi=float(rng.choice([100, 150, 200])), artifacts=(preset,)),
                      rng=rng)
        ph, pw = page.geometry.page_size_px
        truth = page.geometry.to_image(np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], float))
        fine = G.find_page_quad(page.image)
        try:
            G.refine_quad = lambda bright, quad, **kw: quad
            coarse = G.find_page_quad(page.image)
        finally:
            G.refine_quad = refine
        if coarse is None or fine is None:
            continue
        row = {"ecg_id": int(rid), "layout": layout,
               "corner_err_px": {"coarse": round(float(np.abs(coarse - truth).max()), 2),
                                 "refined": round(float(np.abs(fine - truth).max()), 2)},
               "snr": {k: round(read_snr(page, sig, fs, q), 2) for k, q in
                       (("coarse", coarse), ("refined", fine), ("true_corners", truth))}}
        rows.append(row)
        print(preset, row, flush=True)
    summ = {"pages": len(rows)}
    for k in ("coarse", "refined", "true_corners"):
        summ[f"mean_snr_{k}"] = round(float(np.mean([r["snr"][k] for r in rows])), 2)
    for k in ("coarse", "refined"):
        summ[f"median_corner_err_px_{k}"] = round(float(np.median([r["corner_err_px"][k] for r in rows])), 2)
    print(preset, summ, flush=True)
    return {"summary": summ, "pages": rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--sets", nargs="+", default=["perspective", "photo"])
    args = ap.parse_args()
    out = {"command": f"python bench/sheet_corners.py --n {args.n} --sets {' '.join(args.sets)}", "folds": [8, 9],
           "snr": "PhysioNet 2024 (±0.5 s), refused = 0 dB, ink=classic", "sets": {}}
    for preset in args.sets:
        out["sets"][preset] = run_set(preset, args.n)
    write_json("sheet_corners", out)


if __name__ == "__main__":
    main()
