"""Load ECG pictures safely: PNG, JPEG, BMP, TIFF, GIF (first frame) and PDF pages, EXIF-rotated.

Every failure raises :class:`ImageError` whose message says what is wrong with which file.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}
PDF_EXTS = {".pdf"}
MAX_PIXELS = 80_000_000  # larger pictures are refused as decompression bombs
MIN_SIDE = 64


class ImageError(ValueError):
    """A picture that cannot be used, with the reason."""


def find_pictures(root: str | Path) -> list[Path]:
    """All picture and PDF files below ``root`` (or ``root`` itself), sorted."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS | PDF_EXTS)


def _to_rgb(im: Image.Image, where: str) -> np.ndarray:
    ImageOps.exif_transpose(im, in_place=True)  # (the decoded picture is ours: no copy of a 200 DPI page)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        hi = arr.max() if arr.size else 1
        arr = (arr / (65535.0 if hi > 255 else 255.0) * 255.0).clip(0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        arr = (arr - arr.min()) / max(1e-9, np.ptp(arr)) * 255
        return np.repeat(arr.astype(np.uint8)[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return np.asarray(im if im.mode == "RGB" else im.convert("RGB"), dtype=np.uint8)


def _check(arr: np.ndarray, where: str) -> np.ndarray:
    h, w = arr.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageError(f"{where}: picture is {w}x{h} px, too small to hold an ECG (need >= {MIN_SIDE} px a side)")
    if int(arr.max()) - int(arr.min()) < 16:
        raise ImageError(f"{where}: picture is blank (a single flat colour)")
    return arr


def _open_image(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            old = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
            try:
                im = Image.open(path)
                im.load()
            finally:
                Image.MAX_IMAGE_PIXELS = old
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path}: refused as a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: truncated or corrupt image ({exc})") from None
    return im


def load_pages(path: str | Path, dpi: float = 200.0, max_pages: int | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(name, RGB uint8 (H, W, 3))`` for a picture (one item; GIF: first frame) or each PDF page.

    ``name`` is the path, with ``#page=N`` (1-based) for PDF pages. Raises :class:`ImageError`.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file")
    if path.suffix.lower() in PDF_EXTS:
        yield from _pdf_pages(path, dpi, max_pages)
        return
    im = _open_image(path)
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)
    yield str(path), _check(_to_rgb(im, str(path)), str(path))


def load_image(path: str | Path, dpi: float = 200.0) -> np.ndarray:
    """The picture (first page of a PDF) as RGB uint8 (H, W, 3)."""
    return next(iter(load_pages(path, dpi, max_pages=1)))[1]


def open_pdf(path: str | Path):
    """An open ``pypdfium2.PdfDocument`` with at least one page (close it), or :class:`ImageError` saying why not:
    password-protected, no pages, or not a readable PDF."""
    path = Path(path)
    try:
        import pypdfium2 as pdfium
    except ImportError as exc:  # pragma: no cover
        raise ImageError(f"{path}: reading PDFs needs pypdfium2 ({exc})") from None
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        if "password" in msg.lower():
            raise ImageError(f"{path}: PDF is password-protected") from None
        head = path.read_bytes()[:200_000]
        if b"/Count 0" in head and b"/Type /Page " not in head and b"/Type/Page " not in head:
            raise ImageError(f"{path}: PDF has no pages") from None
        raise ImageError(f"{path}: not a readable PDF ({msg})") from None
    if len(pdf) == 0:
        pdf.close()
        raise ImageError(f"{path}: PDF has no pages")
    return pdf


def _pdf_pages(path: Path, dpi: float, max_pages: int | None) -> Iterator[tuple[str, np.ndarray]]:
    pdf = open_pdf(path)
    try:
        n = len(pdf)
        for i in range(n if max_pages is None else min(n, max_pages)):
            page = pdf[i]
            w_pt, h_pt = page.get_size()
            scale = dpi / 72.0
            if w_pt * h_pt * scale * scale > MAX_PIXELS:
                scale = (MAX_PIXELS / (w_pt * h_pt)) ** 0.5
            name = f"{path}#page={i + 1}"
            yield name, _check(_to_rgb(page.render(scale=scale).to_pil(), name), name)
    finally:
        pdf.close()
