"""Digitizer accuracy and speed on rendered pages, plus a robustness pass over real pictures.

    python bench/digitize.py [--n 10] [--real]

SNR: PhysioNet Challenge 2024 definition (ecgcls.metrics.signal_snr) against the printed part of the
original PTB-XL signal, per layout x artifact preset. Speed: pictures per second, single thread.
Writes bench/out/digitize.json (and bench/out/digitize_real.csv with --real).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import OUT, REPO, ptbxl_signals, write_json  # noqa: E402

from ecgcls.digitize import DigitizeError, ImageError, digitize, load_image  # noqa: E402
from ecgcls.metrics import signal_snr  # noqa: E402
from ecgcls.render import RenderConfig, render  # noqa: E402

LAYOUTS = ["3x4", "3x4+II", "3x4+3", "6x2", "12x1", "cabrera"]
PRESETS = {"clean": (), "scan": ("scan",), "photo": ("photo",)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10, help="records per layout x preset")
    ap.add_argument("--real", action="store_true", help="also run over shared/data/real-images")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    ids, sigs = ptbxl_signals(500, 200)
    sigs, ids = sigs[-args.n:], ids[-args.n:]  # records from the end of the pack (strat_fold 10)
    res: dict = {"n_per_cell": len(sigs), "ecg_ids": ids, "snr_db": {}, "layout_accuracy": {}}
    times: list[float] = []
    cpu: dict[str, list[float]] = {p: [] for p in PRESETS}
    for preset, arts in PRESETS.items():
        for lay in LAYOUTS:
            snrs, hits = [], 0
            for k, (rid, sig) in enumerate(zip(ids, sigs)):
                page = render(sig, 500, RenderConfig(layout=lay, artifacts=arts), rng=rid)
                t, c = time.perf_counter(), time.process_time()
                try:
                    d = digitize(page.image, keep_image=False)
                except DigitizeError:
                    d = None
                times.append(time.perf_counter() - t)  # a refusal costs time too
                cpu[preset].append(time.process_time() - c)
                if d is None:
                    snrs.append(0.0)
                    continue
                ref = np.where(page.layout.coverage(500, sig.shape[1]), sig, np.nan)
                snrs.append(signal_snr(ref, d.record.signal, 500)[0])
                hits += d.layout == lay
            res["snr_db"].setdefault(preset, {})[lay] = round(float(np.mean(snrs)), 2)
            res["layout_accuracy"].setdefault(preset, {})[lay] = hits / len(sigs)
            print(f"{preset:6s} {lay:7s} SNR {np.mean(snrs):6.2f} dB   layout acc {hits / len(sigs):.2f}")
        res["snr_db"][preset]["mean"] = round(float(np.mean(list(res["snr_db"][preset].values()))), 2)
        print(f"{preset:6s} mean    SNR {res['snr_db'][preset]['mean']:6.2f} dB")
    res["pictures_per_s"] = round(1 / float(np.mean(times)), 2)
    # CPU seconds of this (single-threaded) process: pictures per second per core, even on a busy machine
    res["pictures_per_cpu_s"] = round(1 / float(np.mean(sum(cpu.values(), []))), 2)
    res["pictures_per_cpu_s_by_preset"] = {p: round(1 / float(np.mean(v)), 2) for p, v in cpu.items()}
    print(f"speed: {res['pictures_per_s']:.1f} pictures/s wall, {res['pictures_per_cpu_s']:.1f} per CPU-second "
          f"(single thread, 200 DPI Letter; by preset {res['pictures_per_cpu_s_by_preset']})")
    if args.real:
        real = Path(os.environ.get("ECGCLS_SHARED", REPO.parent / "shared")) / "data" / "real-images"
        rows = []
        for f in sorted(real.glob("ecg*")):
            try:
                d = digitize(load_image(f), name=f.name)
                rows.append({"file": f.name, "status": "ok", "layout": d.layout, "quality": round(d.quality, 3),
                             "px_per_mm": round(d.px_per_mm[0], 2), "scale": d.scale_method, "error": ""})
                cv2.imwrite(str(OUT / f"real_{f.stem}.png"), cv2.cvtColor(d.overlay(1200), cv2.COLOR_RGB2BGR))
            except (DigitizeError, ImageError) as exc:
                rows.append({"file": f.name, "status": "error", "error": str(exc)})
        with open(OUT / "digitize_real.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["file", "status", "layout", "quality", "px_per_mm", "scale", "error"])
            w.writeheader()
            w.writerows(rows)
        ok = sum(r["status"] == "ok" for r in rows)
        res["real_images"] = {"n": len(rows), "ok": ok,
                              "layouts": {k: sum(r.get("layout") == k for r in rows) for k in LAYOUTS + ["cabrera+II"]},
                              "errors": [f"{r['file']}: {r['error']}" for r in rows if r["status"] == "error"]}
        print(f"real pictures: {ok}/{len(rows)} digitized; overlays in {OUT}")
    write_json("digitize", res)


if __name__ == "__main__":
    main()
