"""End-to-end prediction speed: pictures per second through predict (digitize + classifier), all cores.

    python bench/predict.py [--n 40] [--model patchecg|cnn1d|pic2dx|both]

Renders N test-fold pictures (200 DPI Letter, mixed layouts, clean and scan-like) into a temporary
folder and times ``run_predict`` over them; then times each bundled network alone (batches of 16, the
process's threads) so the classifier's share is visible (e.g. the Pic2Dx three-CNN ensemble).
Writes bench/out/predict.json (bench/out/predict_<model>.json for a model other than patchecg).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

sys.path.insert(0, os.path.dirname(__file__))
from _common import ptbxl_signals, write_json  # noqa: E402

from ecgcls.predict import load_bundle, run_predict  # noqa: E402
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
           "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "network_only": {}}
    print(f"predict ({args.model}, {args.workers} workers): {res['pictures_per_s']:.2f} pictures/s "
          f"({res['pictures']} pictures in {dt:.1f} s, {s['ok']} ok)")
    for name in (("patchecg", "pic2dx") if args.model == "both" else (args.model,)):
        net = load_bundle(name)
        shape = (16, 1, *net.image_size) if net.input == "picture" else (16, 12, net.n_samples)
        x = torch.randn(shape)
        net(x)  # warm-up
        t = time.perf_counter()
        for _ in range(5):
            net(x)
        pps = 5 * shape[0] / (time.perf_counter() - t)
        res["network_only"][name] = {"pictures_per_s": round(pps, 1), "input": list(shape[1:])}
        print(f"  {name} network alone: {pps:.1f} pictures/s (input {tuple(shape[1:])}, "
              f"{torch.get_num_threads()} threads)")
    write_json("predict" if args.model == "patchecg" else f"predict_{args.model}", res)


if __name__ == "__main__":
    main()
