"""End-to-end prediction speed: pictures per second through predict (digitize + classifier), all cores.

    python bench/predict.py [--n 160] [--models cnn1d patchecg pic2dx both] [--rhythm rhythm] [--repeat 1]

Renders the pack's first N records (200 DPI Letter, mixed layouts, clean and scan-like) into a temporary folder
and times ``run_predict`` (the CLI's engine: worker processes reading files and digitizing where the model
needs it, this process classifying and writing preds.csv) over them, after a warm-up run on 4 pictures in this
process. ``with_startup``: N pictures / the whole run; ``after_startup``: the pictures after the first written
batch / the time after it (run_predict's own timing: the first batch waits for the worker processes to start).
With ``--repeat R`` the timed run is repeated R times and the median run is reported beside every run's figures
(this 2-core machine's speed drifts by up to ~30 % between minutes, so one run says little about a small change).
Then each bundled network alone (batches of 16, the process's threads) so the classifier's share is visible.
Writes bench/out/<name>.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(__file__))
from _common import write_json, write_predict_pictures  # noqa: E402

from ecgcls.predict import load_bundle, run_predict  # noqa: E402
from ecgcls.predict.names import model_bundles  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=160, help="pictures")
    ap.add_argument("--name", default="predict", help="output name under bench/out")
    ap.add_argument("--models", nargs="+", default=["cnn1d", "patchecg", "pic2dx", "both"])
    ap.add_argument("--rhythm", default="rhythm", help="rhythm bundle added to every run ('' for none)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per model (the median is reported)")
    args = ap.parse_args()
    res = {"pictures": args.n, "workers": args.workers, "cpu_count": os.cpu_count(), "rhythm": args.rhythm or None,
           "timed": "run_predict over a folder of 200-DPI Letter PNGs (reading files and digitizing where the model "
                    "needs it in worker processes, classifying, writing preds.csv), after a warm-up run on 4 "
                    "pictures in this process (imports, weights, numba compilation). with_startup: N / the run; "
                    "after_startup: the pictures after the first written batch / the time after it",
           "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        pics, warm = Path(tmp) / "pictures", Path(tmp) / "warm"
        pics.mkdir()
        warm.mkdir()
        write_predict_pictures(pics, args.n, {warm: 4})
        for model in args.models:
            kw = dict(model=model, rhythm=args.rhythm or None, output=str(Path(tmp) / "preds.csv"), overwrite=True)
            run_predict(str(warm), workers=1, **kw)  # imports, weights, numba compilation in this process
            runs = []
            for _ in range(max(1, args.repeat)):
                s = run_predict(str(pics), workers=args.workers, **kw)
                n, tm = s["ok"] + s["uncertain"] + s["error"], s["timing"]
                after = (n - tm["first_batch_files"]) / max(1e-9, tm["seconds"] - tm["first_batch_s"])
                runs.append((after, n / tm["seconds"], tm, s))
            after, with_startup, tm, s = sorted(runs, key=lambda r: r[0])[len(runs) // 2]  # the median run
            res["models"][model] = {"pictures_per_s": {"after_startup": round(after, 2),
                                                       "with_startup": round(with_startup, 2)},
                                    "timing": tm, "answered": s["ok"] + s["uncertain"], "errors": s["error"],
                                    "network_only": {}}
            if len(runs) > 1:
                res["models"][model]["runs"] = [{"after_startup": round(r[0], 2), "with_startup": round(r[1], 2)}
                                                for r in runs]
                print(f"  runs (after start-up): {', '.join(f'{r[0]:.2f}' for r in runs)}; the median one:")
            print(f"predict model={model} rhythm={args.rhythm or None} ({args.workers} workers): {after:.2f} "
                  f"pictures/s after start-up, {with_startup:.2f} with it ({n} pictures in {tm['seconds']:.1f} s; "
                  f"first {tm['first_batch_files']} written after {tm['first_batch_s']:.1f} s)")
            for name in model_bundles(model):
                net = load_bundle(name)
                shape = (16, 1, *net.image_size) if net.input == "picture" else (16, 12, net.n_samples)
                x = torch.randn(shape)
                torch.set_num_threads(os.cpu_count())
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
