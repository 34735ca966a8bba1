"""``ecgcls render``: draw PTB-XL records as paper-ECG pictures with truth files and a manifest."""
from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np

from ecgcls.geometry import LAYOUTS
from ecgcls.render.artifacts import ARTIFACTS, PRESETS, expand
from ecgcls.render.page import render

MANIFEST_COLUMNS = ["stem", "ecg_id", "layout", "paper", "dpi", "speed_mm_s", "gain_mm_mv", "grid", "artifacts",
                    "seed", "image", "truth", "mask", "yolo", "points"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render PTB-XL records as paper-ECG pictures with exact truth",
                       description=__doc__)
    p.add_argument("--ptbxl", required=True, help="PTB-XL root (folder with ptbxl_database.csv) or a .tar.xz pack")
    p.add_argument("--out", required=True, help="output folder (created; existing pictures are kept)")
    p.add_argument("--n", type=int, default=10, help="number of records (first N ecg_ids, or --ids)")
    p.add_argument("--ids", type=int, nargs="*", help="explicit ecg_ids")
    p.add_argument("--fs", type=int, default=500, choices=[100, 500])
    p.add_argument("--layout", nargs="*", default=None,
                   help=f"layouts to cycle through ({', '.join(LAYOUTS)}); 'random' draws everything at random "
                        "(ecgcls's look), 'randomized' the domain-randomized look of other generators")
    p.add_argument("--artifacts", nargs="*", default=[],
                   help=f"artifacts or presets: {', '.join([*ARTIFACTS, *PRESETS])}")
    p.add_argument("--dpi", type=float, default=200)
    p.add_argument("--paper", default="letter", choices=["letter", "a4"])
    p.add_argument("--speed", type=float, default=25.0)
    p.add_argument("--gain", type=float, default=10.0)
    p.add_argument("--grid", default="red")
    p.add_argument("--jpeg", type=int, default=None, help="save pictures as JPEG at this quality (default PNG)")
    p.add_argument("--png-level", type=int, default=1, help="PNG zlib level (0-9; 1: fast)")
    p.add_argument("--mask-format", default="npz", choices=["npz", "png"],
                   help="sparse npz (default: 7 ms, 28 KiB a page) or 16-bit PNG (12 ms, 65 KiB); "
                        "ecgcls.render.load_mask reads both")
    p.add_argument("--points", default="npz", choices=["npz", "json"],
                   help="every sample's (x, y) in a compact <stem>_points.npz (default: 3 ms) or inside the truth "
                        "JSON (30 ms a page)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scheduler", default=None, help="Dask scheduler (tcp://host:port); default: local, every core")
    p.add_argument("--workers", type=int, default=None, help="local cluster size (default: every core)")
    p.add_argument("--chunk", type=int, default=8, help="pages per Dask task")
    p.add_argument("--cache-dir", default="~/.cache/ecgcls")
    p.set_defaults(func=run)


def render_chunk(spec: dict, jobs: list[tuple[int, int]]) -> list[dict]:
    """Render records ``jobs`` = [(ecg_id, k), ...] into ``spec['out']``: one manifest row (or error row) each.
    Chunks of a few pages per task keep the scheduler's per-task cost small next to a page's ~60 ms."""
    from ecgcls.data.pagestore import worker_signals
    from ecgcls.export.engine import error_row
    from ecgcls.export.record import page_config

    rows = []
    for ecg_id, k in jobs:
        try:
            rng = np.random.default_rng([spec["seed"], ecg_id])
            cfg = page_config(spec["layouts"], spec["artifacts"], k, rng, **spec["render"])
            signal = worker_signals(spec["root"], spec["cache_dir"], spec["fs"]).get(ecg_id)
            page = render(signal, spec["fs"], cfg, rng=rng, record_id=str(ecg_id))
            stem = f"{ecg_id:05d}_{cfg.layout.replace('+', 'p')}"
            paths = page.save(spec["out"], stem, jpeg_quality=spec["jpeg"], png_level=spec["png_level"],
                              mask_format=spec["mask_format"], points=spec["points"])
            rows.append({"id": ecg_id, "status": "ok", "stem": stem, "ecg_id": ecg_id, "layout": page.layout.name,
                         "paper": cfg.paper, "dpi": cfg.dpi, "speed_mm_s": cfg.speed_mm_s,
                         "gain_mm_mv": cfg.gain_mm_mv, "grid": cfg.grid, "artifacts": ";".join(cfg.artifacts),
                         "seed": spec["seed"], **{x: paths.get(x, "") for x in ("image", "truth", "mask", "yolo",
                                                                                 "points")}})
        except Exception as exc:  # noqa: BLE001 — one page's failure is its error row
            rows.append(error_row(ecg_id, exc))
    return rows


def run(args: argparse.Namespace) -> int:
    """Render on Dask (every core, or ``--scheduler``; signals from the decoded-signal cache, which a remote
    cluster's workers must be able to read at the same path): each file is written whole (temporary name, then
    renamed); records already in the manifest with their files present are skipped; ``manifest.csv`` is
    rewritten at the end with every page (old and new)."""
    from ecgcls.data import SignalStore, load_database, resolve_root
    from ecgcls.export.engine import run_tasks

    src = Path(args.ptbxl).expanduser()
    root = resolve_root(archive=src, cache_dir=args.cache_dir) if src.is_file() else resolve_root(root=src)
    db = load_database(root)
    ids = args.ids or [int(i) for i in db.index[: args.n]]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    rows: dict[int, dict] = {}
    if manifest.exists():
        with open(manifest, newline="") as fh:
            for r in csv.DictReader(fh):
                if all(not r.get(k) or Path(r[k]).is_file() for k in ("image", "truth", "mask")):
                    rows[int(r["ecg_id"])] = r
    todo = [(i, k) for k, i in enumerate(ids) if i not in rows]
    SignalStore(root, args.fs, args.cache_dir)  # decoded once into the cache (a no-op when it exists)
    spec = {"out": str(out), "root": str(root), "fs": args.fs, "seed": args.seed, "cache_dir": args.cache_dir,
            "layouts": list(args.layout or ["3x4+II"]),
            "artifacts": list(expand(args.artifacts)),
            "render": {} if args.layout in (["random"], ["randomized"]) else dict(
                paper=args.paper, dpi=args.dpi, speed_mm_s=args.speed, gain_mm_mv=args.gain, grid=args.grid),
            "jpeg": args.jpeg, "png_level": args.png_level, "mask_format": args.mask_format, "points": args.points}
    errors: list[str] = []

    def on_row(r: dict) -> None:
        if r["status"] == "ok":
            rows[int(r["ecg_id"])] = r
        else:
            errors.append(f"{r['id']}: {r['error']}")

    chunks = [todo[j:j + args.chunk] for j in range(0, len(todo), args.chunk)]
    res = run_tasks(render_chunk, ((c[0][0], spec, c) for c in chunks), on_row, len(todo), args.scheduler,
                    args.workers, "rendering", window=2)
    tmp = manifest.with_name(".manifest.csv.tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for i in sorted(rows):
            w.writerow(rows[i])
    os.replace(tmp, manifest)
    for e in errors:
        print(f"error: {e}")
    steady = res["steady_per_s"]
    rate = (f"; steady {steady:.1f} pages/s = {1000 * res['workers'] / steady:.0f} ms per page per worker, writing "
            "files included" if steady == steady else "")  # (no steady rate when every page came in one batch)
    print(f"wrote {res['ok']} pages to {out} ({len(ids) - len(todo)} already there, {res['error']} errors) in "
          f"{res['seconds']:.1f} s on {res['workers']} workers, start-up included{rate}; manifest {manifest}")
    return 0 if not errors else 1
