"""``ecgcls digitize``: pictures → 12-lead signals (CSV / WFDB / NPZ) with an overlay and a summary."""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from ecgcls.types import LEADS

SUMMARY_COLUMNS = ["input", "status", "error", "layout", "quality", "scale_method", "px_per_mm", "gain_mm_mv",
                   "rotation_deg", "output"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("digitize", help="digitize ECG pictures into 12-lead signals", description=__doc__)
    p.add_argument("inputs", nargs="+", help="pictures, PDFs or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", default="csv", choices=["csv", "wfdb", "npz"])
    p.add_argument("--fs", type=float, default=500.0, help="output sampling rate, Hz")
    p.add_argument("--speed", type=float, default=None, help="paper speed, mm/s (default: read from the pulses)")
    p.add_argument("--gain", type=float, default=None, help="mm/mV (default: read the calibration pulse)")
    p.add_argument("--layout", default=None, help="force a layout instead of detecting it")
    from ecgcls.digitize.pipeline import DEFAULT_INK

    p.add_argument("--ink", default=DEFAULT_INK, choices=["classic", "net", "auto"],
                   help="trace pixels from a darkness threshold (classic), the trace segmentation network (net), or "
                        f"classic and the network where classic reads a page poorly (auto; default: {DEFAULT_INK}, "
                        "as predict.py and ecgcls serve read)")
    p.add_argument("--no-overlay", action="store_true", help="do not write overlay PNGs")
    p.set_defaults(func=run)
    o = sub.add_parser("traceseg-onnx", help="write the trace network's ONNX graph beside its weights (the digitizer "
                                             "then runs it with onnxruntime)")
    o.add_argument("--weights", default=None, help="traceseg.safetensors (default: the bundled one)")
    o.add_argument("--out", default=None, help="ONNX path (default: beside the weights)")
    o.set_defaults(func=run_onnx)


def run_onnx(args: argparse.Namespace) -> int:
    from ecgcls.digitize.segment import export_trace_onnx

    path, err = export_trace_onnx(args.weights, args.out)
    print(f"wrote {path}: max |onnxruntime - torch| = {err:.2e} on random pictures of two sizes")
    return 0


def write_signal(page, path_stem: Path, fmt: str) -> Path:
    """Write a DigitizedPage's record; CSV has one column per lead, empty cells where not visible."""
    sig = page.record.signal
    if fmt == "csv":
        path = path_stem.with_suffix(".csv")
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(LEADS)
            for row in sig.T:
                w.writerow(["" if np.isnan(v) else f"{v:.4f}" for v in row])
        return path
    if fmt == "npz":
        path = path_stem.with_suffix(".npz")
        np.savez_compressed(path, signal=sig, fs=page.record.fs, leads=np.array(LEADS),
                            start_times=json.dumps(page.start_times), layout=page.layout)
        return path
    if fmt == "wfdb":
        import wfdb

        # WFDB has no missing-value marker for format 16 other than the special -32768 sample (read as NaN)
        wfdb.wrsamp(path_stem.name, fs=page.record.fs, units=["mV"] * 12, sig_name=list(LEADS),
                    p_signal=sig.T.astype(np.float64), fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12,
                    write_dir=str(path_stem.parent), comments=[f"layout: {page.layout}", f"quality: {page.quality:.3f}"])
        return path_stem.with_suffix(".hea")
    raise ValueError(f"unknown format {fmt!r}")


def run(args: argparse.Namespace) -> int:
    from ecgcls.digitize import DigitizeError, ImageError, digitize, find_pictures, load_pages

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for inp in args.inputs:
        try:
            files += find_pictures(inp)
        except FileNotFoundError as exc:
            print(f"ecgcls digitize: {exc}", file=sys.stderr)
            files.append(Path(inp))
    rows, failed = [], 0
    for f in tqdm(files, desc="digitizing", unit="picture"):
        try:
            pages = list(load_pages(f))
        except ImageError as exc:
            rows.append({"input": str(f), "status": "error", "error": str(exc)})
            failed += 1
            continue
        for name, image in pages:
            stem = Path(name.replace("#page=", "_p")).stem
            try:
                page = digitize(image, fs=args.fs, speed_mm_s=args.speed, gain_mm_mv=args.gain, layout=args.layout,
                                name=name, ink=args.ink)
                path = write_signal(page, out / stem, args.format)
                if not args.no_overlay:
                    cv2.imwrite(str(out / f"{stem}_overlay.png"), cv2.cvtColor(page.overlay(), cv2.COLOR_RGB2BGR))
                rows.append({"input": name, "status": page.status, "error": page.reason, "layout": page.layout_detail,
                             "quality": f"{page.quality:.3f}", "scale_method": page.scale_method,
                             "px_per_mm": f"{page.px_per_mm[0]:.3f}", "gain_mm_mv": page.gain_mm_mv,
                             "rotation_deg": f"{page.rotation_deg:.2f}", "output": str(path)})
            except (DigitizeError, ValueError) as exc:
                rows.append({"input": name, "status": "error", "error": str(exc)})
                failed += 1
    with open(out / "summary.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SUMMARY_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    ok = sum(r["status"] in ("ok", "uncertain") for r in rows)
    unsure = sum(r["status"] == "uncertain" for r in rows)
    print(f"digitized {ok} of {len(rows)} pictures into {out} ({unsure} uncertain, {failed} failed; "
          f"see {out / 'summary.csv'})")
    for r in rows:
        if r["status"] == "error":
            print(f"  error: {r['error']}", file=sys.stderr)
    return 1 if failed else 0
