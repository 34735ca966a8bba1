"""Digitizer accuracy and speed on ecgcls's own rendered pages, plus a robustness pass over real pictures.

    python bench/digitize.py [--n 10] [--ink classic net] [--sets clean scan photo randomized] [--real]

Records: the first N of the validation folds (8–9), which the trace network never saw. Sets: 'clean', 'scan',
'photo' draw each classic layout with those artifact presets; 'clean_more' draws clean pages of the other clinical
layouts (3×4 with 2 strips, 6×2 and 12×1 with a strip, Cabrera with a strip, and the limb-lead and chest-lead pages
of two-page printouts; not in the default sets); 'randomized' draws N pages per layout group with
:meth:`RenderConfig.randomized` (other machines' conventions, 75–600 DPI, every artifact).
SNR: PhysioNet Challenge 2024 definition (ecgcls.metrics.signal_snr) against the printed part of the signal;
refused pages count 0 dB. Quality: Spearman correlation of the digitizer's page quality (and per-lead quality)
with the true SNR. Speed: pictures per CPU-second of digitize() (one thread per worker process).
Writes bench/out/digitize.json (+ digitize_real.csv, real_<ink>_*.png overlays and a contact sheet with --real).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from ecgcls.data.pagestore import worker_pool  # noqa: E402
from _common import OUT, REPO, ptbxl_fold_signals, write_json  # noqa: E402

LAYOUTS = ["3x4", "3x4+II", "3x4+3", "6x2", "12x1", "cabrera"]
PRESETS = {"clean": (), "scan": ("scan",), "photo": ("photo",), "clean_more": ()}
RANDOM_GROUPS = ["3x4+II", "3x4+2", "6x2+II", "12x1+II", "limb6", "chest6", "cabrera"]
MORE_LAYOUTS = ["3x4+2", "6x2+II", "12x1+II", "cabrera+II", "limb6", "chest6"]


def _layouts(set_name: str) -> list[str]:
    return {"randomized": RANDOM_GROUPS, "clean_more": MORE_LAYOUTS}.get(set_name, LAYOUTS)


def render_page(rid: int, sig: np.ndarray, set_name: str, lay: str):
    """The bench's page of record ``rid`` in set ``set_name`` and layout (group) ``lay``: the same page every run."""
    from ecgcls.render import RenderConfig, render

    if set_name == "randomized":
        rng = np.random.default_rng([rid, 7, RANDOM_GROUPS.index(lay)])
        return render(sig, 500, RenderConfig.randomized(rng, layouts=[lay]), rng=rng)
    return render(sig, 500, RenderConfig(layout=lay, artifacts=PRESETS[set_name]), rng=rid)


def _one(args):
    rid, sig, set_name, lay, ink = args
    cv2.setNumThreads(1)
    import torch

    torch.set_num_threads(1)  # one core per worker process: pictures per CPU-second stay per core
    from ecgcls.digitize import DigitizeError, digitize
    from ecgcls.metrics import signal_snr

    page = render_page(rid, sig, set_name, lay)
    c = time.process_time()
    try:
        d = digitize(page.image, keep_image=False, ink=ink)
    except DigitizeError as exc:
        d, err = None, str(exc)
    cpu = time.process_time() - c
    row = {"id": rid, "set": set_name, "group": lay, "layout_true": page.layout.name, "cpu_s": cpu}
    if d is None:
        return {**row, "status": "error", "snr": 0.0, "quality": 0.0, "layout": "", "error": err}
    ref = np.where(page.layout.coverage(500, sig.shape[1]), sig, np.nan)
    snr, per = signal_snr(ref, d.record.signal, 500)
    lq = [d.lead_quality[k] for k in d.lead_quality]
    return {**row, "status": d.status, "snr": float(snr), "quality": float(d.quality), "layout": d.layout,
            "per_lead_snr": [None if not np.isfinite(v) else float(v) for v in per], "lead_quality": lq,
            "reason": d.reason}


def _spearman(a, b) -> float | None:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return None if ok.sum() < 5 else round(float(spearmanr(a[ok], b[ok])[0]), 3)


def run_rendered(ids, sigs, sets, ink, workers) -> dict:
    jobs = []
    for s in sets:
        for lay in _layouts(s):
            jobs += [(rid, sig, s, lay, ink) for rid, sig in zip(ids, sigs)]
    with worker_pool(workers) as ex:  # spawned: ink=auto runs torch in the workers
        rows = list(ex.map(_one, jobs, chunksize=2))
    out: dict = {"snr_db": {}, "layout_accuracy": {}, "refused": {}, "uncertain": {}}
    for s in sets:
        rs = [r for r in rows if r["set"] == s]
        for lay in _layouts(s):
            cell = [r for r in rs if r["group"] == lay]
            out["snr_db"].setdefault(s, {})[lay] = round(float(np.mean([r["snr"] for r in cell])), 2)
            out["layout_accuracy"].setdefault(s, {})[lay] = round(float(np.mean([r["layout"] == lay for r in cell])), 2)
        out["snr_db"][s]["mean"] = round(float(np.mean([r["snr"] for r in rs])), 2)
        out["refused"][s] = sum(r["status"] == "error" for r in rs)
        out["uncertain"][s] = sum(r["status"] == "uncertain" for r in rs)
        print(f"[{ink:7s}] {s:10s} SNR {out['snr_db'][s]}  refused {out['refused'][s]}/{len(rs)}  "
              f"uncertain {out['uncertain'][s]}")
    read = [r for r in rows if r["status"] != "error"]
    out["quality_spearman_page"] = _spearman([r["quality"] for r in read], [r["snr"] for r in read])
    lq = [q for r in read for q, v in zip(r["lead_quality"], r["per_lead_snr"]) if v is not None]
    lv = [v for r in read for v in r["per_lead_snr"] if v is not None]
    out["quality_spearman_lead"] = _spearman(lq, lv)
    cpu = float(np.mean([r["cpu_s"] for r in rows]))
    out["pictures_per_cpu_s"] = round(1 / cpu, 2)
    print(f"[{ink:7s}] quality vs SNR (Spearman): page {out['quality_spearman_page']}, lead {out['quality_spearman_lead']}; "
          f"{1 / cpu:.2f} pictures per CPU-second (digitize() only)")
    out["pages"] = rows
    return out


def run_real(ink: str) -> dict:
    from ecgcls.digitize import DigitizeError, ImageError, digitize, load_image

    real = Path(os.environ.get("ECGCLS_SHARED", REPO.parent / "shared")) / "data" / "real-images"
    rows, tiles = [], []
    for f in sorted(real.glob("ecg*")):
        try:
            d = digitize(load_image(f), name=f.name, ink=ink)
            rows.append({"file": f.name, "status": d.status, "layout": d.layout_detail, "quality": round(d.quality, 3),
                         "px_per_mm": round(d.px_per_mm[0], 2), "scale": d.scale_method, "row_s": _row_seconds(d),
                         "gain_mm_mv": d.gain_mm_mv, "error": d.reason})
            ov = d.overlay(1200)
            cv2.imwrite(str(OUT / f"real_{ink}_{f.stem}.png"), cv2.cvtColor(ov, cv2.COLOR_RGB2BGR))
            tiles.append((f.name, ov))
        except (DigitizeError, ImageError) as exc:
            rows.append({"file": f.name, "status": "error", "error": str(exc)})
    with open(OUT / f"digitize_real_{ink}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "status", "layout", "quality", "px_per_mm", "scale", "row_s", "gain_mm_mv",
                                            "error"])
        w.writeheader()
        w.writerows(rows)
    if tiles:
        contact_sheet(tiles, OUT / f"real_contact_{ink}.png")
    secs = [r["row_s"] for r in rows if r.get("row_s") is not None]
    res = {"n": len(rows), "ok": sum(r["status"] == "ok" for r in rows),
           "uncertain": sum(r["status"] == "uncertain" for r in rows),
           "refused": [f"{r['file']}: {r['error']}" for r in rows if r["status"] == "error"],
           "rows_within_5pct_of_10s": sum(abs(v / 10.0 - 1) <= 0.05 for v in secs),
           "row_seconds": {r["file"]: r.get("row_s") for r in rows},
           "gain_mm_mv": {r["file"]: r.get("gain_mm_mv") for r in rows}}
    print(f"[{ink:7s}] real pictures: {res['ok']} ok, {res['uncertain']} uncertain, {len(res['refused'])} refused "
          f"of {res['n']}; rows span 10 s ± 5 % on {res['rows_within_5pct_of_10s']} of {len(secs)} read; "
          f"overlays in {OUT}")
    return res


def _row_seconds(d) -> float | None:
    """Seconds the page's traced rows span at the scale and speed the digitizer found (median over rows). A whole
    row of a standard page shows 10 s, so on pictures whose rows are whole this checks the scale without a signal
    to compare (a cropped row or a 5 s page reads short without the scale being wrong)."""
    ext = [r.x_end - r.x_start for r in d.rows if np.isfinite(r.y).any()]
    if not ext:
        return None
    return round(float(np.median(ext)) / (d.px_per_mm[0] * d.speed_mm_s), 2)


def contact_sheet(tiles, path: Path, cols: int = 4, width: int = 600) -> None:
    """All overlays on one PNG, file names written over each, for checking lead by lead."""
    cells = []
    for name, img in tiles:
        k = width / img.shape[1]
        t = cv2.resize(img, (width, int(img.shape[0] * k)), interpolation=cv2.INTER_AREA)
        cv2.putText(t, name, (8, t.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2, cv2.LINE_AA)
        cells.append(t)
    hmax = max(c.shape[0] for c in cells)
    cells = [cv2.copyMakeBorder(c, 0, hmax - c.shape[0] + 4, 0, 4, cv2.BORDER_CONSTANT, value=(255, 255, 255)) for c in cells]
    while len(cells) % cols:
        cells.append(np.full_like(cells[0], 255))
    sheet = np.vstack([np.hstack(cells[i:i + cols]) for i in range(0, len(cells), cols)])
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10, help="records per layout x set")
    ap.add_argument("--ink", nargs="+", default=["classic"], choices=["classic", "net", "auto"])
    ap.add_argument("--sets", nargs="*", default=["clean", "scan", "photo", "randomized"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--real", action="store_true", help="also run over shared/data/real-images")
    ap.add_argument("--name", default="digitize")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    ids, sigs = ptbxl_fold_signals((8, 9), args.n, 500)
    res: dict = {"n_per_cell": len(sigs), "ecg_ids": ids, "folds": [8, 9]}
    for ink in args.ink:
        res[ink] = run_rendered(ids, sigs, args.sets, ink, args.workers) if args.sets else {}
        if args.real:
            res[ink]["real_images"] = run_real(ink)
    write_json(args.name, res)


if __name__ == "__main__":
    main()
