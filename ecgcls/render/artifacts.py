"""Seeded, reproducible artifacts that make rendered pages look scanned or photographed.

Geometric artifacts (rotation, perspective, crop) build a homography and warp the image, the ink
bitmask, every sample coordinate and every box together, so the truth stays exact. Photometric
artifacts change pixels only. Every function takes a ``numpy.random.Generator`` and a
``strength`` in [0, 1].
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import cv2
import numpy as np

from ecgcls.render.truth import Box, RenderedPage


def _apply_h(pts: np.ndarray, H: np.ndarray) -> np.ndarray:
    h = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ H.T
    return h[:, :2] / h[:, 2:3]


def warp_page(page: RenderedPage, H: np.ndarray, size: tuple[int, int] | None = None,
              border: tuple[int, int, int] | None = None) -> RenderedPage:
    """Apply the image-space homography ``H`` (3×3) to picture, mask, sample points and boxes.

    ``size`` is the output (H, W) (default: unchanged). ``border`` fills what comes from outside the
    page (default: the paper colour at the page corner).
    """
    h, w = size or page.image.shape[:2]
    if border is None:
        border = tuple(int(c) for c in page.image[2, 2])
    img = cv2.warpPerspective(page.image, H, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=border)
    mask = cv2.warpPerspective(page.mask, H, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)
    segs = [replace(s, xy=_apply_h(s.xy, H)) for s in page.segments]
    boxes = []
    for b in page.boxes:
        x0, y0, x1, y1 = b.xyxy
        c = _apply_h(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float), H)
        boxes.append(Box(b.kind, b.lead, b.row, (float(c[:, 0].min()), float(c[:, 1].min()),
                                                 float(c[:, 0].max()), float(c[:, 1].max()))))
    return replace(page, image=img, mask=mask, segments=segs, boxes=boxes, geometry=page.geometry.warped(H, (h, w)))


def rotation(page: RenderedPage, rng: np.random.Generator, strength: float = 1.0) -> RenderedPage:
    """Rotate about the centre by up to ±5°·strength, keeping the whole page in view."""
    h, w = page.image.shape[:2]
    deg = float(rng.uniform(-5, 5) * strength)
    R = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0), [0, 0, 1]])
    corners = _apply_h(np.array([[0, 0], [w, 0], [w, h], [0, h]], float), R)
    nw, nh = int(np.ceil(np.ptp(corners[:, 0]))), int(np.ceil(np.ptp(corners[:, 1])))
    T = np.array([[1, 0, (nw - w) / 2], [0, 1, (nh - h) / 2], [0, 0, 1]], float)
    return warp_page(page, T @ R, (nh, nw))


def rotation_clip(page: RenderedPage, rng: np.random.Generator, strength: float = 1.0) -> RenderedPage:
    """Rotate about the centre by a whole number of degrees up to ±5·strength on the same canvas, corners cut off
    and filled black (what image augmenters such as imgaug's ``Affine`` do by default)."""
    h, w = page.image.shape[:2]
    deg = float(rng.integers(-5, 6)) * strength
    R = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0), [0, 0, 1]])
    return warp_page(page, R, (h, w), border=(0, 0, 0))


def perspective(page: RenderedPage, rng: np.random.Generator, strength: float = 1.0) -> RenderedPage:
    """A phone-photo perspective: page corners moved inward by up to 8 %·strength, on a darker table."""
    h, w = page.image.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    jitter = rng.uniform(0, 0.08 * strength, (4, 2)) * [w, h]
    pad = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float32)
    dst = (src + pad * jitter).astype(np.float32)
    H = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
    table = tuple(int(v) for v in rng.integers(40, 120, 3))
    return warp_page(page, H, border=table)


def crop(page: RenderedPage, rng: np.random.Generator, strength: float = 1.0) -> RenderedPage:
    """Cut up to 10 %·strength off each side (partial pictures); truth outside becomes off-image."""
    h, w = page.image.shape[:2]
    l, t, r, b = rng.uniform(0, 0.10 * strength, 4) * [w, h, w, h]
    nh, nw = int(h - t - b), int(w - l - r)
    T = np.array([[1, 0, -l], [0, 1, -t], [0, 0, 1]], float)
    return warp_page(page, T, (nh, nw))


# ---- photometric ----------------------------------------------------------------------------------
def _pix(page: RenderedPage, img: np.ndarray) -> RenderedPage:
    return replace(page, image=np.clip(img, 0, 255).astype(np.uint8))


def blur(page, rng, strength=1.0):
    """Gaussian blur, sigma up to 1.5 px·strength (defocus)."""
    s = float(rng.uniform(0.4, 0.4 + 1.1 * strength))
    return replace(page, image=cv2.GaussianBlur(page.image, (0, 0), s))


def noise(page, rng, strength=1.0):
    """Sensor noise: Gaussian, sd up to 10 grey levels·strength."""
    sd = float(rng.uniform(2, 2 + 8 * strength))
    h, w = page.image.shape[:2]
    n = (rng.standard_normal((h, w), dtype=np.float32) * sd)[..., None]  # luminance noise
    return _pix(page, page.image.astype(np.float32) + n)


def jpeg(page, rng, strength=1.0):
    """JPEG round trip at quality 95 down to 35 (strength 1)."""
    q = int(95 - rng.uniform(0, 60 * strength))
    ok, buf = cv2.imencode(".jpg", page.image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return replace(page, image=np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]))


def _smooth_field(rng, h, w, cells=4):
    f = rng.uniform(0, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC)


def lighting(page, rng, strength=1.0):
    """Uneven light: a smooth brightness field (±25 %·strength) plus a warm/cool colour cast."""
    h, w = page.image.shape[:2]
    field = 1.0 - 0.25 * strength * _smooth_field(rng, h, w)
    cast = 1.0 + rng.uniform(-0.06, 0.06, 3).astype(np.float32) * strength
    return _pix(page, page.image.astype(np.float32) * field[..., None] * cast)


def _lowres_blob_field(rng, h, w, draw, sigma_frac: float, k: int = 8) -> np.ndarray:
    """A smooth [0, 1] field: ``draw(canvas, rng)`` paints shapes at 1/k resolution, blurred, resized up."""
    small = np.zeros((max(2, h // k), max(2, w // k)), np.float32)
    draw(small, rng)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, sigma_frac * max(small.shape)))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def shadow(page, rng, strength=1.0):
    """A soft shadow (a hand or phone) over a random polygon."""
    h, w = page.image.shape[:2]

    def draw(c, rng):
        ch, cw = c.shape
        cx, cy = rng.uniform(0, cw), rng.uniform(0, ch)
        pts = np.stack([cx + rng.uniform(-0.5, 0.5, 5) * cw, cy + rng.uniform(-0.5, 0.5, 5) * ch], 1).astype(np.int32)
        cv2.fillPoly(c, [cv2.convexHull(pts)], 1.0)

    m = _lowres_blob_field(rng, h, w, draw, 0.03)
    return _pix(page, page.image.astype(np.float32) * (1 - 0.45 * strength * m)[..., None])


def crease(page, rng, strength=1.0):
    """Folds and wrinkles: 1–3 lines with a bright/dark edge and a little local blur."""
    img = page.image.astype(np.float32)
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        vertical = rng.random() < 0.5
        a, b = (rng.uniform(0.2, 0.8) * (w if vertical else h)), rng.uniform(-0.05, 0.05)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        d = (xx - (a + b * yy)) if vertical else (yy - (a + b * xx))
        prof = np.exp(-(d / 3.0) ** 2) * 0.25 * strength - np.exp(-((d - 4) / 4.0) ** 2) * 0.2 * strength
        img *= (1 + prof)[..., None]
    return _pix(page, img)


def stain(page, rng, strength=1.0):
    """Coffee-like stains: 1–3 translucent brownish blobs."""
    img = page.image.astype(np.float32)
    h, w = img.shape[:2]

    def draw(c, rng):
        ch, cw = c.shape
        for _ in range(int(rng.integers(1, 4))):
            ctr = (int(rng.uniform(0, cw)), int(rng.uniform(0, ch)))
            ax = (max(1, int(rng.uniform(0.03, 0.12) * cw)), max(1, int(rng.uniform(0.03, 0.12) * ch)))
            cv2.ellipse(c, ctr, ax, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)

    m = _lowres_blob_field(rng, h, w, draw, 0.004) * 0.35 * strength
    tint = np.array([180, 140, 90], np.float32)
    return _pix(page, img * (1 - m[..., None]) + tint * m[..., None])


def fade(page, rng, strength=1.0):
    """Faded thermal ink: everything moves up to 60 %·strength towards the paper colour."""
    k = float(rng.uniform(0.2, 0.2 + 0.4 * strength))
    paper = np.median(page.image[::16, ::16].reshape(-1, 3), axis=0)
    target = np.empty_like(page.image)
    target[:] = paper.astype(np.uint8)
    return replace(page, image=cv2.addWeighted(page.image, 1 - k, target, k, 0.0))


def grayscale(page, rng, strength=1.0):
    """Grey photocopy (all three channels equal)."""
    g = cv2.cvtColor(page.image, cv2.COLOR_RGB2GRAY)
    return replace(page, image=np.repeat(g[..., None], 3, axis=2))


def bw(page, rng, strength=1.0):
    """Black-and-white fax/scan: adaptive threshold (the grid mostly disappears)."""
    g = cv2.cvtColor(page.image, cv2.COLOR_RGB2GRAY)
    block = int(max(15, (g.shape[1] // 60) | 1))
    b = cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 25)
    return replace(page, image=np.repeat(b[..., None], 3, axis=2))


def wrinkle(page, rng, strength=1.0):
    """Crumpled paper, scanned: a multi-scale relief lit from one side (bright and dark ridges), dark blotches
    where the paper folds away from the glass (up to 70 % darker, as in ecg-image-kit's wrinkle textures) and
    1–5 thin creases at any angle."""
    h, w = page.image.shape[:2]
    relief = np.zeros((h, w), np.float32)
    for cells, amp in ((3, 1.0), (7, 0.7), (18, 0.4), (45, 0.2)):
        relief += amp * (_smooth_field(rng, h, w, cells) - 0.5)
    gy, gx = np.gradient(cv2.GaussianBlur(relief, (0, 0), 1.5))
    a = rng.uniform(0, 2 * np.pi)
    shade = np.clip((np.cos(a) * gx + np.sin(a) * gy) * max(h, w) / 40.0, -1, 1) * 0.25 * strength
    cut = np.quantile(relief[::8, ::8], rng.uniform(0.55, 0.85))
    blot = np.clip((relief - cut) / (np.ptp(relief) * 0.25 + 1e-6), 0, 1) * rng.uniform(0.3, 0.7) * strength
    img = page.image.astype(np.float32) * ((1 + shade) * (1 - blot))[..., None]
    for _ in range(int(rng.integers(1, 6))):  # thin creases at any angle: dark hairline with a bright edge
        ang, off = rng.uniform(0, np.pi), rng.uniform(-0.4, 0.4) * min(h, w)
        yy, xx = np.mgrid[0:h:1, 0:w:1].astype(np.float32)
        d = (xx - w / 2) * np.sin(ang) - (yy - h / 2) * np.cos(ang) - off
        img *= (1 - 0.35 * strength * np.exp(-(d / 1.2) ** 2) + 0.12 * strength * np.exp(-((d - 3) / 3.0) ** 2))[..., None]
    return _pix(page, img)


def colorcast(page, rng, strength=1.0):
    """A strong colour temperature (candle-warm or blue shade), as other generators and cheap cameras give."""
    warm = rng.random() < 0.5
    k = float(rng.uniform(0.3, 1.0) * strength)
    gains = np.array([1.0, 1 - 0.25 * k, 1 - 0.55 * k] if warm else [1 - 0.45 * k, 1 - 0.2 * k, 1.0], np.float32)
    return _pix(page, page.image.astype(np.float32) * gains)


def blackbody_rgb(kelvin: float) -> np.ndarray:
    """Approximate sRGB colour (0–1, float32 (3,)) of a black body at ``kelvin`` (1000–40000 K), relative to
    6500 K: a curve fit to the Planckian locus (red, green, blue as power / log laws of T/100)."""
    def raw(k):
        t = np.clip(k, 1000.0, 40000.0) / 100.0
        r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
        g = 99.4708025861 * np.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
        b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * np.log(t - 10) - 305.0447927307)
        return np.clip(np.array([r, g, b], np.float64), 0, 255)

    return (raw(kelvin) / raw(6500.0)).astype(np.float32)


def temperature(page, rng, strength=1.0):
    """Strong white-balance error: the page lit by a black body at 2000–4000 K (orange, blue nearly gone) or
    10000–20000 K (blue), as other generators' colour-temperature augmentation gives."""
    k = rng.uniform(2000, 4000) if rng.random() < 0.5 else rng.uniform(10000, 20000)
    k = 6500 + (k - 6500) * strength
    return _pix(page, page.image.astype(np.float32) * blackbody_rgb(k))


def paper_texture(page, rng, strength=1.0):
    """Crumpled paper photographed flat: a ridged multi-scale texture (fine dark crease lines, mean near 40 %
    grey) hard-light blended over the page — darkens it by ~20 % overall and draws crease lines up to 80 %
    darker, which a darkness threshold takes for ink (as ecg-image-kit's wrinkle textures do)."""
    h, w = page.image.shape[:2]
    tex = np.zeros((h, w), np.float32)
    for cells, amp in ((4, 0.5), (9, 0.8), (20, 1.0), (45, 0.6)):
        f = _smooth_field(rng, h, w, cells)
        tex += amp * np.abs(2 * f - 1) ** 0.5  # ridges where the field crosses its middle: thin dark lines
    tex = (tex - tex.mean()) / (tex.std() + 1e-6)
    tex = np.clip(0.4 + tex * rng.uniform(0.08, 0.16) * strength + 0.1 * (1 - strength), 0, 1)[..., None]
    img = page.image.astype(np.float32) / 255.0
    out = np.where(tex < 0.6, 2 * img * tex, 1 - 2 * (1 - img) * (1 - tex))
    k = 0.5 + 0.5 * strength  # blend with the original: strength 1 is the full effect
    return _pix(page, 255.0 * (k * out + (1 - k) * img))


def heavy_noise(page, rng, strength=1.0):
    """Strong per-channel sensor noise, sd up to 20 grey levels·strength (poor scanners, dark photos)."""
    sd = float(rng.uniform(5, 5 + 15 * strength))
    n = rng.standard_normal(page.image.shape, dtype=np.float32) * sd
    return _pix(page, page.image.astype(np.float32) + n)


def low_jpeg(page, rng, strength=1.0):
    """JPEG round trip at quality 20–60 (messaging apps, e-mailed scans)."""
    q = int(rng.uniform(20, 60))
    ok, buf = cv2.imencode(".jpg", page.image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return replace(page, image=np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]))


ArtifactFn = Callable[[RenderedPage, np.random.Generator, float], RenderedPage]
#: in the order they are applied (paper first, then photo geometry, then camera)
ARTIFACTS: dict[str, ArtifactFn] = {
    "fade": fade, "stain": stain, "crease": crease, "rotation": rotation, "perspective": perspective,
    "crop": crop, "lighting": lighting, "shadow": shadow, "blur": blur, "noise": noise, "grayscale": grayscale,
    "bw": bw, "jpeg": jpeg,
}
#: the artifacts RenderConfig.random draws from (kept fixed so its pages stay reproducible)
CLASSIC_ARTIFACTS: tuple[str, ...] = tuple(ARTIFACTS)
#: more, used by RenderConfig.randomized (domain randomization) and selectable by name
for _name, _fn, _before in (("wrinkle", wrinkle, "rotation"), ("paper_texture", paper_texture, "rotation"),
                            ("rotation_clip", rotation_clip, "perspective"), ("colorcast", colorcast, "blur"),
                            ("temperature", temperature, "blur"), ("heavy_noise", heavy_noise, "grayscale"),
                            ("low_jpeg", low_jpeg, None)):
    _items = list(ARTIFACTS.items())
    _at = [k for k, _ in _items].index(_before) if _before else len(_items)
    ARTIFACTS = dict(_items[:_at] + [(_name, _fn)] + _items[_at:])
PRESETS: dict[str, tuple[str, ...]] = {
    "clean": (),
    "scan": ("rotation", "noise", "jpeg"),
    "photo": ("crease", "perspective", "lighting", "shadow", "blur", "noise", "jpeg"),
    "all": tuple(a for a in CLASSIC_ARTIFACTS if a != "bw"),
    "foreign": ("wrinkle", "rotation", "colorcast", "heavy_noise", "jpeg"),
    # what image-augmenting generators do on top (textured paper, clipped rotation with black corners, strong
    # colour temperature, heavy noise, JPEG)
    "augmented": ("paper_texture", "crease", "rotation_clip", "temperature", "heavy_noise", "jpeg"),
}


def expand(names: Sequence[str]) -> tuple[str, ...]:
    """Expand presets and check names; returns artifact names in application order."""
    want: set[str] = set()
    for n in names:
        if n in PRESETS:
            want |= set(PRESETS[n])
        elif n in ARTIFACTS:
            want.add(n)
        else:
            raise ValueError(f"unknown artifact {n!r}; choose from {', '.join([*ARTIFACTS, *PRESETS])}")
    return tuple(a for a in ARTIFACTS if a in want)


def apply_artifacts(page: RenderedPage, names: Sequence[str], rng: np.random.Generator,
                    strength: float = 1.0) -> RenderedPage:
    """Apply artifacts (and presets) in :data:`ARTIFACTS` order."""
    for name in expand(names):
        page = ARTIFACTS[name](page, rng, strength)
    return page


__all__ = ["ARTIFACTS", "CLASSIC_ARTIFACTS", "PRESETS", "apply_artifacts", "expand", "warp_page"]
