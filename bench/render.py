"""Renderer speed, three ways (200-DPI Letter, PTB-XL pack records at 500 Hz).

    python bench/render.py [--n 60]            # in memory: render() only, one process, one thread
    python bench/render.py --encodings         # one page's files: ms to encode and bytes, per format
    python bench/render.py --cli [--n 200]     # `ecgcls render` end to end, writing files, 1 worker and all cores

``--cli`` times the command as a user runs it (a subprocess: interpreter start-up, Dask cluster start-up, reading
WFDB, rendering, encoding and writing picture + truth + mask + YOLO boxes): the wall time with start-up, and the
steady rate from the first finished page on; "ms per page per core" = workers / steady rate. Reference:
ecg-image-kit's 1.47 s per clean page measured on this machine kind (the issue's figure); target ≤ 49 ms per page
per core (≥ 30x). Writes bench/out/render[_encodings|_cli].json.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import REPO, ptbxl_signals, write_json  # noqa: E402

EIK_S_PER_PAGE = 1.47


def pages_per_s(sigs, cfg, n: int) -> float:
    from ecgcls.render import render

    render(sigs[0], 500, cfg, rng=0)  # warm the grid cache
    t = time.perf_counter()
    for i in range(n):
        render(sigs[i % len(sigs)], 500, cfg, rng=i)
    return n / (time.perf_counter() - t)


def in_memory(n: int) -> None:
    import cv2

    from ecgcls.render import RenderConfig

    cv2.setNumThreads(1)
    _, sigs = ptbxl_signals(500, 20)
    res = {"host": platform.node(), "cpu_threads": 1, "dpi": 200, "paper": "letter", "timed": "render() in memory"}
    cases = {
        "clean_3x4+II": RenderConfig(layout="3x4+II"),
        "clean_12x1": RenderConfig(layout="12x1"),
        "scan_3x4+II": RenderConfig(layout="3x4+II", artifacts=("scan",)),
        "photo_3x4+II": RenderConfig(layout="3x4+II", artifacts=("photo",)),
        "all_artifacts_3x4+II": RenderConfig(layout="3x4+II", artifacts=("all",)),
    }
    for name, cfg in cases.items():
        k = n if not cfg.artifacts else max(10, n // 4)
        v = pages_per_s(sigs, cfg, k)
        res[name] = {"pages_per_s": round(v, 2), "ms_per_page": round(1000 / v, 1), "n": k}
        print(f"{name}: {v:.1f} pages/s ({1000 / v:.1f} ms/page in memory)")
    write_json("render", res)


def encodings() -> None:
    import cv2
    import numpy as np

    from ecgcls.render import RenderConfig, render
    from ecgcls.render.page import PNG_FAST

    cv2.setNumThreads(1)
    _, sigs = ptbxl_signals(500, 1)
    page = render(sigs[0], 500, RenderConfig(layout="3x4+II"), rng=0)
    bgr = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)

    def timed(f, n=10):
        f()
        t = time.perf_counter()
        for _ in range(n):
            out = f()
        return (time.perf_counter() - t) / n * 1000, len(out)

    def npz(**arrays) -> bytes:
        bio = io.BytesIO()
        np.savez_compressed(bio, **arrays)
        return bio.getvalue()

    def sparse():
        nz = cv2.findNonZero(cv2.compare(page.mask, 0, cv2.CMP_NE)).reshape(-1, 2)
        return npz(y=nz[:, 1].astype(np.uint16), x=nz[:, 0].astype(np.uint16), bits=page.mask[nz[:, 1], nz[:, 0]])

    cases = {
        "image png level 1, adaptive filters (libpng default)": lambda: cv2.imencode(
            ".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1],
        "image png level 1, 'up' filter (ecgcls default)": lambda: cv2.imencode(
            ".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1, *PNG_FAST])[1],
        "image png level 6, adaptive filters": lambda: cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])[1],
        "image jpeg quality 90": lambda: cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1],
        "image webp lossless": lambda: cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 101])[1],
        "mask 16-bit png level 1, adaptive": lambda: cv2.imencode(".png", page.mask, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1],
        "mask 16-bit png level 1, 'up' (ecgcls default)": lambda: cv2.imencode(
            ".png", page.mask, [cv2.IMWRITE_PNG_COMPRESSION, 1, *PNG_FAST])[1],
        "mask sparse npz (ecgcls npz)": sparse,
        "truth json with every sample's x, y": lambda: json.dumps(page.to_json()).encode(),
        "truth json without points": lambda: json.dumps(page.to_json(with_points=False)).encode(),
        "points npz (float32 per segment)": lambda: npz(**{f"seg{i}": s.xy.astype(np.float32)
                                                           for i, s in enumerate(page.segments)}),
    }
    res = {"page": "3x4+II, 200 DPI Letter, clean", "size_px": list(page.image.shape[:2]), "cpu_threads": 1,
           "formats": {}}
    for name, f in cases.items():
        ms, n = timed(f)
        res["formats"][name] = {"ms": round(ms, 1), "kib": round(n / 1024, 1)}
        print(f"{name:58s} {ms:6.1f} ms  {n / 1024:8.1f} KiB")
    write_json("render_encodings", res)


def cli(n: int) -> None:
    pack = os.path.join(os.environ.get("ECGCLS_SHARED", str(REPO.parent / "shared")), "data", "ptbxl-mini.tar.xz")
    cores = os.cpu_count() or 1
    variants = {"png (lossless), npz mask, npz points (defaults)": [],
                "png (lossless), png mask, json points": ["--mask-format", "png", "--points", "json"],
                "jpeg 90, npz mask, npz points": ["--jpeg", "90"]}
    res = {"host": platform.node(), "cpu_count": cores, "pages": n, "reference_s_per_page": EIK_S_PER_PAGE,
           "timed": "`ecgcls render --n N --workers W` as a subprocess, writing picture + truth JSON + mask + YOLO "
                    "boxes per page; wall = with interpreter and Dask start-up; steady = from the first finished "
                    "page on", "runs": {}}
    for name, flags in variants.items():
        for w in sorted({1, cores}):
            with tempfile.TemporaryDirectory() as out:
                t = time.perf_counter()
                p = subprocess.run([sys.executable, "-m", "ecgcls.cli", "render", "--ptbxl", pack, "--out", out,
                                    "--n", str(n), "--workers", str(w), *flags], capture_output=True, text=True,
                                   cwd=REPO)
                wall = time.perf_counter() - t
                if p.returncode != 0:
                    raise SystemExit(f"ecgcls render failed:\n{p.stderr[-2000:]}")
                steady = float(re.search(r"steady ([\d.]+) pages/s", p.stdout).group(1))
                size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)) / n
            per_core_ms = 1000 * w / steady
            row = {"workers": w, "wall_s": round(wall, 2), "wall_ms_per_page": round(1000 * wall / n, 1),
                   "steady_pages_per_s": round(steady, 2), "steady_ms_per_page_per_core": round(per_core_ms, 1),
                   "speedup_per_core_vs_eik": round(1000 * EIK_S_PER_PAGE / per_core_ms, 1),
                   "bytes_per_page_kib": round(size / 1024, 1)}
            res["runs"][f"{name} | {w} worker(s)"] = row
            print(f"{name:52s} {w} worker(s): wall {wall:5.1f} s ({row['wall_ms_per_page']} ms/page), steady "
                  f"{steady:5.1f} pages/s = {per_core_ms:5.1f} ms/page/core ({row['speedup_per_core_vs_eik']}x "
                  f"ecg-image-kit per core), {size / 1024:.0f} KiB/page")
    write_json("render_cli", res)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--cli", action="store_true")
    ap.add_argument("--encodings", action="store_true")
    args = ap.parse_args()
    if args.cli:
        cli(args.n or 200)
    elif args.encodings:
        encodings()
    else:
        in_memory(args.n or 60)


if __name__ == "__main__":
    main()
