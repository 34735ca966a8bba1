"""Page geometry from pixels: ink vs. paper, skew angle, grid spacing (px per mm).

All functions are pure: arrays in, numbers/arrays out. Images are RGB uint8 (H, W, 3).
"""
from __future__ import annotations

import cv2
import numpy as np


def channel_max(image: np.ndarray) -> np.ndarray:
    """The brightest channel of an RGB picture (itself for a grey one), same dtype. (Three planes compared
    element-wise: ~25x faster than ``image.max(axis=2)``, which reduces along the innermost, 3-long axis.)"""
    if image.ndim != 3:
        return image
    return np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2])


def channel_min(image: np.ndarray) -> np.ndarray:
    """The darkest channel of an RGB picture (itself for a grey one), same dtype."""
    if image.ndim != 3:
        return image
    return np.minimum(np.minimum(image[..., 0], image[..., 1]), image[..., 2])


def darkness(image: np.ndarray, bg_px: int = 31) -> np.ndarray:
    """Relative darkness in [0, 1] (float32 (H, W)) against the local paper brightness.

    Uses the brightest channel (coloured grid lines stay bright in their own colour, black ink does not),
    divided by a local paper estimate (a grey dilation over ``bg_px``), so shadows and uneven light
    cancel out.
    """
    v = channel_max(image)
    h, w = v.shape
    f = 4  # the paper estimate is smooth: compute it at 1/4 resolution
    small = cv2.resize(v, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    k = max(3, bg_px // f) | 1
    bg = cv2.blur(cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))), (k, k))
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    out = 1.0 - v.astype(np.float32) / np.maximum(bg, 1.0)
    return np.clip(out, 0.0, 1.0, out=out)


def tint_darkness(image: np.ndarray, bg_px: int = 31) -> np.ndarray:
    """:func:`darkness` of the darkest channel (float32 (H, W) in [0, 1]), for measuring a grid only.

    :func:`darkness` reads the brightest channel so that a coloured grid never passes for ink; a grid printed in
    a saturated colour (pink or red lines that keep one channel at paper white, as many PDF exports draw them)
    then has no darkness at all. In the darkest channel it shows."""
    return darkness(channel_min(image), bg_px)


def local_contrast(dark: np.ndarray, k: int) -> np.ndarray:
    """How much darker each pixel is than the paper on *both* sides of it within ``k`` px, across a vertical
    (left and right) or a horizontal (above and below) line through it — the larger of the two (float32 (H, W)).

    A pen stroke narrower than ``k`` px has lighter paper on both sides and keeps its full darkness; a broad
    shadow, stain or wrinkle valley has none nearby, and the rim of one has paper on one side only — both drop
    to about zero.
    """
    d = np.asarray(dark, np.float32)
    out = np.zeros_like(d)
    if k < 2:
        return out
    for axis, ker in ((1, np.ones((1, k), np.uint8)), (0, np.ones((k, 1), np.uint8))):
        # the minimum over the k px from each pixel rightwards (downwards): one erosion anchored at the kernel's
        # start; the minimum over the k px leftwards (upwards) is the same array moved by k - 1 px, with a running
        # minimum where the window reaches past the picture's first column (row) — the replicated border
        ahead = cv2.erode(d, ker, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
        behind = np.empty_like(d)
        lead = min(k - 1, d.shape[axis])
        # (spelled out per axis: np.moveaxis views serving both cost ~8 ms more a 200 DPI page, copying through a
        # transposed view)
        if axis == 1:
            behind[:, :lead] = np.minimum.accumulate(d[:, :lead], axis=1)
            behind[:, lead:] = ahead[:, :d.shape[1] - lead]
        else:
            behind[:lead] = np.minimum.accumulate(d[:lead], axis=0)
            behind[lead:] = ahead[:d.shape[0] - lead]
        np.maximum(ahead, behind, out=ahead)
        np.subtract(d, ahead, out=ahead)
        np.maximum(out, ahead, out=out)
    return out


def stroke_window(ink: np.ndarray, ppm_guess: float) -> int:
    """Window (odd px) for :func:`local_contrast` from the pen: twice the typical thickness of the ink's vertical
    runs (median of runs up to 2 mm: flat stretches of trace, not QRS strokes) plus 3 px, at least 5 px and at
    least 0.8 mm at ``ppm_guess`` px/mm. Blurred photos have thicker strokes and get a wider window."""
    from ecgcls.digitize.trace import column_runs

    _, y0, y1 = column_runs(ink[:, ::4], 0)  # every 4th column is plenty
    runs = (y1 - y0)[(y1 - y0) <= max(3, 2.0 * ppm_guess)]
    pen = float(np.median(runs)) if runs.size else 2.0
    k = int(round(max(5.0, 2.0 * pen + 3.0, 0.8 * ppm_guess)))
    return k | 1


def keep_strokes(ink: np.ndarray, contrasted: np.ndarray, k: int) -> np.ndarray:
    """Ink (bool (H, W)) without its broad low-contrast parts: pixels not ``contrasted`` (see
    :func:`local_contrast`) are dropped unless contrasted ink lies on both sides within ``k`` px along the row —
    the pale sliver between a spike's up- and down-stroke stays, a wrinkle wider than ``k`` goes."""
    passing = (ink & contrasted).astype(np.uint8)
    refill = cv2.morphologyEx(passing, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 1))) > 0
    return ink & (contrasted | refill)


def outside_page(image: np.ndarray, min_frac: float = 0.002) -> np.ndarray | None:
    """Where the picture shows no paper at all (bool (H, W)), or None: near-black regions that touch the
    picture's border and cover at least ``min_frac`` of it — the corners an augmenter or a scanner fills black
    when it rotates a page on a canvas of the same size. Their edges are not trace; their inside is not paper.
    """
    v = channel_max(image)
    h, w = v.shape
    s = min(1.0, 600.0 / max(h, w))  # a cheap, blurred low-resolution look (noise in the fill averages out)
    small = cv2.GaussianBlur(cv2.resize(v, (max(8, int(w * s)), max(8, int(h * s))), interpolation=cv2.INTER_AREA),
                             (5, 5), 0)
    paper = float(np.percentile(small, 90))
    dark = (small < 0.3 * paper).astype(np.uint8)
    border = _border_pixels(dark)
    if not border.any():
        return None
    n, lab, stats, _ = cv2.connectedComponentsWithStats(dark, 8)
    edge = np.zeros(n, bool)
    edge[np.unique(_border_pixels(lab))] = True
    edge[0] = False
    edge &= stats[:, cv2.CC_STAT_AREA] >= min_frac * dark.size
    if not edge.any():
        return None
    void = cv2.dilate(edge[lab].astype(np.uint8), np.ones((5, 5), np.uint8))  # and the blurred rim
    return cv2.resize(void, (w, h), interpolation=cv2.INTER_NEAREST) > 0


def line_background(dark: np.ndarray, bands: int = 4, max_samples: int = 256, q: float = 0.15
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Darkness of straight horizontal and of vertical lines running across the (de-skewed) page — grid lines —
    as two float32 (H, W) maps: per row, the darkness that ``1 - q`` of the row's pixels within each of
    ``bands`` vertical bands of the page reach (the ``q`` quantile: horizontal lines); per column, within
    ``bands`` horizontal bands (vertical lines).

    A grid line is dark along its whole length, so nearly all of its row reaches its own darkness; the trace
    covers only part of any row of a band (a flat baseline would have to stay on one pixel row for
    ``1 - q`` of a quarter of the page), so that row's quantile is the paper's. Subtracting these maps keeps the
    trace and removes a grid however dark it is printed (some generators draw it as dark as the trace). The
    quantile is taken over at most ``max_samples`` evenly spaced pixels per row (column) of a band.
    """
    h, w = dark.shape
    hor = np.empty((h, w), np.float32)
    ver = np.empty((h, w), np.float32)
    xs = np.linspace(0, w, bands + 1).astype(int)
    for a, b in zip(xs[:-1], xs[1:]):
        step = max(1, (b - a) // max_samples)
        hor[:, a:b] = _row_quantile(dark[:, a:b:step], q)[:, None]
    ys = np.linspace(0, h, bands + 1).astype(int)
    for a, b in zip(ys[:-1], ys[1:]):
        step = max(1, (b - a) // max_samples)
        ver[a:b] = _row_quantile(np.ascontiguousarray(dark[a:b:step].T), q)[None, :]
    return hor, ver


def _row_quantile(a: np.ndarray, q: float) -> np.ndarray:
    """``np.quantile(a, q, axis=1)`` (linear method), equal to it bit for bit, ~4x faster on float32 rows: one
    partition at the upper neighbour of the q-th position and a max below it, instead of numpy's partition at
    both neighbours and the array's ends (~15 % of a page's digitization time went there)."""
    n = a.shape[1]
    v = (n - 1) * q
    k = int(np.floor(v))
    t = float(v - k)
    if k + 1 >= n:
        return np.partition(a, n - 1, axis=1)[:, n - 1]
    p = np.partition(a, k + 1, axis=1)
    hi, lo = p[:, k + 1], p[:, :k + 1].max(axis=1)
    d = hi - lo
    return hi - d * (1 - t) if t >= 0.5 else lo + d * t  # numpy's lerp, both branches


def remove_lines(dark: np.ndarray, bands: int = 4) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Darkness with the straight page-long lines subtracted (clipped to [0, 1]) and the lines' darkness
    (:func:`line_background`: horizontal, vertical), all float32 (H, W)."""
    hor, ver = line_background(dark, bands)
    out = dark.astype(np.float32) - np.maximum(hor, ver)
    return np.clip(out, 0.0, 1.0, out=out), (hor, ver)


def bridge_lines(ink: np.ndarray, dark: np.ndarray, lines: tuple[np.ndarray, np.ndarray], threshold: float,
                 gap_px: int = 3) -> np.ndarray:
    """Ink (bool (H, W)) with the gaps a removed grid line cut into the trace closed again: a pixel on a
    horizontal (vertical) grid line that is itself darker than the ink ``threshold`` becomes ink where a
    vertical (horizontal) closing over ``gap_px`` px of the ink reaches it — across the line, never along it."""
    out = ink.copy()
    u8 = ink.astype(np.uint8)
    for line, kshape in ((lines[0], (1, 2 * gap_px + 1)), (lines[1], (2 * gap_px + 1, 1))):
        on_line = (line > 0.5 * threshold) & (dark > threshold)
        if on_line.any():
            k = cv2.getStructuringElement(cv2.MORPH_RECT, kshape)
            out |= (cv2.morphologyEx(u8, cv2.MORPH_CLOSE, k) > 0) & on_line
    return out


def ink_threshold(dark: np.ndarray) -> float:
    """Darkness above which a pixel is trace ink: Otsu among clearly non-paper pixels, kept in [0.3, 0.55]."""
    vals = dark[dark > 0.15]
    if vals.size < 100:
        return 0.5
    hist = np.histogram(vals, bins=64, range=(0.15, 1.0))[0].astype(np.float64)
    centers = np.linspace(0.15, 1.0, 65)[:-1] + (0.85 / 128)
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centers) - np.cumsum(hist * centers)) / np.maximum(w1, 1)
    t = float(centers[int(np.argmax(w0 * w1 * (m0 - m1) ** 2))])
    return float(np.clip(t, 0.3, 0.55))


def _rotate(img: np.ndarray, deg: float, border=0) -> np.ndarray:
    h, w = img.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    return cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def estimate_skew(dark: np.ndarray, max_deg: float = 8.0) -> float:
    """Angle (degrees, OpenCV's sign convention) that makes grid lines and baselines horizontal.

    Maximises the variance of the row-sum profile over candidate rotations of a downscaled
    darkness image (0.5° steps on a half-size copy, then 0.1° and 0.02°), as uint8 for speed.
    """
    h, w = dark.shape
    s = min(1.0, 500.0 / max(h, w))
    small = cv2.resize(dark, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
    small = np.clip(small * 255.0, 0, 255).astype(np.uint8)

    coarse = cv2.resize(small, (small.shape[1] // 2, small.shape[0] // 2), interpolation=cv2.INTER_AREA)

    def score(img: np.ndarray, a: float) -> float:
        prof = cv2.reduce(_rotate(img, a), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel().astype(np.float64)
        return float(np.var(np.diff(prof)))

    best = 0.0
    # coarse to fine; the coarse pass on a half-size copy (its 0.5° steps move a line end by < 1 px there)
    for img, step, half in ((coarse, 0.5, max_deg), (small, 0.1, 0.5), (small, 0.02, 0.1)):
        cands = best + np.arange(-half, half + 1e-9, step)
        best = float(cands[int(np.argmax([score(img, a) for a in cands]))])
    return best


def deskew(image: np.ndarray, deg: float, border=(255, 255, 255)) -> np.ndarray:
    """Rotate an image by ``deg`` about its centre, filling with ``border`` (white paper for RGB; pass 0.0
    for a darkness map)."""
    if abs(deg) < 1e-3:
        return image
    return _rotate(image, deg, border=border)


def _line_profile(profile: np.ndarray, max_line_px: int = 15) -> np.ndarray:
    """Keep only narrow peaks of a 1-D darkness profile (a white top-hat): grid lines survive, slow trends
    (shadows, wrinkles, a colour cast, uneven light) do not."""
    k = max(3, int(max_line_px)) | 1
    from scipy.ndimage import grey_opening

    return profile - grey_opening(profile, size=k, mode="nearest")


def _autocorr(profile: np.ndarray) -> np.ndarray:
    p = profile - profile.mean()
    n = len(p)
    f = np.fft.rfft(p, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    return ac / ac[0] if ac[0] > 0 else np.zeros(n)


def _vertex(y: np.ndarray):
    """Offset (in samples, from the middle one) of the vertex of the parabola through three samples around a
    peak; 0 where they are collinear."""
    y0, y1, y2 = y[0], y[1], y[2]
    den = y0 - 2 * y1 + y2
    return 0.5 * (y0 - y2) / den if den != 0 else 0.0


def _period(profile: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Fundamental period in [lo, hi] px of a 1-D grid profile (with its strength 0..1).

    Autocorrelation of the profile smoothed by 1 px (so a period that is not a whole number of pixels still
    lines up at its own lag); the strongest local maximum is taken, then its shortest sub-multiple (1/2 ..
    1/5, repeatedly) that is nearly as strong, so a grid is never read at twice (or five times) its pitch because its
    lines fall on whole pixels only every other period.
    """
    from scipy.ndimage import gaussian_filter1d

    ac = _autocorr(gaussian_filter1d(profile.astype(np.float64), 1.0))
    n = len(ac)
    lo_i, hi_i = max(2, int(lo)), min(n // 3, int(np.ceil(hi)))
    if hi_i <= lo_i + 2:
        return 0.0, 0.0
    peaks = [k for k in range(lo_i, hi_i) if ac[k] >= ac[k - 1] and ac[k] >= ac[k + 1] and ac[k] > 0]
    if not peaks:
        return 0.0, 0.0
    k = max(peaks, key=lambda i: ac[i])
    shrunk = True
    while shrunk:  # again from each sub-multiple: a strong grid's 20 mm lag may win, then 10, 5, 1 mm follow
        shrunk = False
        for d in (5, 4, 3, 2):
            near = [i for i in peaks if abs(i - k / d) <= 1.0]
            if near and ac[max(near, key=lambda i: ac[i])] >= 0.8 * ac[k]:
                k = max(near, key=lambda i: ac[i])
                shrunk = True
                break
    return float(k + np.clip(_vertex(ac[k - 1:k + 2]), -0.5, 0.5)), float(ac[k])


def _refine(profile: np.ndarray, period: float, mult: int = 10) -> float:
    """Sub-pixel period: parabolic peak of the autocorrelation near ``mult`` periods, divided by ``mult``."""
    p = profile - profile.mean()
    n = len(p)
    f = np.fft.rfft(p, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    lag = int(round(period * mult))
    win = max(2, int(period * 0.3))
    a, b = lag - win, lag + win + 1
    if a < 2 or b + 1 >= n // 2:
        return period
    k = a + int(np.argmax(ac[a:b]))
    new = float((k + _vertex(ac[k - 1:k + 2])) / mult)
    return new if abs(new / period - 1) < 0.05 else period


def refine_pitch(profile: np.ndarray, ppm: float, span: float = 0.002, steps: int = 9) -> float:
    """Grid pitch (px per mm) to a few parts in 10⁵ from a line profile and a close estimate ``ppm``.

    The autocorrelation peaks that :func:`_refine` reads are biased toward whole-pixel lags (a grid line is
    drawn on whole pixels), ~0.03 % here, which over a 250 mm trace moves late samples by half a pixel. This
    fits the whole profile instead: the pitch that maximises the summed power of the 5 mm grid's first five
    harmonics (5, 2.5, … 1 mm periods) of the discrete-time Fourier transform, searched within ±``span``
    (relative) of ``ppm`` in ``steps`` steps (the peak's main lobe is far wider than that span on any page of a
    few hundred millimetres: 9 steps find the peak 81 do), parabolic sub-step peak. Line positions rounded to
    pixels only jitter the phase, so the peak stays unbiased. Returns ``ppm`` when the search peaks at its edge
    (no clear optimum).
    """
    p = np.asarray(profile, np.float64)
    p = (p - p.mean()).astype(np.complex128)
    x = np.arange(len(p), dtype=np.float64)
    cand = ppm * (1 + np.linspace(-span, span, steps))
    power = np.zeros(steps)
    base = np.exp(-2j * np.pi * np.outer(1.0 / (5.0 * cand), x))  # harmonic k is base ** k
    ph = base.copy()
    for _ in range(5):  # (einsum, not @: a 9 × N product is not worth BLAS's threads, whose spinning costs more)
        power += np.abs(np.einsum("ij,j->i", ph, p)) ** 2
        ph *= base
    i = int(np.argmax(power))
    if i == 0 or i == steps - 1:
        return ppm
    off = float(np.clip(_vertex(power[i - 1:i + 2]), -0.5, 0.5))
    return float(ppm * (1 + span * (2 * (i + off) / (steps - 1) - 1)))


def grid_spacing(image: np.ndarray | None, ink: np.ndarray | None = None, page_mm: tuple[float, float] = (100.0, 450.0),
                 dark: np.ndarray | None = None) -> tuple[float | None, float | None, float]:
    """Grid pitch as px per mm on (x, y), or None where no grid is seen, plus a strength in [0, 1].

    The grid shows as faint periodic lines (coloured or grey): we take the darkness of non-ink pixels,
    average it along each axis and find the period by autocorrelation. A 5 mm (major-only) period is
    told from a 1 mm one by the page width it implies (``page_mm`` range). ``image`` may be None when ``dark``
    (its :func:`darkness`) is given.
    """
    if dark is None:
        if image is None:
            raise ValueError("grid_spacing needs the picture or its darkness map")
        dark = darkness(image)
    if ink is not None:  # what is dark but not a page-long line (trace, text) is given: the grid may be dark
        dark = np.where(ink, 0.0, dark)
    else:
        dark = np.where(dark > 0.6, 0.0, dark)  # ink / text
    h, w = dark.shape
    out, strengths = [], []
    for prof, size in ((dark.mean(axis=0), w), (dark.mean(axis=1), h)):
        prof = _line_profile(prof, max(7, min(h, w) // 100))
        per, strength = _period(prof, 2.5, 130.0)
        if per <= 0 or strength < 0.15:
            out.append(None)
            strengths.append(strength)
            continue
        ppm = None
        for mm in (1.0, 5.0):
            cand = per / mm
            if page_mm[0] <= size / cand <= page_mm[1]:
                ppm = cand
                break
        if ppm is not None:
            for mult in (2, 5, 10, 25, 50):  # coarse-to-fine: each step's error stays inside the next window
                if size > ppm * mult * 2.5:
                    ppm = _refine(prof, ppm, mult=mult)
            ppm = refine_pitch(prof, ppm)
        out.append(ppm)
        strengths.append(strength)
    # a grid is square: seen on one axis only, a weak period is more likely text, JPEG blocks or a dotted
    # header than paper, so it must be strong to count
    if (out[0] is None) != (out[1] is None) and max(strengths) < 0.5:
        out = [None, None]
    return out[0], out[1], float(min(strengths))


#: relative pitch difference of a grid's two axes under which it is square
SQUARE_TOL = 0.03


def is_square(ppm_x: float | None, ppm_y: float | None, tol: float = SQUARE_TOL) -> bool:
    """Whether both axes' pitches were measured and agree within ``tol`` (relative)."""
    return bool(ppm_x and ppm_y and abs(np.log(ppm_x / ppm_y)) < tol)


def square_grid(dark: np.ndarray, tol: float = SQUARE_TOL) -> tuple[bool, float]:
    """Whether :func:`grid_spacing` finds the same pitch on both axes (within ``tol``, relative) in a
    darkness map, and the grid's strength (0..1)."""
    x, y, strength = grid_spacing(None, None, dark=dark)
    return is_square(x, y, tol), float(strength)


def grid_beyond_outline(dark: np.ndarray, quad: np.ndarray, rotation_deg: float = 0.0,
                        min_strength: float = 0.3) -> bool:
    """Whether the page's grid goes on outside a detected sheet outline ``quad`` (corners in picture
    pixels) and the page as it is shows one square grid, i.e. the "outline" is a shadow on a page that
    fills the picture (crumpled paper), not a sheet photographed on a table.

    ``dark``: the picture's darkness map, de-skewed by ``rotation_deg`` (as :func:`deskew` turned it).
    Outside means beyond the outline by 2 % of the picture's long side; the grid must be square there
    (same pitch on both axes) with autocorrelation strength ≥ ``min_strength``."""
    h, w = dark.shape
    inside = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(inside, np.round(np.asarray(quad)).astype(np.int32), 1)
    r = max(3, int(0.02 * max(h, w)))
    outside = (cv2.dilate(inside, np.ones((2 * r + 1, 2 * r + 1), np.uint8)) == 0).astype(np.float32)
    if abs(rotation_deg) >= 0.05:
        outside = deskew(outside, rotation_deg, border=0.0)
    outside = outside > 0.5
    if not outside.any():
        return False
    square, strength = square_grid(np.where(outside, dark, 0.0))
    # and the page as it is shows one square grid: under a real perspective its pitch varies across the picture
    return square and strength >= min_strength and square_grid(dark)[0]


def _border_pixels(a: np.ndarray, rows: int = 1, cols: int = 1) -> np.ndarray:
    """The outer ``rows`` rows and ``cols`` columns of a 2-D array, flattened."""
    return np.concatenate([a[:rows].ravel(), a[-rows:].ravel(), a[:, :cols].ravel(), a[:, -cols:].ravel()])


def _has_dark_border(image: np.ndarray, frac: float = 0.05) -> bool:
    """Whether at least ``frac`` of the picture's outer 2 % band is clearly darker than its paper (a table
    around a photographed sheet); a cheap test on a subsample."""
    h, w = image.shape[:2]
    step = max(1, int(max(h, w) / 400))
    v = channel_max(image[::step, ::step])
    border = _border_pixels(v, max(1, int(0.02 * v.shape[0])), max(1, int(0.02 * v.shape[1])))
    paper = float(np.percentile(v, 90))
    return float(np.mean(border < 0.6 * paper)) >= frac


def find_page_quad(image: np.ndarray, min_area: float = 0.3) -> np.ndarray | None:
    """Corners (tl, tr, br, bl) of a paper sheet photographed on a darker background, or None.

    The sheet is the largest bright region; its outline simplified to four corners must cover at least
    ``min_area`` of the picture and not be the picture frame itself (a scan has no background).
    """
    h, w = image.shape[:2]
    if image.ndim == 3 and not _has_dark_border(image):
        return None  # paper to the edges (a scan, a screenshot): nothing to find
    s = min(1.0, 800.0 / max(h, w))
    rgb = cv2.GaussianBlur(cv2.resize(image, (max(8, int(w * s)), max(8, int(h * s))), interpolation=cv2.INTER_AREA),
                           (5, 5), 0)
    small = channel_max(rgb)
    if image.ndim == 3:
        # The background is what touches the picture's border. Distance from its median colour, both in RGB
        # and in chromaticity (r, g, b over their sum: blind to shadows and uneven light, which multiply),
        # separates the sheet from the table even where a shadow darkens the paper.
        f = [rgb[..., c].astype(np.float32) for c in range(3)]  # planes: per-channel maths stays contiguous
        total = f[0] + f[1] + f[2] + 30.0  # +30: dark pixels' chromaticity noise stays small
        chroma = [765.0 * x / total for x in f]
        bright = np.zeros(small.shape, np.uint8)
        for feat, floor in ((f, 30.0), (chroma, 25.0)):
            dist = None
            for x in feat:
                ref = float(np.median(_border_pixels(x)))
                d = cv2.absdiff(x, ref)
                dist = d if dist is None else cv2.max(dist, d)
            dist = np.clip(dist, 0, 255).astype(np.uint8)
            otsu, _ = cv2.threshold(dist, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
            # Otsu may split lit paper from (table + shadowed paper); the table itself varies little, so cut
            # just above the spread of the border's table pixels
            bd = _border_pixels(dist).astype(np.float32)
            table = bd[bd < otsu]
            thr = min(otsu, max(floor, 1.5 * float(np.percentile(table, 95)) + 10.0)) if table.size else otsu
            bright |= ((dist > thr) * 255).astype(np.uint8)
    else:
        _, bright = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(c) / (small.shape[0] * small.shape[1])
    if area < min_area or area > 0.97:
        return None
    hull = cv2.convexHull(c)  # shadows and stains bite into the bright region; the sheet is convex
    inside = np.zeros(small.shape, np.uint8)
    cv2.drawContours(inside, [hull], -1, 1, thickness=-1)
    if inside.all() or float(small[inside == 1].mean()) < float(small[inside == 0].mean()) + 20:
        return None  # not a sheet brighter than its surroundings (e.g. the ink-dense middle of a scan)
    quad = None
    for eps in (0.02, 0.03, 0.05, 0.08):
        q = cv2.approxPolyDP(hull, eps * cv2.arcLength(hull, True), True).reshape(-1, 2)
        if len(q) == 4:
            quad = q.astype(np.float64)
            break
    if quad is None:
        return None
    quad /= s
    ssum, diff = quad.sum(axis=1), np.diff(quad, axis=1).ravel()
    quad = np.array([quad[np.argmin(ssum)], quad[np.argmin(diff)], quad[np.argmax(ssum)], quad[np.argmax(diff)]])
    return refine_quad(_brightness(image), quad, search_px=max(4, int(round(2.0 / s))))


def _brightness(image: np.ndarray) -> np.ndarray:
    """The brightest channel of a picture (its grey level for a grey picture), as float32: paper is bright in
    every colour, a table or background is not."""
    return channel_max(image).astype(np.float32)


def refine_quad(bright: np.ndarray, quad: np.ndarray, search_px: int = 8, samples: int = 80,
                min_support: float = 0.6) -> np.ndarray:
    """Sheet corners (tl, tr, br, bl) refined on the full-resolution picture: along each side of ``quad`` (found
    on a downscaled copy, a few pixels off), the steepest bright-to-dark step within ``search_px`` outwards or
    inwards is the paper's edge; a line fitted to those points (Huber loss: shadows and stains along the edge
    are outliers) replaces the side, and the corners are the sides' intersections. A side lying on the picture's
    border, or where fewer than ``min_support`` of the positions along it fall within 1.5 px of the fitted line
    (no straight edge: texture, stains, a clipped corner), keeps its coarse line; a corner that would move more
    than ``2·search_px`` keeps its coarse position. ``bright``: the picture's brightness (float32 (H, W))."""
    h, w = bright.shape
    v = cv2.GaussianBlur(bright, (0, 0), 1.0)
    quad = np.asarray(quad, np.float64)
    centre = quad.mean(axis=0)
    offs = np.arange(-search_px, search_px + 1, dtype=np.float64)
    lines = []  # (point, direction) per side
    for i in range(4):
        p0, p1 = quad[i], quad[(i + 1) % 4]
        d = p1 - p0
        length = float(np.hypot(*d))
        t = d / max(length, 1e-9)
        n = np.array([-t[1], t[0]])
        if np.dot(n, (p0 + p1) / 2 - centre) < 0:
            n = -n  # outwards
        pts = p0 + np.linspace(0.1, 0.9, samples)[:, None] * d
        xy = pts[:, None, :] + offs[None, :, None] * n
        inside = ((xy[..., 0] >= 1) & (xy[..., 0] <= w - 2) & (xy[..., 1] >= 1) & (xy[..., 1] <= h - 2)).all(axis=1)
        line = (p0, t)
        if inside.sum() >= samples // 4:
            xy = xy[inside]
            vals = cv2.remap(v, xy[..., 0].astype(np.float32), xy[..., 1].astype(np.float32), cv2.INTER_LINEAR)
            step = vals[:, :-1] - vals[:, 1:]  # paper (bright) inside, background (dark) outside: a drop outwards
            k = np.argmax(step, axis=1)
            strong = step[np.arange(len(k)), k]
            keep = strong > max(8.0, 0.5 * float(np.median(strong)))
            if keep.sum() >= samples // 5:
                edge = xy[keep, 0, :] + (offs[k[keep]] + search_px + 0.5)[:, None] * n
                vx, vy, x0, y0 = cv2.fitLine(edge.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
                # a straight paper edge: most positions along the side must sit on the fitted line
                resid = np.abs((edge[:, 0] - x0) * vy - (edge[:, 1] - y0) * vx)
                if np.sum(resid <= 1.5) >= min_support * inside.sum():
                    line = (np.array([x0, y0], np.float64), np.array([vx, vy], np.float64))
        lines.append(line)
    out = quad.copy()
    for i in range(4):  # corner i joins side i-1 (ending at it) and side i (starting at it)
        (a, u), (b, v2) = lines[i - 1], lines[i]
        m = np.array([u, -v2]).T
        if abs(np.linalg.det(m)) < 1e-6:
            continue
        s_ = np.linalg.solve(m, b - a)
        c = a + s_[0] * u
        if np.hypot(*(c - quad[i])) <= 2 * search_px:
            out[i] = c
    return out


def quad_is_rectangle(quad: np.ndarray, tol_deg: float = 1.0) -> bool:
    """True when the corners (tl, tr, br, bl) make a rectangle (every angle within ``tol_deg`` of 90°), i.e.
    the sheet is only rotated: de-skewing is then exact, a perspective warp from coarse corners is not."""
    q = np.asarray(quad, dtype=np.float64)
    for i in range(4):
        a, b = q[i - 1] - q[i], q[(i + 1) % 4] - q[i]
        cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
        if abs(90.0 - np.degrees(np.arccos(np.clip(cos, -1, 1)))) > tol_deg:
            return False
    return True


def rectify(image: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Warp the sheet inside ``quad`` to an upright rectangle; returns (image, 3×3 homography image→rectified)."""
    tl, tr, br, bl = quad
    w = int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    h = int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    H = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    out = cv2.warpPerspective(image, H, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out, H


def border_band(px_per_mm_guess: float) -> int:
    """Width (px) of the band along the picture's border that :func:`clean_ink` clears (0.5 mm, at least 2 px):
    ink that reaches the picture's edge is traced from this far in."""
    return max(2, int(round(0.5 * px_per_mm_guess)))


def clean_ink(ink: np.ndarray, px_per_mm_guess: float) -> np.ndarray:
    """Drop what is ink-dark but not trace: long straight grid lines (dark grids, black-and-white copies)
    and specks (dotted minor grids, noise). Gaps left where the trace crossed a line are bridged later."""
    h, w = ink.shape
    u8 = ink.astype(np.uint8)
    # a frame drawn round the page (or the sheet's own edge) is no trace: clear a thin band at the border
    b = border_band(px_per_mm_guess)
    u8[:b] = 0
    u8[-b:] = 0
    u8[:, :b] = 0
    u8[:, -b:] = 0
    lines = np.zeros_like(u8)
    # a line survives the opening only if it is ≥ half the kernel long (outside the picture counts as ink,
    # so lines running off the edge are removed too): open just the rows (columns) inked that much
    kw, kh = max(15, int(0.35 * w)), max(15, int(0.35 * h))
    rows = np.flatnonzero(u8.sum(1) >= kw // 2)
    if rows.size:
        lines[rows] = cv2.morphologyEx(u8[rows], cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (kw, 1)))
    cols = np.flatnonzero(u8.sum(0) >= kh // 2)
    if cols.size:
        sub = np.ascontiguousarray(u8[:, cols].T)  # columns as rows: a horizontal opening
        lines[:, cols] |= cv2.morphologyEx(sub, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (kh, 1))).T
    if lines.any():
        u8 &= ~cv2.dilate(lines, np.ones((3, 3), np.uint8)) & 1
    try:  # 16-bit labels are ~3x faster; OpenCV refuses (and we retry with 32-bit) past 65,534 components
        n, lab, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(u8, 8, cv2.CV_16U, cv2.CCL_SPAGHETTI)
    except cv2.error:
        n, lab, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(u8, 8, cv2.CV_32S, cv2.CCL_BBDT)
    if n > 1:
        size = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
        keep = size >= max(2.0, 0.6 * px_per_mm_guess)  # dots of a dotted grid are < 0.6 mm
        keep[0] = False
        u8 = keep[lab].astype(np.uint8)
    return u8.astype(bool)
