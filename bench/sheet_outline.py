"""Which pages does the digitizer keep unwarped although a sheet outline was found, and what does it cost or gain?

    python bench/sheet_outline.py [--sets photo:160 augmented:100 randomized:120]

Own renders of validation-fold records (folds 8-9; tuning is allowed on these). Per set: pages where
``find_page_quad`` finds a non-rectangular outline, pages ``grid_beyond_outline`` then keeps unwarped, and the
mean SNR (PhysioNet 2024, refused = 0 dB, ``ink=classic``) of those pages read both ways — warped to the outline
(digitizer v9's behaviour) and as they are (v10). Writes bench/out/sheet_outline.json.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import ptbxl_fold_signals, write_json  # noqa: E402

import ecgcls.digitize.pipeline as P  # noqa: E402
from ecgcls.digitize import DigitizeError, digitize  # noqa: E402
from ecgcls.digitize.grid import find_page_quad, quad_is_rectangle  # noqa: E402
from ecgcls.metrics import signal_snr  # noqa: E402
from ecgcls.render import RenderConfig, render  # noqa: E402
from ecgcls.render.page import random_grid_rgb  # noqa: E402


def page_config(kind: str, rng: np.random.Generator) -> RenderConfig:
    if kind == "augmented":  # what image-augmenting generators do: textured paper, clipped rotation, casts, dark grids
        return RenderConfig(layout="3x4+II", dpi=150.0, artifacts=("augmented",),
                            artifact_strength=float(rng.uniform(0.5, 1.0)),
                            grid_rgb=random_grid_rgb(rng) if rng.random() < 0.5 else None)
    if kind == "randomized":
        return RenderConfig.randomized(rng, artifact_prob=0.6)
    return RenderConfig(layout=str(rng.choice(["3x4+II", "6x2", "12x1"])), dpi=float(rng.choice([100, 150, 200, 300])),
                        artifacts=(kind,))


def snr(page, sig, fs: int) -> float:
    try:
        d = digitize(page.image, ink="classic", keep_image=False)
    except DigitizeError:
        return 0.0
    ref = np.where(page.layout.coverage(fs, sig.shape[1]), sig, np.nan)
    return float(signal_snr(ref, d.record.signal, fs)[0])


def run_set(kind: str, n: int, fs: int = 500) -> dict:
    rule = P.grid_beyond_outline
    ids, sigs = ptbxl_fold_signals((8, 9), n, fs)
    outlined, kept = 0, []
    for rid, sig in zip(ids, sigs):
        rng = np.random.default_rng([int(rid), 7])
        page = render(sig, fs, page_config(kind, rng), rng=rng)
        quad = find_page_quad(page.image)
        if quad is None or quad_is_rectangle(quad):
            continue
        outlined += 1
        flat = P._upright(page.image, False, False)
        if not rule(flat.dark, quad, flat.rotation_deg):
            continue
        try:
            P.grid_beyond_outline = lambda *a, **k: False  # v9: always warp to the outline
            warped = snr(page, sig, fs)
        finally:
            P.grid_beyond_outline = rule
        kept.append({"ecg_id": int(rid), "snr_warped": round(warped, 2), "snr_unwarped": round(snr(page, sig, fs), 2)})
        print(kind, kept[-1], flush=True)
    res = {"pages": len(ids), "with_outline": outlined, "kept_unwarped": len(kept), "pages_kept": kept}
    if kept:
        res["mean_snr_warped"] = round(float(np.mean([k["snr_warped"] for k in kept])), 2)
        res["mean_snr_unwarped"] = round(float(np.mean([k["snr_unwarped"] for k in kept])), 2)
    print(kind, {k: v for k, v in res.items() if k != "pages_kept"}, flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="+", default=["photo:160", "augmented:100", "randomized:120"])
    args = ap.parse_args()
    out = {"command": "python bench/sheet_outline.py --sets " + " ".join(args.sets), "folds": [8, 9],
           "snr": "PhysioNet 2024 (±0.5 s), refused = 0 dB, ink=classic", "sets": {}}
    for spec in args.sets:
        kind, n = spec.split(":")
        out["sets"][kind] = run_set(kind, int(n))
    write_json("sheet_outline", out)


if __name__ == "__main__":
    main()
