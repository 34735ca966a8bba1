"""``ecgcls serve``: a local web page (and JSON API) where people drop ECG pictures or PDFs and see the traced
leads over their picture, the probabilities and labels, layout, quality and the grounded evidence.

- ``GET /``: one static page (``index.html``: HTML + plain JavaScript, no build step).
- ``POST /api/predict`` (multipart ``file``): what ``predict.py`` writes for that file — per page the CSV row
  (``row``) and the JSON record (``record``: each path's probabilities, the digitizer's details, measurements,
  evidence); ``?images=1`` adds the overlay with fiducials and, for the labels, the attribution pictures as data
  URLs, ``?report=1`` the self-contained HTML report.
- ``GET /api/health``: the models loaded and the queue length.

Prediction runs in a pool of worker threads (``workers``, default 1) fed by a queue, with the bundled models
loaded once; the event loop only awaits, so the page never blocks while uploads queue. Safe by default: binds
to 127.0.0.1 unless told otherwise; uploads are size-capped while they stream, and accepted only when their
content (magic bytes, not the name) is a PNG, JPEG, BMP, TIFF, GIF, WebP or PDF within the pixel / page limits;
each upload is written under a server-chosen name in a fresh temporary folder, deleted after the answer
(``keep``: a folder where uploads are copied under server-chosen names). A client's file name is only ever
shown, never used as a path. Errors come back as ``{"error": "..."}`` with a 4xx status; an unexpected failure is
logged here and answered with a short message, never a traceback.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI, File, Request, UploadFile  # (module level: the route annotations resolve here)
from fastapi.responses import FileResponse, JSONResponse

from ecgcls.jsonsafe import json_safe

log = logging.getLogger("ecgcls.serve")
STATIC = Path(__file__).with_name("static")

#: magic bytes → (kind, file suffix the server gives the upload)
MAGIC = [(b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"%PDF-", "pdf"), (b"BM", "bmp"),
         (b"II*\x00", "tif"), (b"MM\x00*", "tif"), (b"GIF87a", "gif"), (b"GIF89a", "gif")]


class UploadError(ValueError):
    """A bad upload: ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def sniff(head: bytes) -> str:
    """The upload's type from its first bytes: a file suffix, or :class:`UploadError` (415)."""
    if len(head) == 0:
        raise UploadError("the file is empty", 400)
    for magic, suffix in MAGIC:
        if head.startswith(magic):
            return suffix
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    raise UploadError("not a picture or PDF (accepted: PNG, JPEG, BMP, TIFF, GIF, WebP, PDF — checked by content, "
                      "not by name)", 415)


def check_size(path: Path, suffix: str, max_pixels: int, max_pages: int) -> None:
    """Refuse pictures larger than ``max_pixels`` (read from the header, before decoding) and PDFs with no pages
    or more than ``max_pages``."""
    if suffix == "pdf":
        from ecgcls.digitize.io import ImageError, open_pdf

        try:
            doc = open_pdf(path)
        except ImageError as exc:  # password-protected, no pages, unreadable: said without the server's path
            raise UploadError(str(exc).replace(f"{path}: ", "")) from None
        try:
            n = len(doc)
        finally:
            doc.close()
        if n > max_pages:
            raise UploadError(f"the PDF has {n} pages; at most {max_pages} per upload", 413)
        return
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
    except Image.DecompressionBombError as exc:
        raise UploadError(f"refused as a decompression bomb ({exc}); at most {max_pixels / 1e6:.0f} megapixels",
                          413) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UploadError("not a readable picture (corrupt or truncated)") from None
    if w * h > max_pixels:
        raise UploadError(f"the picture is {w} x {h} pixels; at most {max_pixels / 1e6:.0f} megapixels", 413)


class Service:
    """The models (one :class:`~ecgcls.predict.Predictor`) and the worker pool behind the app."""

    def __init__(self, model: str = "both", rhythm: str | None = "rhythm", workers: int = 1,
                 max_mb: float = 25.0, max_pixels: int = 40_000_000, max_pages: int = 10,
                 keep: str | None = None) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="ecgcls-serve-"))
        from ecgcls.predict import Predictor

        self.reports = self.work / "reports"
        self.reports.mkdir()
        # measured always; overlays drawn and pages explained (attribution pictures, HTML report) only when a
        # request asks for pictures or the report
        self.predictor = Predictor(model, rhythm, measure=True)
        self.model = model
        self.pool = ThreadPoolExecutor(max_workers=max(1, int(workers)), thread_name_prefix="ecgcls-predict")
        self.max_bytes, self.max_pixels, self.max_pages = int(max_mb * 1024 * 1024), int(max_pixels), int(max_pages)
        self.keep = Path(keep) if keep else None
        if self.keep:
            self.keep.mkdir(parents=True, exist_ok=True)
        self.queued = 0

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.work, ignore_errors=True)

    def predict_file(self, path: Path, display: str, images: bool, report: bool) -> dict:
        """Run in a worker thread: read and answer every page of one saved upload."""
        t0 = time.perf_counter()
        pages = []
        explain = str(self.reports) if (images or report) else None
        results = self.predictor.read(str(path), overlays=explain)
        for row, record in self.predictor.answer(results, report=explain):
            page = {"row": row, "record": record}
            if record:
                page.update(_pictures(record, images, report))
            pages.append(page)
        for f in self.reports.glob(f"{path.stem}*"):  # every page's overlay / report files (a unique upload name)
            f.unlink(missing_ok=True)
        return json_safe(_relabel({"file": display, "model": self.predictor.name, "pages": pages,
                                   "classes": self.predictor.classes,
                                   "seconds": round(time.perf_counter() - t0, 3)}, str(path), display))


def _data_url(path: Path) -> str:
    mime = "image/jpeg" if path.suffix == ".jpg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _pictures(record: dict, images: bool, report: bool) -> dict:
    """The page's pictures as data URLs (fiducials overlay; per label, signal and picture attribution) and its
    HTML report, read from the report folder."""
    out: dict = {}
    rep = Path(record.pop("report", "") or "")
    folder = rep.parent if rep.name else None
    if folder is None:
        return out
    stem = rep.stem
    if images:
        fid = folder / f"{stem}_fiducials.jpg"
        if fid.is_file():
            out["overlay"] = _data_url(fid)
        att = {}
        for f in sorted(folder.glob(f"{stem}_signal_*.jpg")) + sorted(folder.glob(f"{stem}_picture_*.jpg")):
            kind, cls = f.stem[len(stem) + 1:].split("_", 1)
            att.setdefault(cls, {})[kind] = _data_url(f)
        out["attribution"] = att
    if report and rep.is_file():
        out["report_html"] = rep.read_text()
    return out


def _relabel(x, tmp: str, display: str):
    """Replace the server's temporary path by the client's file name in every string of the answer."""
    if isinstance(x, dict):
        return {k: _relabel(v, tmp, display) for k, v in x.items()}
    if isinstance(x, list):
        return [_relabel(v, tmp, display) for v in x]
    if isinstance(x, str) and tmp in x:
        return x.replace(tmp, display)
    return x


def create_app(service: Service):
    """The FastAPI app around a :class:`Service`."""
    app = FastAPI(title="ecgcls", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(UploadError)
    async def _upload_error(_: Request, exc: UploadError):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception):  # never a traceback to the client
        log.exception("unexpected error while answering a request")
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server's log"},
                            status_code=500)

    @app.get("/")
    async def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/health")
    async def health():
        return {"model": service.predictor.name, "classes": service.predictor.classes, "queued": service.queued}

    @app.post("/api/predict")
    async def predict(file: UploadFile = File(...), images: int = 0, report: int = 0):
        display = Path(file.filename or "upload").name[:200] or "upload"
        folder = Path(tempfile.mkdtemp(dir=service.work))
        try:
            head = await file.read(16)
            suffix = sniff(head)
            path = folder / f"upload-{uuid.uuid4().hex[:12]}.{suffix}"  # the server's name, never the client's
            size = len(head)
            with open(path, "wb") as fh:
                fh.write(head)
                while chunk := await file.read(1 << 20):
                    size += len(chunk)
                    if size > service.max_bytes:
                        raise UploadError(f"the file is larger than {service.max_bytes // (1024 * 1024)} MB", 413)
                    fh.write(chunk)
            check_size(path, suffix, service.max_pixels, service.max_pages)
            if service.keep:
                shutil.copyfile(path, service.keep / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.{suffix}")
            service.queued += 1
            try:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(service.pool, service.predict_file, path, display,
                                                    bool(images), bool(report))
            finally:
                service.queued -= 1
            return result
        finally:
            await file.close()
            shutil.rmtree(folder, ignore_errors=True)

    app.state.service = service
    return app


@contextmanager
def serving(service: Service, host: str = "127.0.0.1", start_timeout_s: float = 30.0):
    """The app around ``service`` served by uvicorn in a thread of this process on a free port of ``host``;
    yields its base URL (``http://host:port``) and stops the server on exit (tests and benchmarks)."""
    import socket
    import threading

    import uvicorn

    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(service), host=host, port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    t0 = time.perf_counter()
    while not srv.started:
        if time.perf_counter() - t0 > start_timeout_s or not th.is_alive():
            raise RuntimeError(f"ecgcls serve did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        srv.should_exit = True
        th.join(10)


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="a local web page for ECG pictures (upload, diagnosis, traces, evidence)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default="both", help="cnn1d | patchecg | pic2dx | both | a bundle path")
    p.add_argument("--rhythm", default="rhythm", help="rhythm bundle ('none' for no rhythm classes)")
    p.add_argument("--workers", type=int, default=1, help="prediction threads (uploads beyond them queue)")
    p.add_argument("--max-mb", type=float, default=25.0, help="largest upload, MB")
    p.add_argument("--max-pixels", type=int, default=40_000_000, help="largest picture, pixels")
    p.add_argument("--keep", default=None, help="copy every upload into this folder (default: keep nothing)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    import uvicorn

    service = Service(args.model, None if args.rhythm in ("none", "null", "") else args.rhythm, args.workers,
                      args.max_mb, args.max_pixels, keep=args.keep)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s: reachable from other machines", args.host)
    print(f"ecgcls serve: http://{args.host}:{args.port}/  (model {service.predictor.name}; Ctrl-C to stop)")
    try:
        uvicorn.run(create_app(service), host=args.host, port=args.port, log_level="warning")
    finally:
        service.close()
    return 0
