"""Digitizer on pictures another generator drew (ecg-image-kit validation pages) — validation only.

    python bench/digitize_foreign.py [--eik ../shared/data/eik-validation] [--ink classic net] [--n N]
                                     [--workers 2] [--overlays]

Per set (clean / distorted / layouts by layout): mean SNR (PhysioNet 2024 definition, ±0.5 s shift,
refused pages count 0 dB), refusals, status counts, layout read, and pictures per CPU-second (the
digitize() call only, image decoding excluded). Writes bench/out/digitize_foreign.json and, with
--overlays, a PNG overlay per page into bench/out/foreign/. Never tune on these pictures.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from ecgcls.data.pagestore import worker_pool  # noqa: E402
from _common import OUT, REPO, write_json  # noqa: E402


def _one(args):
    jpath, root, ink, overlays = args
    import cv2

    cv2.setNumThreads(1)
    import torch

    torch.set_num_threads(1)  # one core per worker process: pictures per CPU-second stay per core
    from ecgcls.digitize import DigitizeError, digitize, load_image
    from ecgcls.digitize.foreign import load_eik_page
    from ecgcls.metrics import signal_snr

    page = load_eik_page(jpath, root, fs=500.0)
    img = load_image(page.image_path)
    c = time.process_time()
    try:
        d = digitize(img, fs=500.0, name=page.image_path.name, keep_image=overlays, ink=ink)
        err = ""
    except DigitizeError as exc:
        d, err = None, str(exc)
    cpu = time.process_time() - c
    row = {"file": f"{page.image_path.parent.name}/{page.image_path.name}", "set": page.image_path.parent.name,
           "layout_true": page.layout, "cpu_s": cpu, "error": err}
    if d is None:
        row.update(status="error", snr=0.0, layout="", quality=0.0)
        return row
    est = d.record.signal
    n = min(est.shape[1], page.ref.shape[1])
    snr, per = signal_snr(page.ref[:, :n], est[:, :n], 500.0)
    row.update(status=getattr(d, "status", "ok"), snr=float(snr), layout=d.layout_detail, quality=float(d.quality),
               per_lead=[None if not np.isfinite(v) else round(float(v), 2) for v in per],
               px_per_mm=round(d.px_per_mm[0], 3), scale=d.scale_method)
    if overlays:
        out = OUT / "foreign"
        out.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / f"{ink}_{page.image_path.parent.name}_{page.image_path.stem}.png"),
                    cv2.cvtColor(d.overlay(1400), cv2.COLOR_RGB2BGR))
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    shared = Path(os.environ.get("ECGCLS_SHARED", REPO.parent / "shared"))
    ap.add_argument("--eik", default=str(shared / "data" / "eik-validation"))
    ap.add_argument("--ink", nargs="+", default=["classic"], choices=["classic", "net", "auto"])
    ap.add_argument("--n", type=int, default=0, help="pictures per set (0 = all)")
    ap.add_argument("--sets", nargs="*", default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--overlays", action="store_true")
    ap.add_argument("--name", default="digitize_foreign")
    args = ap.parse_args()
    from ecgcls.data import unpack_archive
    from ecgcls.digitize.foreign import eik_pages

    root = unpack_archive(shared / "data" / "ptbxl-mini.tar.xz", os.environ.get("ECGCLS_CACHE", "~/.cache/ecgcls"))
    pages = eik_pages(args.eik, tuple(args.sets) if args.sets else None)
    if args.n:
        by = defaultdict(list)
        for p in pages:
            by[(p.parent.name, p.stem.split("_", 1)[1])].append(p)
        pages = [p for v in by.values() for p in v[:args.n]]
    res: dict = {"eik": str(args.eik), "n_pictures": len(pages), "snr": "PhysioNet 2024 (±0.5 s), refused = 0 dB"}
    for ink in args.ink:
        with worker_pool(args.workers) as ex:  # spawned: ink=auto runs torch in the workers
            rows = list(ex.map(_one, [(p, root, ink, args.overlays) for p in pages]))
        groups = defaultdict(list)
        for r in rows:
            key = r["set"] if r["set"] != "layouts" else f"layouts/{r['layout_true']}"
            groups[key].append(r)
        summary = {}
        for key, rs in sorted(groups.items()):
            s = {"n": len(rs), "snr_db": round(float(np.mean([r["snr"] for r in rs])), 2),
                 "snr_db_read": round(float(np.mean([r["snr"] for r in rs if r["status"] != "error"] or [0])), 2),
                 "refused": sum(r["status"] == "error" for r in rs),
                 "uncertain": sum(r["status"] == "uncertain" for r in rs),
                 "layout_read": dict(sorted(Counter(r["layout"] for r in rs).items()))}
            summary[key] = s
            print(f"[{ink:7s}] {key:18s} n={s['n']:3d}  SNR {s['snr_db']:6.2f} dB (read pages {s['snr_db_read']:6.2f})  "
                  f"refused {s['refused']:2d}  uncertain {s['uncertain']:2d}  layouts {s['layout_read']}")
        cpu = float(np.mean([r["cpu_s"] for r in rows]))
        summary["pictures_per_cpu_s"] = round(1 / cpu, 2)
        print(f"[{ink:7s}] {1 / cpu:.2f} pictures per CPU-second (digitize() only, 150 DPI pages, 1 thread/worker)")
        res[ink] = {"summary": summary, "pages": rows}
    write_json(args.name, res)


if __name__ == "__main__":
    main()
