"""End-to-end prediction speed: pictures per second through predict (digitize + PatchECG), all cores.

    python bench/predict.py [--n 40] [--model patchecg]

Renders N test-fold pictures (200 DPI Letter, mixed layouts, clean and scan-like) into a temporary
folder and times ``run_predict`` over them. Writes bench/out/predict.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, os.path.dirname(__file__))
from _common import ptbxl_signals, write_json  # noqa: E402

from ecgcls.predict import run_predict  # noqa: E402
from ecgcls.render import RenderConfig, render  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--model", default="patchecg")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    ids, sigs = ptbxl_signals(500, args.n)
    layouts = ["3x4+II", "6x2", "12x1", "3x4"]
    with tempfile.TemporaryDirectory() as tmp:
        for k, (i, s) in enumerate(zip(ids, sigs)):
            arts = ("scan",) if k % 2 else ()
            page = render(s, 500, RenderConfig(layout=layouts[k % 4], artifacts=arts), rng=i)
            cv2.imwrite(str(Path(tmp) / f"{i:05d}.png"), cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR))
        run_predict(tmp, str(Path(tmp) / "warm.csv"), model=args.model, workers=1)  # numba compile, weights
        (Path(tmp) / "warm.csv").unlink()
        t = time.perf_counter()
        s = run_predict(tmp, str(Path(tmp) / "preds.csv"), model=args.model, workers=args.workers)
        dt = time.perf_counter() - t
    res = {"pictures": s["ok"] + s["error"], "ok": s["ok"], "seconds": round(dt, 2),
           "pictures_per_s": round((s["ok"] + s["error"]) / dt, 2), "workers": args.workers, "model": args.model,
           "cpu_count": os.cpu_count()}
    print(f"predict ({args.model}, {args.workers} workers): {res['pictures_per_s']:.2f} pictures/s "
          f"({res['pictures']} pictures in {dt:.1f} s, {s['ok']} ok)")
    write_json("predict", res)


if __name__ == "__main__":
    main()
