"""Renderer speed: pictures per second, single process, 200 DPI Letter, masks and truth included.

    python bench/render.py [--n 60]

Prints one line per figure and writes bench/out/render.json. Reference: ecg-image-kit takes about
0.7 s for one clean page (target here: >= 40 pages/s per core clean).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import ptbxl_signals, write_json  # noqa: E402

from ecgcls.render import RenderConfig, render  # noqa: E402


def pages_per_s(sigs, cfg: RenderConfig, n: int) -> float:
    render(sigs[0], 500, cfg, rng=0)  # warm the grid cache
    t = time.perf_counter()
    for i in range(n):
        render(sigs[i % len(sigs)], 500, cfg, rng=i)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60)
    args = ap.parse_args()
    import cv2
    cv2.setNumThreads(1)  # single core
    _, sigs = ptbxl_signals(500, 20)
    res = {"host": platform.node(), "cpu_threads": 1, "dpi": 200, "paper": "letter"}
    cases = {
        "clean_3x4+II": RenderConfig(layout="3x4+II"),
        "clean_12x1": RenderConfig(layout="12x1"),
        "scan_3x4+II": RenderConfig(layout="3x4+II", artifacts=("scan",)),
        "photo_3x4+II": RenderConfig(layout="3x4+II", artifacts=("photo",)),
        "all_artifacts_3x4+II": RenderConfig(layout="3x4+II", artifacts=("all",)),
    }
    for name, cfg in cases.items():
        n = args.n if not cfg.artifacts else max(10, args.n // 4)
        v = pages_per_s(sigs, cfg, n)
        res[name] = {"pages_per_s": round(v, 2), "ms_per_page": round(1000 / v, 1), "n": n,
                     "speedup_vs_0.7s": round(v * 0.7, 1)}
        print(f"{name}: {v:.1f} pages/s ({1000 / v:.1f} ms/page, {v * 0.7:.0f}x ecg-image-kit's 0.7 s)")
    write_json("render", res)


if __name__ == "__main__":
    main()
