"""Batch prediction over folders of ECG pictures: digitize in worker processes, classify in batches, and
append one CSV row per picture (or PDF page) as soon as it is done.

Safe to interrupt and rerun: rows are written whole and flushed; on restart a truncated last line is
dropped and pictures already in the output are skipped. An existing output is never overwritten
silently: it is resumed, or (``overwrite=True``) moved aside to ``<name>.bak-<time>`` first.
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from ecgcls.data.transforms import resample_nan

HEAD = ["path", "status", "error", "layout", "quality"]
#: statuses of pages that were read (and get probabilities); 'uncertain' carries its reason in the error column
READ = ("ok", "uncertain")


@dataclass
class PageResult:
    path: str
    status: str
    error: str = ""
    layout: str = ""
    quality: float = float("nan")
    signal: np.ndarray | None = None
    extra: dict | None = None
    picture: np.ndarray | None = None


def digitize_file(path: str, fs_model: int, n_samples: int, dig_kw: dict, overlay_dir: str | None,
                  image_prep: tuple[tuple[int, int], str] | None = None) -> list[PageResult]:
    """Digitize every page of one file (runs in a worker process); errors become error rows.
    With ``image_prep`` = (size (H, W), method), also keep the picture preprocessed for the image classifiers."""
    import cv2

    from ecgcls.digitize import DigitizeError, ImageError, digitize, load_pages

    out: list[PageResult] = []
    try:
        pages = load_pages(path)
        for name, image in pages:
            try:
                d = digitize(image, name=Path(name).name, keep_image=bool(overlay_dir), **dig_kw)
            except DigitizeError as exc:
                out.append(PageResult(name, "error", str(exc).replace(Path(name).name, name, 1)))
                continue
            finite = np.isfinite(d.record.signal)
            if finite.sum() < 0.05 * finite.size:
                out.append(PageResult(name, "error", f"{name}: too little trace could be read "
                                                     f"({finite.mean():.0%} of the 12 x 10 s timeline)"))
                continue
            sig = resample_nan(d.record.signal, d.record.fs, fs_model, n_samples)
            if overlay_dir:
                stem = Path(name.replace("#page=", "_p")).stem
                cv2.imwrite(str(Path(overlay_dir) / f"{stem}_overlay.png"), cv2.cvtColor(d.overlay(), cv2.COLOR_RGB2BGR))
            picture = None
            if image_prep is not None:
                from ecgcls.data.images import preprocess
                picture = preprocess(image, *image_prep)
            # 'uncertain': read, but its quality predicts a poor reading; probabilities are still given, with the reason
            out.append(PageResult(name, d.status, d.reason, d.layout_detail, d.quality, sig,
                                  {"scale_method": d.scale_method, "px_per_mm": d.px_per_mm, "gain_mm_mv": d.gain_mm_mv,
                                   "speed_mm_s": d.speed_mm_s, "rotation_deg": d.rotation_deg,
                                   "lead_quality": d.lead_quality, "lead_snr_pred_db": d.lead_snr_pred,
                                   "start_times": d.start_times, "ink": d.ink, "column_timing": d.column_timing},
                                  picture))
    except ImageError as exc:
        out.append(PageResult(path, "error", str(exc)))
    except Exception as exc:  # never let one file stop the batch; say what happened
        out.append(PageResult(path, "error", f"{path}: unexpected {type(exc).__name__}: {exc}"))
    return out


class ResumableCSV:
    """Append-only CSV with whole-line writes, resume and no silent overwrite."""

    def __init__(self, path: str | Path, columns: list[str], overwrite: bool = False) -> None:
        self.path, self.columns = Path(path), columns
        self.done: set[str] = set()
        self.moved_to: Path | None = None
        if self.path.exists() and overwrite:
            self.moved_to = self.path.with_name(f"{self.path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
            self.path.rename(self.moved_to)
        if self.path.exists() and self.path.stat().st_size > 0:
            raw = self.path.read_bytes()
            if not raw.endswith(b"\n"):  # killed mid-line: drop the partial row
                raw = raw[: raw.rfind(b"\n") + 1]
                self.path.write_bytes(raw)
            rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
            if not rows or rows[0] != columns:
                raise ValueError(f"{self.path}: exists with other columns ({rows[0] if rows else 'empty'}); "
                                 "choose another output or pass overwrite=true (the old file is kept as .bak)")
            self.done = {r[0] for r in rows[1:] if r}
            self.fh = open(self.path, "a", newline="", encoding="utf-8")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.path, "w", newline="", encoding="utf-8")
            self._write_line(columns)

    def _write_line(self, values: list) -> None:
        buf = io.StringIO()
        csv.writer(buf).writerow(values)
        self.fh.write(buf.getvalue())  # one write of a whole line
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def write(self, row: dict) -> None:
        self._write_line([row.get(c, "") for c in self.columns])

    def close(self) -> None:
        self.fh.close()


def _chunks(it: list, n: int) -> Iterator[list]:
    for i in range(0, len(it), n):
        yield it[i:i + n]


def run_predict(input: str, output: str, model: str = "cnn1d", batch_size: int = 16, workers: int | None = None,
                overwrite: bool = False, overlays: str | None = None, jsonl: bool = False,
                digitize: dict | None = None) -> dict:
    """Predict every picture below ``input`` into ``output`` (CSV); returns a summary dict."""
    from ecgcls.digitize import find_pictures
    from ecgcls.predict.bundle import load_bundle

    nets = [load_bundle(m) for m in (("patchecg", "pic2dx") if model == "both" else (model,))]
    net = nets[0]
    if any(n.classes != net.classes for n in nets):
        raise ValueError(f"model={model}: the models predict different classes; cannot average them")
    sig_net = next((n for n in nets if n.input == "signal"), None)
    img_net = next((n for n in nets if n.input == "picture"), None)
    image_prep = (img_net.image_size, img_net.preprocess) if img_net else None
    fs_model, n_model = (sig_net.fs, sig_net.n_samples) if sig_net else (100, 1000)
    thresholds = np.mean([n.thresholds for n in nets], axis=0)
    name = "+".join(n.name for n in nets)
    cols = HEAD + [f"p_{c}" for c in net.classes] + ["labels"]
    files = [str(p) for p in find_pictures(input)]
    writer = ResumableCSV(output, cols, overwrite=overwrite)
    todo = [f for f in files if f not in writer.done and not any(d.startswith(f + "#page=") for d in writer.done)]
    if overlays:
        Path(overlays).mkdir(parents=True, exist_ok=True)
    jl = open(Path(output).with_suffix(".jsonl"), "a", encoding="utf-8") if jsonl else None
    workers = workers or os.cpu_count() or 1
    dig_kw = dict(digitize or {})
    counts = {"ok": 0, "uncertain": 0, "error": 0}
    errors: list[str] = []
    torch.set_num_threads(max(1, (os.cpu_count() or 1)))

    def emit(results: list[PageResult]) -> None:
        ok = [r for r in results if r.status in READ]
        probs = np.zeros((0, len(net.classes)))
        if ok:
            from ecgcls.data.images import to_tensor

            outs = []
            if sig_net is not None:
                outs.append(sig_net(torch.from_numpy(np.stack([r.signal for r in ok]))).numpy())
            if img_net is not None:
                outs.append(img_net(torch.stack([to_tensor(r.picture) for r in ok])).numpy())
            probs = np.mean(outs, axis=0)
        k = 0
        for r in results:
            row = {"path": r.path, "status": r.status, "error": r.error}
            if r.status in READ:
                p = probs[k]
                k += 1
                row.update(layout=r.layout, quality=f"{r.quality:.3f}",
                           labels=";".join(c for c, v, t in zip(net.classes, p, thresholds) if v >= t))
                row.update({f"p_{c}": f"{v:.4f}" for c, v in zip(net.classes, p)})
                if jl:
                    jl.write(json.dumps({"path": r.path, "status": r.status, "reason": r.error,
                                         "layout": r.layout, "quality": r.quality,
                                         "probs": dict(zip(net.classes, map(float, p))), **(r.extra or {})}) + "\n")
                    jl.flush()
            else:
                errors.append(r.error)
            counts[r.status] += 1
            writer.write(row)

    bar = tqdm(total=len(todo), desc=f"predicting ({name})", unit="file")
    try:
        if workers > 1 and len(todo) > 1:
            with ProcessPoolExecutor(max_workers=workers) as ex:
                for chunk in _chunks(todo, batch_size):
                    n = len(chunk)
                    results = [r for rs in ex.map(digitize_file, chunk, [fs_model] * n, [n_model] * n, [dig_kw] * n,
                                                  [overlays] * n, [image_prep] * n) for r in rs]
                    emit(results)
                    bar.update(len(chunk))
        else:
            for chunk in _chunks(todo, batch_size):
                emit([r for f in chunk for r in digitize_file(f, fs_model, n_model, dig_kw, overlays, image_prep)])
                bar.update(len(chunk))
    finally:
        bar.close()
        writer.close()
        if jl:
            jl.close()
    return {"files": len(files), "skipped": len(files) - len(todo), **counts, "errors": errors,
            "output": str(output), "model": name, "moved_old_output_to": str(writer.moved_to or "")}
