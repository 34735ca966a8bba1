"""``ecgcls render``: draw PTB-XL records as paper-ECG pictures with truth files and a manifest."""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ecgcls.geometry import LAYOUTS
from ecgcls.render.artifacts import ARTIFACTS, PRESETS, expand
from ecgcls.render.page import RenderConfig, render

MANIFEST_COLUMNS = ["stem", "ecg_id", "layout", "paper", "dpi", "speed_mm_s", "gain_mm_mv", "grid", "artifacts",
                    "seed", "image", "truth", "mask", "yolo"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render PTB-XL records as paper-ECG pictures with exact truth",
                       description=__doc__)
    p.add_argument("--ptbxl", required=True, help="PTB-XL root (folder with ptbxl_database.csv) or a .tar.xz pack")
    p.add_argument("--out", required=True, help="output folder (created; existing pictures are kept)")
    p.add_argument("--n", type=int, default=10, help="number of records (first N ecg_ids, or --ids)")
    p.add_argument("--ids", type=int, nargs="*", help="explicit ecg_ids")
    p.add_argument("--fs", type=int, default=500, choices=[100, 500])
    p.add_argument("--layout", nargs="*", default=None,
                   help=f"layouts to cycle through ({', '.join(LAYOUTS)}); 'random' draws everything at random")
    p.add_argument("--artifacts", nargs="*", default=[],
                   help=f"artifacts or presets: {', '.join([*ARTIFACTS, *PRESETS])}")
    p.add_argument("--dpi", type=float, default=200)
    p.add_argument("--paper", default="letter", choices=["letter", "a4"])
    p.add_argument("--speed", type=float, default=25.0)
    p.add_argument("--gain", type=float, default=10.0)
    p.add_argument("--grid", default="red")
    p.add_argument("--jpeg", type=int, default=None, help="save pictures as JPEG at this quality (default PNG)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default="~/.cache/ecgcls")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ecgcls.data import SignalStore, load_database, resolve_root

    src = Path(args.ptbxl).expanduser()
    root = resolve_root(archive=src, cache_dir=args.cache_dir) if src.is_file() else resolve_root(root=src)
    arts = expand(args.artifacts)
    ids = args.ids or [int(i) for i in load_database(root).index[: args.n]]
    store = SignalStore(root, args.fs, args.cache_dir, ids=None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    new = not manifest.exists()
    layouts = args.layout or ["3x4+II"]
    with open(manifest, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        if new:
            w.writeheader()
        for k, ecg_id in enumerate(tqdm(ids, desc="rendering", unit="page")):
            rng = np.random.default_rng([args.seed, ecg_id])
            if layouts == ["random"]:
                cfg = RenderConfig.random(rng, artifacts=arts or None, artifact_prob=0.5 if arts else 0.0)
            else:
                cfg = RenderConfig(layout=layouts[k % len(layouts)], paper=args.paper, dpi=args.dpi,
                                   speed_mm_s=args.speed, gain_mm_mv=args.gain, grid=args.grid, artifacts=arts)
            page = render(store.get(ecg_id), args.fs, cfg, rng=rng, record_id=str(ecg_id))
            stem = f"{ecg_id:05d}_{cfg.layout.replace('+', 'p')}"
            paths = page.save(out, stem, jpeg_quality=args.jpeg)
            w.writerow({"stem": stem, "ecg_id": ecg_id, "layout": page.layout.name, "paper": cfg.paper,
                        "dpi": cfg.dpi, "speed_mm_s": cfg.speed_mm_s, "gain_mm_mv": cfg.gain_mm_mv, "grid": cfg.grid,
                        "artifacts": ";".join(cfg.artifacts), "seed": args.seed, **paths})
            fh.flush()
    print(f"wrote {len(ids)} pages to {out} (manifest {manifest})")
    return 0
