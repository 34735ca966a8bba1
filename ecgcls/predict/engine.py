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
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm.auto import tqdm

from ecgcls.parallel import start_workers, worker_pool

HEAD = ["path", "status", "error", "paths", "layout", "quality"]
#: what a worker process needs to read a file (imported as it starts: :func:`run_predict`)
READ_MODULES = ("ecgcls.predict.engine", "ecgcls.digitize", "ecgcls.data.transforms", "ecgcls.predict.rhythm")


@dataclass
class PageResult:
    """One page after reading. ``status``: the digitizer's verdict (``ok``/``uncertain``/``error``), or
    ``not-run`` when no signal model needs it; ``error`` its reason ('uncertain': read, but predicted poor).
    ``picture``: the page prepared for the picture model (None when the file could not be decoded)."""

    path: str
    status: str
    error: str = ""
    layout: str = ""
    quality: float = float("nan")
    signal: np.ndarray | None = None
    extra: dict | None = None
    picture: np.ndarray | None = None
    snr_db: float = float("nan")


def page_stem(name: str) -> str:
    """File stem for a page's overlay / report (``scan.pdf#page=2`` → ``scan_p2``, ``scan.png`` → ``scan``)."""
    path, _, page = name.partition("#page=")
    return Path(path).stem + (f"_p{page}" if page else "")


def _digitize_page(name: str, image: np.ndarray, fs_model: int, n_samples: int, dig_kw: dict,
                   overlay_dir: str | None, measure: bool = False) -> PageResult:
    import cv2

    from ecgcls.digitize import DigitizeError, digitize

    try:
        d = digitize(image, name=Path(name).name, keep_image=bool(overlay_dir), **dig_kw)
    except DigitizeError as exc:
        return PageResult(name, "error", str(exc).replace(Path(name).name, name, 1))
    finite = np.isfinite(d.record.signal)
    if finite.sum() < 0.05 * finite.size:
        return PageResult(name, "error", f"{name}: too little trace could be read "
                                         f"({finite.mean():.0%} of the 12 x 10 s timeline)")
    from ecgcls.data.transforms import resample_nan

    sig = resample_nan(d.record.signal, d.record.fs, fs_model, n_samples)
    overlay_scale = None
    if overlay_dir:
        ov = d.overlay()
        overlay_scale = ov.shape[1] / d.image.shape[1]
        cv2.imwrite(str(Path(overlay_dir) / f"{page_stem(name)}_overlay.png"), cv2.cvtColor(ov, cv2.COLOR_RGB2BGR))
    snr = float(np.mean(list(d.lead_snr_pred.values()))) if d.lead_snr_pred else float("nan")
    measurements = None
    if measure:  # at the digitizer's own rate, on what was read (NaN parts are not measured)
        from ecgcls.measure import measure as measure_record
        from ecgcls.jsonsafe import json_safe

        measurements = json_safe(measure_record(d.record.signal, d.record.fs))
    # 'uncertain': read, but its quality predicts a poor reading; probabilities are still given, with the reason
    return PageResult(name, d.status, d.reason, d.layout_detail, d.quality, sig,
                      {"scale_method": d.scale_method, "px_per_mm": d.px_per_mm, "gain_mm_mv": d.gain_mm_mv,
                       "speed_mm_s": d.speed_mm_s, "rotation_deg": d.rotation_deg,
                       "lead_quality": d.lead_quality, "lead_snr_pred_db": d.lead_snr_pred,
                       "start_times": d.start_times, "ink": d.ink, "column_timing": d.column_timing,
                       **({"measurements": measurements, "placement": d.placement,
                           "overlay_scale": overlay_scale} if measure else {})},
                      snr_db=snr)


def read_page(name: str, image: np.ndarray, fs_model: int, n_samples: int, dig_kw: dict | None,
              overlay_dir: str | None = None, image_prep: tuple | None = None, measure: bool = False,
              rr: bool = False) -> PageResult:
    """Read one decoded page. ``dig_kw``: digitize it with these keyword arguments (None: no signal model
    needs it — the digitizer is not run). ``image_prep`` = (size (H, W), method, ink gain): also prepare the
    picture for the picture model; a page the digitizer refuses still gets its picture. ``rr``: also measure
    the RR-interval features of what was read (``extra['rr']``, for a rhythm bundle's RR head).

    Not an ECG: a page gets an answer only where some path has evidence of ECG traces. The picture path answers
    only where the trace network finds ECG-like strokes (:func:`ecgcls.digitize.segment.not_an_ecg`); a page the
    digitizer read ``uncertain`` is checked the same way, and one it read ``ok`` stands on its own reading."""
    r = (_digitize_page(name, image, fs_model, n_samples, dig_kw, overlay_dir, measure) if dig_kw is not None
         else PageResult(name, "not-run"))
    if rr and r.signal is not None:
        from ecgcls.measure.rhythm import rr_features

        r.extra = {**(r.extra or {}), "rr": rr_features(r.signal, fs_model)}
    prob = None
    if image_prep is not None:
        from ecgcls.data.images import as_rgb, preprocess, trace_picture

        if image_prep[1] == "trace":  # the trace network's map serves the picture model and the ECG check
            from ecgcls.digitize.segment import trace_probability

            prob = trace_probability(as_rgb(image))[0]
            r.picture = trace_picture(prob, image_prep[0], image_prep[2])
        else:
            r.picture = preprocess(image, *image_prep)
    if r.picture is not None or r.status == "uncertain":
        _check_is_ecg(r, name, image, prob)
    return r


def _check_is_ecg(r: PageResult, name: str, image: np.ndarray, prob: np.ndarray | None) -> None:
    """Drop the answers of a page without ECG-like strokes (see :func:`read_page`): the picture path's where the
    trace network's strokes (p > 0.5) span under half the page's width; a reading the digitizer is unsure of where
    the network sees no stroke at all (p > 0.1); an ``ok`` reading stands, the picture path's reason kept."""
    from ecgcls.data.images import as_rgb
    from ecgcls.digitize.segment import FAINT_STROKE_P, not_an_ecg, trace_probability

    prob = trace_probability(as_rgb(image))[0] if prob is None else prob
    why = not_an_ecg(prob, name) if r.picture is not None else None
    if why is not None:
        r.picture = None
    if r.status == "uncertain":
        why_signal = not_an_ecg(prob, name, FAINT_STROKE_P)
        if why_signal is not None:
            r.status, r.error, r.signal, r.snr_db = "error", why_signal, None, float("nan")
        elif why is not None:
            r.error = f"{r.error}; picture path: {why}" if r.error else f"picture path: {why}"
    elif why is not None and r.status == "ok":
        r.error = f"picture path: {why}"
    elif why is not None:  # no reading either (refused, or the digitizer was not run)
        signal_why = f"; signal path: {r.error}" if r.status == "error" and r.error else ""
        r.status, r.error = "error", why + signal_why


def read_file(path: str, fs_model: int, n_samples: int, dig_kw: dict | None, overlay_dir: str | None,
              image_prep: tuple | None = None, measure: bool = False, rr: bool = False) -> list[PageResult]:
    """:func:`read_page` on every page of one file (runs in a worker process); errors become error rows."""
    from ecgcls.digitize import ImageError, load_pages

    out: list[PageResult] = []
    try:
        for name, image in load_pages(path):
            out.append(read_page(name, image, fs_model, n_samples, dig_kw, overlay_dir, image_prep, measure, rr))
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


def batched(fn, x: torch.Tensor, n: int = 64) -> np.ndarray:
    """``fn`` (a bundled model, or its ``logits``) over ``x`` in batches of ``n``, concatenated."""
    import torch

    return torch.cat([fn(x[i:i + n]) for i in range(0, len(x), n)]).numpy()


class Predictor:
    """The models of one prediction set-up, loaded once, and how pages are read and answered with them — behind
    :func:`run_predict` (``predict.py``) and ``ecgcls serve``.

    ``model``: a bundled name (``cnn1d``, ``patchecg``, ``pic2dx``), ``both`` (PatchECG + the picture ensemble,
    weighted by the page's digitization quality: :func:`ecgcls.predict.combine.signal_weight`), or a bundle path.
    Picture models never need the digitizer: a page it refuses still gets their answer (``paths`` says which
    paths answered). ``rhythm``: a rhythm bundle (e.g. ``rhythm``) whose classes (``p_AFIB``, ...) are added for
    every page the digitizer read. ``combine``: keyword arguments of :func:`~ecgcls.predict.combine.signal_weight`.
    ``measure``: measure the digitized leads and check each class's evidence criteria. ``report``: a folder for
    one JSON + self-contained HTML report per page (implies ``measure`` and overlays). ``overlays``: a folder
    for the digitizer's overlays."""

    def __init__(self, model: str = "cnn1d", rhythm: str | None = None, combine: dict | None = None,
                 digitize: dict | None = None, measure: bool = False, report: str | None = None,
                 overlays: str | None = None) -> None:
        from ecgcls.predict.bundle import load_bundle
        from ecgcls.predict.names import model_bundles

        nets = [load_bundle(m) for m in model_bundles(model)]
        net = nets[0]
        if any(n.classes != net.classes for n in nets):
            raise ValueError(f"model={model}: the models predict different classes; cannot average them")
        self.sig_net = next((n for n in nets if n.input == "signal"), None)
        self.img_net = next((n for n in nets if n.input == "picture"), None)
        rhy = load_bundle(rhythm) if rhythm else None
        if rhy is not None and rhy.input != "signal":
            raise ValueError(f"rhythm={rhythm}: a rhythm bundle must be a signal model")
        if rhy is not None and set(rhy.classes) & set(net.classes):
            raise ValueError(f"rhythm={rhythm}: its classes overlap the model's ({set(rhy.classes) & set(net.classes)})")
        if self.sig_net and rhy and (self.sig_net.fs, self.sig_net.n_samples) != (rhy.fs, rhy.n_samples):
            raise ValueError(f"rhythm={rhythm}: wants {rhy.fs} Hz x {rhy.n_samples}, the model "
                             f"{self.sig_net.fs} Hz x {self.sig_net.n_samples}")
        self.rhy_net = rhy
        self.rr_head = None
        if rhy is not None and rhy.meta.get("rr_head"):
            from ecgcls.predict.rrhead import RRHead

            self.rr_head = RRHead(rhy.meta["rr_head"])
            if self.rr_head.cls not in rhy.classes:
                raise ValueError(f"rhythm={rhythm}: its RR head is for {self.rr_head.cls}, not one of {rhy.classes}")
        img = self.img_net
        self.image_prep = (img.image_size, img.preprocess, img.picture.get("ink_gain")) if img else None
        lead = self.sig_net or rhy
        self.fs_model, self.n_model = (lead.fs, lead.n_samples) if lead else (100, 1000)
        self.measure = bool(measure or report)
        self.report = report
        if report:
            Path(report).mkdir(parents=True, exist_ok=True)
            overlays = overlays or report
        self.overlays = overlays
        if overlays:
            Path(overlays).mkdir(parents=True, exist_ok=True)
        # no signal model and nothing to measure: the digitizer is not run
        self.dig_kw = dict(digitize or {}) if (lead or self.measure) else None
        self.name = "+".join(n.name for n in nets)
        self.classes = list(net.classes) + (list(rhy.classes) if rhy else [])
        self.columns = HEAD + [f"p_{c}" for c in self.classes] + ["labels"]
        self.combine_kw = dict(combine or {})

    def read_args(self, overlays: str | None = None) -> tuple:
        """The arguments after the path of :func:`read_file` for this set-up (picklable, for worker processes);
        ``overlays``: a folder for the digitizer's overlays (default: the set-up's)."""
        return (self.fs_model, self.n_model, self.dig_kw, overlays or self.overlays, self.image_prep, self.measure,
                self.rr_head is not None)

    def read(self, path: str, overlays: str | None = None) -> list[PageResult]:
        """Every page of one file, read in this process (``overlays``: as in :meth:`read_args`)."""
        return read_file(path, *self.read_args(overlays))

    def _rr_mix(self, results: list[PageResult], p_rhy: dict) -> tuple[dict, dict]:
        """The rhythm bundle's probabilities with its RR head's class mixed in on the pages whose RR features were
        measured → (probabilities per page, per page what was used: for the JSONL and the thresholds)."""
        from ecgcls.jsonsafe import json_safe
        from ecgcls.predict.rrhead import head_inputs

        head = self.rr_head
        j = self.rhy_net.classes.index(head.cls)
        out, used = {}, {}
        for k, p in p_rhy.items():
            feats = (results[k].extra or {}).get("rr")
            x = head_inputs(feats)[None]
            p_rr = head.p_rr(x)
            mixed, ok = head.mix(p[j:j + 1], x, p_rr)
            q = np.array(p, copy=True)
            q[j] = mixed[0]
            out[k] = q
            used[k] = json_safe({"class": head.cls, "used_rr": bool(ok[0]), "p_net": float(p[j]),
                                 "p_rr": float(p_rr[0]) if ok[0] else None, "rr": feats})
        return out, used

    def _rhythm_thresholds(self, used: dict | None) -> np.ndarray:
        """The rhythm bundle's thresholds; the RR head's for its class where the page's RR features were used."""
        thr = np.array(self.rhy_net.thresholds, dtype=float, copy=True)
        if used and used.get("used_rr"):
            thr[self.rhy_net.classes.index(self.rr_head.cls)] = self.rr_head.threshold
        return thr

    def answer(self, results: list[PageResult], report: str | None = None) -> list[tuple[dict, dict | None]]:
        """Classify read pages in batches → per page (CSV row, JSON record or None when no model answered).
        Writes each page's report into ``report`` (default: the set-up's ``report`` folder, if any; the pages
        must have been read with overlays and measurements)."""
        report = report or self.report
        p_sig, p_img, p_rhy, rr_used = self._path_probabilities(results)
        out = []
        for k, r in enumerate(results):
            if self.measure and (r.extra or {}).get("measurements"):
                from ecgcls.measure import evidence

                r.extra["evidence"] = evidence(r.extra["measurements"], self.classes)
            row = {"path": r.path, "error": r.error}
            mixed = self._mix(r, p_sig.get(k), p_img.get(k))
            if mixed is None:  # no path answered this page
                row["status"] = "error"
                out.append((row, None))
                continue
            p, parts, w, thr = mixed
            pr = p
            if self.rhy_net:  # rhythm only where the digitizer read the page; blank (not a guess) elsewhere
                pr = np.concatenate([p, p_rhy[k] if k in p_rhy else np.full(len(self.rhy_net.classes), np.nan)])
                thr = np.concatenate([thr, self._rhythm_thresholds(rr_used.get(k))])
            row, page = self._row_and_page(r, row, parts, pr, thr)
            record = {**page, "signal_weight": w if len(parts) == 2 else None,
                      "path_probs": {"signal": [float(v) for v in p_sig[k]] if k in p_sig else None,
                                     "picture": [float(v) for v in p_img[k]] if k in p_img else None},
                      "snr_pred_db": None if np.isnan(r.snr_db) else r.snr_db,
                      **{key: v for key, v in (r.extra or {}).items() if key != "rr"},  # (in "rhythm", JSON-safe)
                      **({"rhythm": rr_used[k]} if k in rr_used else {})}
            if report:
                record["report"] = self._write_report(report, r, row, page, pr, {
                    "signal": self.sig_net if k in p_sig else None, "picture": self.img_net if k in p_img else None,
                    "rhythm": self.rhy_net if k in p_rhy else None})
            out.append((row, record))
        return out

    def _path_probabilities(self, results: list[PageResult]) -> tuple[dict, dict, dict, dict]:
        """Each path's calibrated probabilities by page index, in batches: signal model, picture model, rhythm
        model (with its RR head mixed in where it has one), and per page what the RR head used."""
        import torch

        sig_net, img_net, rhy_net = self.sig_net, self.img_net, self.rhy_net
        read = [k for k, r in enumerate(results) if r.signal is not None]
        pics = [k for k, r in enumerate(results) if r.picture is not None]
        p_sig = p_rhy = p_img = rr_used = {}
        if read and (sig_net or rhy_net):
            x = torch.from_numpy(np.stack([results[k].signal for k in read]))
            if sig_net:
                p_sig = dict(zip(read, batched(sig_net, x)))
            if rhy_net:
                p_rhy = dict(zip(read, batched(rhy_net, x)))
                if self.rr_head is not None:
                    p_rhy, rr_used = self._rr_mix(results, p_rhy)
        if pics and img_net:
            p_img = dict(zip(pics, batched(img_net, torch.stack([img_net.picture_tensor(results[k].picture)
                                                                  for k in pics]))))
        return p_sig, p_img, p_rhy, rr_used

    def _mix(self, r: PageResult, p_sig: np.ndarray | None, p_img: np.ndarray | None):
        """One page's answer from the paths that answered it: (probabilities, the paths, the signal path's weight,
        thresholds) or None. Both paths: mixed by the page's predicted reading quality
        (:func:`~ecgcls.predict.combine.signal_weight`); each path's thresholds were chosen on validation for its
        own probabilities, so a page gets those of the path(s) that answered it, mixed with the same weight."""
        from ecgcls.predict.combine import signal_weight

        if p_sig is not None and p_img is not None:
            w = signal_weight(r.snr_db, **self.combine_kw)
            return (w * p_sig + (1 - w) * p_img, ["signal", "picture"], w,
                    w * self.sig_net.thresholds + (1 - w) * self.img_net.thresholds)
        if p_sig is not None:
            return p_sig, ["signal"], 0.0, self.sig_net.thresholds
        if p_img is not None:
            return p_img, ["picture"], 0.0, self.img_net.thresholds
        return None

    def _row_and_page(self, r: PageResult, row: dict, parts: list[str], pr: np.ndarray, thr: np.ndarray
                      ) -> tuple[dict, dict]:
        """The page's CSV row and the JSON record's common part. The status is the digitizer's verdict where its
        reading is used; a picture-only answer is ok, and says why the signal path is missing (if it was tried) in
        the error column."""
        classes = self.classes
        status = r.status if "signal" in parts else "ok"
        if "signal" not in parts and r.status == "error":
            row["error"] = f"signal path: {r.error}"
        row.update(paths="+".join(parts), layout=r.layout, quality="" if np.isnan(r.quality) else f"{r.quality:.3f}",
                   labels=";".join(c for c, v, t in zip(classes, pr, thr) if v >= t))
        row.update({f"p_{c}": ("" if np.isnan(v) else f"{v:.4f}") for c, v in zip(classes, pr)})
        row["status"] = status
        page = {"path": r.path, "status": status, "reason": row["error"], "paths": row["paths"],
                "layout": r.layout, "quality": None if np.isnan(r.quality) else r.quality,
                "probs": {c: (None if np.isnan(v) else float(v)) for c, v in zip(classes, pr)}}
        return row, page

    def _write_report(self, report: str, r: PageResult, row: dict, page: dict, pr: np.ndarray, nets: dict) -> str:
        """The page's JSON and HTML report (drawn on its overlay) → the report's path."""
        from ecgcls.predict.report import explain_page, write_report

        overlays = self.overlays or report  # (a report is drawn on its page's overlay; read_file wrote it there)
        stem = page_stem(r.path)
        labels = row["labels"].split(";") if row["labels"] else []
        shown = labels[:3] or [self.classes[int(np.nanargmax(pr))]]  # the labels given, else the likeliest
        overlay = Path(overlays) / f"{stem}_overlay.png"
        where = explain_page(report, stem, r, shown, nets, overlay)
        return str(write_report(report, stem, {
            **page, "labels": labels, "measurements": (r.extra or {}).get("measurements"),
            "evidence": (r.extra or {}).get("evidence"), "attribution": where}, overlay))


def run_predict(input: str, output: str, model: str = "cnn1d", batch_size: int = 16, workers: int | None = None,
                overwrite: bool = False, overlays: str | None = None, jsonl: bool = False,
                digitize: dict | None = None, rhythm: str | None = None, combine: dict | None = None,
                measure: bool = False, report: str | None = None) -> dict:
    """Predict every picture below ``input`` into ``output`` (CSV); returns a summary dict. The models and
    options are :class:`Predictor`'s; ``jsonl``: also write ``<output>.jsonl`` (probabilities of each path,
    the digitizer's details, measurements and evidence)."""
    from ecgcls.predict.names import bundle_path, model_bundles

    workers = workers or os.cpu_count() or 1
    t_start = time.perf_counter()
    for name in model_bundles(model) + ((rhythm,) if rhythm else ()):
        bundle_path(name)  # a wrong model name or path fails now, before any worker process starts
    with ExitStack() as stack:
        # the worker processes start first, so their imports (torch, the digitizer, NeuroKit2: ~5 CPU-s each) run
        # while this process imports torch and loads the bundles, instead of after; not for a single file
        pool = None
        if workers > 1 and Path(input).is_dir():
            pool = worker_pool(workers, warm=READ_MODULES + (("neurokit2",) if rhythm or measure or report else ()))
            stack.callback(pool.shutdown, wait=False, cancel_futures=True)
            start_workers(pool, workers)
        import torch

        from ecgcls.digitize import find_pictures

        pred = Predictor(model, rhythm, combine, digitize, measure, report, overlays)
        files = [str(p) for p in find_pictures(input)]
        sink = _Sink(ResumableCSV(output, pred.columns, overwrite=overwrite),
                     Path(output).with_suffix(".jsonl") if jsonl else None, t_start)
        todo = [f for f in files
                if f not in sink.writer.done and not any(d.startswith(f + "#page=") for d in sink.writer.done)]
        use_pool = pool is not None and len(todo) > 1
        # with worker processes reading on every core, classifying here gets one thread: a second only contends
        # with them (bench/results/predict_main_threads.json); reading here too, every core
        threads = torch.get_num_threads()
        torch.set_num_threads(1 if use_pool else max(1, os.cpu_count() or 1))
        bar = tqdm(total=len(todo), desc=f"predicting ({pred.name})", unit="file")
        try:
            for results, n_files in _read_batches(pred, todo, pool if use_pool else None, workers, batch_size, bar):
                sink.emit(pred.answer(results), n_files)
        finally:
            bar.close()
            sink.close()
            torch.set_num_threads(threads)
        return {"files": len(files), "skipped": len(files) - len(todo), **sink.counts, "errors": sink.errors,
                "timing": {"seconds": round(time.perf_counter() - t_start, 3), **sink.first},
                "output": str(output), "model": pred.name, "moved_old_output_to": str(sink.writer.moved_to or "")}


def _read_batches(pred: Predictor, todo: list[str], pool, workers: int, batch_size: int, bar
                  ) -> Iterator[tuple[list[PageResult], int]]:
    """Read ``todo`` → batches of read pages with the number of files they came from. With a worker ``pool``: a
    stream, not batches: the workers read the next files while this process classifies and writes, and no worker
    waits for the slowest file of a batch; a bounded window keeps memory flat. Without one: here, in chunks."""
    if pool is None:
        for chunk in _chunks(todo, batch_size):
            yield [r for f in chunk for r in pred.read(f)], len(chunk)
            bar.update(len(chunk))
        return
    args = pred.read_args()
    pending: deque = deque()
    files_left = iter(todo)
    done: list[PageResult] = []
    n_done = 0
    while True:
        while len(pending) < 4 * workers and (f := next(files_left, None)) is not None:
            pending.append(pool.submit(read_file, f, *args))
        if not pending:
            break
        done += pending.popleft().result()
        n_done += 1
        bar.update(1)
        if len(done) >= batch_size or not pending:
            yield done, n_done
            done, n_done = [], 0


class _Sink:
    """Where answered pages go: the CSV (resumable), the JSONL (pages with an answer), the counts by status, the
    errors, and when the first batch was written (start-up: worker processes, first pages)."""

    def __init__(self, writer: ResumableCSV, jsonl: Path | None, t_start: float) -> None:
        self.writer, self.t_start = writer, t_start
        self.jl = open(jsonl, "a", encoding="utf-8") if jsonl else None
        self.counts = {"ok": 0, "uncertain": 0, "error": 0}
        self.errors: list[str] = []
        self.first: dict = {}

    def emit(self, answers: list[tuple[dict, dict | None]], n_files: int) -> None:
        for row, record in answers:
            if row["status"] == "error":
                self.errors.append(row["error"])
            elif self.jl:
                self.jl.write(json.dumps(record) + "\n")
                self.jl.flush()
            self.counts[row["status"]] += 1
            self.writer.write(row)
        if not self.first:
            self.first.update(first_batch_s=round(time.perf_counter() - self.t_start, 3), first_batch_files=n_files)

    def close(self) -> None:
        self.writer.close()
        if self.jl:
            self.jl.close()
