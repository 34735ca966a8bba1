"""End-to-end prediction speed: pictures per second through predict (digitize + classifier), all cores.

    python bench/predict.py [--n 80] [--models cnn1d patchecg pic2dx both] [--rhythm rhythm]

Renders 2N test-fold pictures (200 DPI Letter, mixed layouts, clean and scan-like) into a temporary folder
and times ``run_predict`` (the CLI's engine: worker processes, reading files, digitizing where the model needs
it, classifying, writing preds.csv) over the first N and over all 2N. ``with_startup`` is 2N pictures over
the whole run (starting the worker processes included); ``after_startup`` is N over the difference of the two
runs (each run pays the same start-up, so the difference is N more pictures at full speed). Then each bundled
network alone (batches of 16, the process's threads) so the classifier's share is visible.
Writes bench/out/<name>.json.
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
    ap.add_argument("--n", type=int, default=80, help="pictures of the shorter run (the longer has twice as many)")
    ap.add_argument("--name", default="predict", help="output name under bench/out")
    ap.add_argument("--models", nargs="+", default=["cnn1d", "patchecg", "pic2dx", "both"])
    ap.add_argument("--rhythm", default="rhythm", help="rhythm bundle added to every run ('' for none)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    ids, sigs = ptbxl_signals(500, 2 * args.n)
    layouts = ["3x4+II", "6x2", "12x1", "3x4"]
    res = {"pictures": [args.n, 2 * args.n], "workers": args.workers, "cpu_count": os.cpu_count(),
           "rhythm": args.rhythm or None,
           "timed": "run_predict over a folder of 200-DPI Letter PNGs (reading files, digitizing where the model "
                    "needs it, classifying, writing preds.csv) in worker processes, after a warm-up run in this "
                    "process (imports, weights, numba compilation). with_startup: 2N pictures / the run's time, "
                    "starting the worker processes included; after_startup: N / (time for 2N - time for N)",
           "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        short, long_, warm = (Path(tmp) / d for d in ("short", "long", "warm"))
        for d in (short, long_, warm):
            d.mkdir()
        for k, (i, s) in enumerate(zip(ids, sigs)):
            arts = ("scan",) if k % 2 else ()
            page = render(s, 500, RenderConfig(layout=layouts[k % 4], artifacts=arts), rng=i)
            bgr = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)
            for d in (long_,) + ((short,) if k < args.n else ()) + ((warm,) if k < 4 else ()):
                cv2.imwrite(str(d / f"{i:05d}.png"), bgr)

        def timed(folder: Path, model: str, workers: int) -> tuple[float, dict]:
            out = Path(tmp) / "preds.csv"
            t = time.perf_counter()
            s = run_predict(str(folder), str(out), workers=workers, model=model, rhythm=args.rhythm or None)
            dt = time.perf_counter() - t
            out.unlink()
            return dt, s

        for model in args.models:
            timed(warm, model, 1)  # imports, weights, numba compilation in this process
            t_short, _ = timed(short, model, args.workers)
            t_long, s = timed(long_, model, args.workers)
            n = s["ok"] + s["uncertain"] + s["error"]
            after = args.n / max(1e-9, t_long - t_short)
            res["models"][model] = {"pictures_per_s": {"after_startup": round(after, 2),
                                                       "with_startup": round(n / t_long, 2)},
                                    "seconds": {"short": round(t_short, 2), "long": round(t_long, 2),
                                                "startup_estimate": round(max(0.0, t_short - args.n / after), 2)},
                                    "answered": s["ok"] + s["uncertain"], "errors": s["error"], "network_only": {}}
            print(f"predict model={model} rhythm={args.rhythm or None} ({args.workers} workers): {after:.2f} "
                  f"pictures/s after start-up, {n / t_long:.2f} with it ({n} pictures in {t_long:.1f} s, "
                  f"{args.n} in {t_short:.1f} s)")
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
