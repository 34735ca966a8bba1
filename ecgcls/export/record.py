"""One record → one folder of aligned parts: WFDB signal, rendered pictures with exact truth, measurements per
lead and per beat, interpretation text, and ``row.json`` (its index row, with a SHA-256 of every file).

The folder is written under ``records/.tmp-<id>-…`` and renamed to ``records/<id>`` when whole, so a folder
without ``.tmp-`` holds a complete record; a killed run leaves only temporary folders, removed on the next run.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from ecgcls.jsonsafe import json_safe
from ecgcls.types import LEADS

#: global measurements copied into the index (handy for filtering without opening the record)
INDEX_MEASURES = ("hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qrs_axis_deg")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_wfdb(folder: Path, name: str, signal: np.ndarray, fs: float) -> None:
    """(12, T) mV → ``name.hea``/``name.dat`` (format 16, 1000 adu/mV, as PTB-XL stores it)."""
    import wfdb

    wfdb.wrsamp(name, fs=fs, units=["mV"] * 12, sig_name=list(LEADS), p_signal=np.asarray(signal, np.float64).T,
                fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(folder))


def page_config(layouts: list[str], artifacts: list[str], k: int, rng: np.random.Generator, **fixed):
    """The render settings of a record's ``k``-th page: ``layouts == ['random']`` draws ecgcls's own look at
    random (layout, paper, DPI, colours...; artifacts with probability 0.5 when any are given),
    ``['randomized']`` the domain-randomized look of other generators and machines, else the layouts in turn with
    ``fixed`` settings (paper, dpi, speed_mm_s, gain_mm_mv, grid)."""
    from ecgcls.render import RenderConfig

    if layouts == ["randomized"]:
        return RenderConfig.randomized(rng)
    if layouts == ["random"]:
        return RenderConfig.random(rng, artifacts=artifacts or None, artifact_prob=0.5 if artifacts else 0.0)
    return RenderConfig(layout=layouts[k % len(layouts)], artifacts=tuple(artifacts), **fixed)


def export_record(spec: dict, rec: dict) -> dict:
    """Write one record's folder (see module doc) and return its index row.

    ``spec``: ``out``, ``root``, ``fs``, ``pages``, ``layouts``, ``artifacts``, ``render`` (fixed RenderConfig
    fields), ``seed``, ``jpeg`` (quality or None), ``png_level``, ``mask_format``, ``points``, ``statements``
    (code → row), ``llm`` (None or {endpoint, model, api_key_env}). ``rec``: ``id``, ``ecg_id``, ``filename``,
    ``patient_id``, ``strat_fold``, ``scp_codes``, ``labels`` ({task: [classes]}).
    Raises on a record that cannot be read (the engine turns it into an error row)."""
    from ecgcls.data.store import read_wfdb
    from ecgcls.export.text import interpretation, rewrite
    from ecgcls.measure import measure
    from ecgcls.render import render

    t0 = time.perf_counter()
    out = Path(spec["out"])
    rid = str(rec["id"])
    final = out / "records" / rid
    tmp = out / "records" / f".tmp-{rid}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        sig, fs = read_wfdb(Path(spec["root"]) / rec["filename"], expect_fs=spec["fs"])
        write_wfdb(tmp, rid, sig, fs)
        pages, truths, masks, points, layouts, arts = [], [], [], [], [], []
        for k in range(int(spec["pages"])):
            rng = np.random.default_rng([int(spec["seed"]), int(rec["ecg_id"]), k])
            cfg = page_config(spec["layouts"], spec["artifacts"], k, rng, **spec.get("render", {}))
            page = render(sig, fs, cfg, rng=rng, record_id=rid)
            p = page.save(tmp, f"page{k}", jpeg_quality=spec.get("jpeg"), png_level=spec.get("png_level", 1),
                          mask_format=spec.get("mask_format", "npz"), points=spec.get("points", "npz"), yolo=False)
            pages.append(p["image"]), truths.append(p["truth"]), masks.append(p["mask"])
            points.append(p.get("points", ""))
            layouts.append(page.layout.name), arts.append(";".join(cfg.artifacts))
        m = json_safe(measure(sig, fs))
        (tmp / "features.json").write_text(json.dumps(m))
        text, text_source, text_error = interpretation(rec["scp_codes"], spec["statements"], m), "template", ""
        if spec.get("llm"):
            try:
                text, text_source = rewrite(text, **spec["llm"]), "llm"
            except Exception as exc:  # noqa: BLE001 — the template text stays; the reason is recorded
                text_error = f"{type(exc).__name__}: {exc}"
        (tmp / "report.txt").write_text(text + "\n")

        def rel(p: str | Path) -> str:
            return f"records/{rid}/{Path(p).name}" if p else ""

        files = sorted(f for f in tmp.iterdir() if f.is_file())
        g = m.get("global", {})
        row = {"id": rid, "status": "ok", "error": text_error, "traceback": "",
               "ecg_id": int(rec["ecg_id"]), "patient_id": rec.get("patient_id"),
               "strat_fold": rec.get("strat_fold"), "fs": float(fs), "n_samples": int(sig.shape[1]),
               "scp_codes": json.dumps(rec["scp_codes"]),
               **{f"labels_{k}": list(v) for k, v in rec.get("labels", {}).items()},
               "signal": f"records/{rid}/{rid}", "pictures": [rel(p) for p in pages],
               "truths": [rel(p) for p in truths], "masks": [rel(p) for p in masks],
               "points": [rel(p) for p in points], "layouts": layouts, "artifacts": arts,
               "features": rel("features.json"), "text": rel("report.txt"), "text_source": text_source,
               **{k: g.get(k) for k in INDEX_MEASURES},
               "sha256": json.dumps({rel(f): sha256(f) for f in files}),
               "seconds": round(time.perf_counter() - t0, 3)}
        (tmp / "row.json").write_text(json.dumps(json_safe(row)))
        if final.exists():  # a partial folder from an older run (no row.json): replaced
            shutil.rmtree(final)
        os.replace(tmp, final)
        return row
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
