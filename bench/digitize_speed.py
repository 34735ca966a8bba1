"""How many pictures per second ``digitize()`` reads on all cores, for each ink method and network runtime.

    python bench/digitize_speed.py [--n 4] [--sets clean photo randomized] [--workers 2]
                                   [--configs classic net:torch net:onnx auto:torch auto:onnx]

Timed: ``digitize(image, keep_image=False, ink=...)`` on pictures already in memory (no file decoding, no
classifier, no writing), in ``--workers`` spawned processes of one thread each (as ``predict.py`` runs it), after
each process read one warm-up picture (imports, weights, onnxruntime session, numba compilation; the network is
loaded there even where ``ink=auto`` did not need it on that picture). Each process
renders its share of the pictures first (untimed), then all wait at one barrier and read; the rate is the pictures
over the time from the barrier to the last process's end; each configuration is timed ``--repeat`` times, interleaved
with the others (this machine's speed drifts by ~20 % over minutes), and the best and median runs are reported. Pictures: ecgcls's own renders of the first N records of
the validation folds (8–9): 'clean' and 'photo' draw six classic layouts at 200 DPI, 'randomized' seven layout
groups with :meth:`RenderConfig.randomized` (75–600 DPI). Writes bench/out/<name>.json.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time


sys.path.insert(0, os.path.dirname(__file__))
from _common import ptbxl_fold_signals, write_json  # noqa: E402
from digitize import _layouts, render_page  # noqa: E402


def _worker(jobs, ink, runtime, barrier, queue):
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from ecgcls.digitize import DigitizeError, digitize, pipeline

    net = pipeline.NetInk(runtime=runtime)
    images = [render_page(*j).image for j in jobs]
    if images:
        try:
            digitize(images[0], keep_image=False, ink=ink, net=net)  # warm-up
        except DigitizeError:
            pass
        if ink != "classic":  # ink=auto may not have needed the network on that page: load it all the same
            from ecgcls.digitize.segment import trace_probability

            trace_probability(images[0][:64, :64].copy(), runtime=runtime)
    barrier.wait()
    t0, c0, refused = time.time(), time.process_time(), 0
    for im in images:
        try:
            digitize(im, keep_image=False, ink=ink, net=net)
        except DigitizeError:
            refused += 1
    queue.put({"start": t0, "end": time.time(), "cpu_s": time.process_time() - c0, "n": len(images),
               "refused": refused})


def time_config(jobs, ink, runtime, workers) -> dict:
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(jobs[k::workers], ink, runtime, barrier, queue)) for k in range(workers)]
    for p in procs:
        p.start()
    res = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    wall = max(r["end"] for r in res) - min(r["start"] for r in res)
    n, cpu = sum(r["n"] for r in res), sum(r["cpu_s"] for r in res)
    return {"pictures": n, "wall_s": round(wall, 2), "pictures_per_s": round(n / wall, 2),
            "pictures_per_cpu_s": round(n / cpu, 2), "refused": sum(r["refused"] for r in res)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4, help="records per layout")
    ap.add_argument("--sets", nargs="+", default=["clean", "photo", "randomized"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--configs", nargs="+", default=["classic", "net:torch", "net:onnx", "auto:torch", "auto:onnx"],
                    help="ink[:runtime of the trace network]")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--name", default="digitize_speed")
    args = ap.parse_args()
    ids, sigs = ptbxl_fold_signals((8, 9), args.n)
    out = {"command": "python bench/digitize_speed.py " + " ".join(sys.argv[1:]), "workers": args.workers,
           "cpu_count": os.cpu_count(), "timed": __doc__.split("\n\n")[2].replace("\n", " "), "sets": {}}
    for s in args.sets:
        jobs = [(rid, sig, s, lay) for lay in _layouts(s) for rid, sig in zip(ids, sigs)]
        runs: dict[str, list] = {c: [] for c in args.configs}
        for _ in range(args.repeat):
            for c in args.configs:
                ink, _, runtime = c.partition(":")
                runs[c].append(time_config(jobs, ink, runtime or "auto", args.workers))
        for c, rs in runs.items():
            rates = sorted(r["pictures_per_s"] for r in rs)
            r = {"pictures_per_s": {"best": rates[-1], "median": rates[len(rates) // 2]},
                 "pictures_per_cpu_s": {"best": max(x["pictures_per_cpu_s"] for x in rs),
                                        "median": sorted(x["pictures_per_cpu_s"] for x in rs)[len(rs) // 2]},
                 "pictures": rs[0]["pictures"], "refused": rs[0]["refused"], "runs": rs}
            out["sets"].setdefault(s, {})[c] = r
            print(f"{s:10s} {c:11s} {rates[-1]:5.2f} pictures/s on {args.workers} processes, best of {len(rs)} "
                  f"(median {r['pictures_per_s']['median']:.2f}; {r['pictures_per_cpu_s']['best']} per CPU-second; "
                  f"{r['pictures']} pictures, {r['refused']} refused)", flush=True)
    write_json(args.name, out)


if __name__ == "__main__":
    main()
