"""``ecgcls serve`` under load: latency per picture (p50 / p95) when 20 requests arrive at once.

    python bench/serve.py [--n 20] [--workers 1 2] [--images]

Starts the app (the same Service and FastAPI app as ``ecgcls serve``, model=both + rhythm, measurements on) on a
free local port in this process, warms it with one request, then posts ``--n`` of the bundled example pictures at
once from ``--n`` client threads over real HTTP. Latency = from sending a request to its full answer (queueing
included), per worker-thread count; ``--images`` also asks for the overlay and attribution pictures (the page's
request). Writes bench/out/serve.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import REPO, write_json  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--images", action="store_true")
    args = ap.parse_args()
    from ecgcls.serve import Service, serving

    pics = sorted((REPO / "examples").glob("*.jpg"))
    res = {"cpu_count": os.cpu_count(), "requests": args.n, "pictures": [p.name for p in pics],
           "model": "both + rhythm, measurements" + (", overlay + attribution pictures" if args.images else ""),
           "timed": "HTTP request sent -> full JSON answer received, all requests sent at once (queueing included)",
           "runs": {}}
    for w in args.workers:
        service = Service("both", "rhythm", workers=w)
        with serving(service) as base:
            res["runs"][f"{w} worker thread(s)"] = load(base + "/api/predict" + ("?images=1" if args.images else ""),
                                                        pics, args.n, w)
        service.close()
    write_json("serve" + ("_images" if args.images else ""), res)


def load(url: str, pics: list[Path], n: int, w: int) -> dict:
    """``n`` requests sent at once (after one warm-up request); latency of each, from sending to the answer."""
    import httpx

    def post(p: Path) -> tuple[float, int]:
        t = time.perf_counter()
        with httpx.Client(timeout=900) as c:
            r = c.post(url, files={"file": (p.name, p.read_bytes(), "image/jpeg")})
        return time.perf_counter() - t, r.status_code

    post(pics[0])  # warm-up: first inference, numba compilation
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as ex:
        out = list(ex.map(post, [pics[i % len(pics)] for i in range(n)]))
    wall = time.perf_counter() - t0
    lat = np.array([o[0] for o in out])
    row = {"worker_threads": w, "ok": int(sum(o[1] == 200 for o in out)), "wall_s": round(wall, 2),
           "p50_s": round(float(np.percentile(lat, 50)), 2), "p95_s": round(float(np.percentile(lat, 95)), 2),
           "max_s": round(float(lat.max()), 2), "pictures_per_s": round(n / wall, 2)}
    print(f"{w} worker thread(s): {row['ok']}/{n} answered in {wall:.1f} s; latency p50 {row['p50_s']} s, "
          f"p95 {row['p95_s']} s ({row['pictures_per_s']} pictures/s)")
    return row


if __name__ == "__main__":
    main()
