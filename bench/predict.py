"""End-to-end prediction speed: pictures per second through predict (digitize + classifier), all cores.

    python bench/predict.py [--n 40] [--models cnn1d patchecg pic2dx both] [--rhythm rhythm]

Renders N test-fold pictures (200 DPI Letter, mixed layouts, clean and scan-like) into a temporary
folder and times ``run_predict`` over them; then times each bundled network alone (batches of 16, the
process's threads) so the classifier's share is visible (e.g. the Pic2Dx three-CNN ensemble).
Writes bench/out/predict.json.
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
    ap.add_argument("--n", type=int, default=160, help="pictures (more pictures: the pool's start-up weighs less)")
    ap.add_argument("--name", default="predict", help="output name under bench/out")
    ap.add_argument("--models", nargs="+", default=["cnn1d", "patchecg", "pic2dx", "both"])
    ap.add_argument("--rhythm", default="rhythm", help="rhythm bundle added to every run ('' for none)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    ids, sigs = ptbxl_signals(500, args.n)
    layouts = ["3x4+II", "6x2", "12x1", "3x4"]
    res = {"pictures": args.n, "workers": args.workers, "cpu_count": os.cpu_count(), "rhythm": args.rhythm or None,
           "timed": "run_predict over a folder of 200-DPI Letter PNGs (starting its worker processes, reading "
                    "files, digitizing where the model needs it, classifying, writing preds.csv), after a warm-up "
                    "run in the same process (interpreter start-up, imports, first weights load and numba "
                    "compilation not counted)", "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (i, s) in enumerate(zip(ids, sigs)):
            arts = ("scan",) if k % 2 else ()
            page = render(s, 500, RenderConfig(layout=layouts[k % 4], artifacts=arts), rng=i)
            cv2.imwrite(str(Path(tmp) / f"{i:05d}.png"), cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR))
        for model in args.models:
            kw = dict(model=model, rhythm=args.rhythm or None)
            run_predict(tmp, str(Path(tmp) / "warm.csv"), workers=1, **kw)  # numba compile, weights
            (Path(tmp) / "warm.csv").unlink()
            t = time.perf_counter()
            s = run_predict(tmp, str(Path(tmp) / "preds.csv"), workers=args.workers, **kw)
            dt = time.perf_counter() - t
            (Path(tmp) / "preds.csv").unlink()
            n = s["ok"] + s["uncertain"] + s["error"]
            res["models"][model] = {"pictures_per_s": round(n / dt, 2), "seconds": round(dt, 2),
                                    "answered": s["ok"] + s["uncertain"], "network_only": {}}
            print(f"predict model={model} rhythm={args.rhythm or None} ({args.workers} workers): "
                  f"{n / dt:.2f} pictures/s ({n} pictures in {dt:.1f} s)")
            for name in (("patchecg", "pic2dx") if model == "both" else (model,)):
                net = load_bundle(name)
                shape = (16, 1, *net.image_size) if net.input == "picture" else (16, 12, net.n_samples)
                x = torch.randn(shape)
                net(x)  # warm-up
                t = time.perf_counter()
                for _ in range(5):
                    net(x)
                pps = 5 * shape[0] / (time.perf_counter() - t)
                res["models"][model]["network_only"][name] = {"pictures_per_s": round(pps, 1), "input": list(shape[1:]),
                                                              "torch_threads": torch.get_num_threads()}
                print(f"  {name} network alone: {pps:.1f} pictures/s (input {tuple(shape[1:])})")
    write_json(args.name, res)


if __name__ == "__main__":
    main()
