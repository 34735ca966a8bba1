"""Picture → 12-lead signals with validity masks.

:func:`digitize` runs named stages, each a function returning a small dataclass (:mod:`ecgcls.digitize.stages`),
so each can be tested and replaced alone:

1. :func:`find_sheet` — a photographed sheet is rectified; darkness against the local paper brightness (cancels
   shadows); skew estimate and de-rotation;
2. :func:`ink_map` — which pixels are trace, once page-long straight lines (a grid, however dark it is printed)
   are subtracted (:func:`~ecgcls.digitize.grid.remove_lines`): ``classic`` (a darkness threshold) or ``net`` (the trace
   segmentation network, :mod:`ecgcls.digitize.segment`, trained on the renderer's exact masks);
3. :func:`measure_scale` — grid pitch by autocorrelation → px per mm on each axis (else the page size; the
   calibration pulses refine it in step 5);
4. :func:`find_trace_rows` — trace baselines, their pitch and the layouts with that many rows;
5. :func:`trace_rows` — for each row a Viterbi path through the ink runs of every column (a second pass keeps two
   rows from sharing one trace); :func:`read_pulses` — calibration pulses (gain; the ruler without a grid),
   never emitted as signal: each lead starts where its row's trace starts after the pulse;
6. :func:`~ecgcls.digitize.layout.choose_layout` — every standard layout with that many rows (the
   :data:`ecgcls.geometry.LAYOUTS` table the renderer draws) is tried; rhythm-strip leads and column timing are
   read from the page; the layout whose leads best satisfy Einthoven's and Goldberger's laws wins;
7. :func:`~ecgcls.digitize.quality.assess` — per-lead and page quality (a predicted SNR), leads read too badly
   become NaN, and the page is 'ok' or 'uncertain' with a reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgcls.digitize.grid import (border_band, bridge_lines, clean_ink, darkness, deskew, estimate_skew, find_page_quad,
                                  grid_beyond_outline, grid_spacing, ink_threshold, keep_strokes, local_contrast,
                                  is_square, outside_page, quad_is_rectangle, rectify, remove_lines, stroke_window,
                                  tint_darkness)
from ecgcls.digitize.layout import choose_layout, segment_placement, strip_residuals
from ecgcls.digitize.quality import assess
from ecgcls.digitize.stages import (DigitizedPage, DigitizeError, InkMap, Pulses, Rows, RowTrace, Scale, Sheet)
from ecgcls.digitize.trace import cap_start, claimed_pixels, column_runs, find_rows, follow_trace
from ecgcls.geometry import LAYOUTS, PAPER_SIZES_MM
from ecgcls.types import LEADS, Record

#: candidate layouts by number of trace rows
LAYOUTS_BY_ROWS: dict[int, tuple[str, ...]] = {3: ("3x4", "cabrera"), 4: ("3x4+II", "cabrera+II"), 5: ("3x4+2",),
                                               6: ("6x2", "3x4+3", "limb6", "chest6"), 7: ("6x2+II",),
                                               12: ("12x1",), 13: ("12x1+II",)}
STANDARD_GAINS = (2.5, 5.0, 10.0, 20.0, 40.0)
COMMON_GAINS = (5.0, 10.0, 20.0)  # what a calibration pulse on a measured grid must show to count as one
SQUARE_TOL = 0.2   # a pulse read without a grid gives px per mm on x and y within this (log): pixels are square
PULSE_HEIGHT_TOL = 0.15  # a page's calibration pulses agree in height within this (log); others are no pulses
ROOF_SHORT = 1.3    # a pulse whose roof stands this much higher over the trace than its edges reach lost part of them
TOO_LONG_ROWS = 0.25  # rows that would last this much over 10 s at the scale found: the scale was misread
WEAK_GRID = 0.4     # a grid this periodic or more is trusted over calibration pulses that disagree with it
STRIP_MATCH = 0.85  # a rhythm strip must repeat its lead's column segment at least this well (unrelated: ~1.0)
ROW_BAND = 1.5      # a row's trace is followed within this many row pitches of its baseline (12×1 S waves reach past
                    # the next row's baseline: 1.2 cut them there)
INK_METHODS = ("classic", "net")
#: how a picture's trace pixels are found unless told otherwise — one default for digitize(), ``ecgcls digitize``,
#: predict.py (configs/predict/predict.yaml, checked by a test), ``ecgcls serve`` and ``ecgcls calibrate``
DEFAULT_INK = "auto"


@dataclass(frozen=True)
class NetInk:
    """How the trace network's probabilities become ink (chosen on ecgcls's own validation renders,
    bench/digitize.py). ``mode``: "gate" (the darkness threshold's edges where the network sees trace nearby) or
    "net" (the network's pixels); ``runtime``: "auto" runs the network with onnxruntime where its graph of the
    weights is there, else PyTorch ("onnx", "torch" force one). Passed to :func:`digitize` as ``net=``."""

    mode: str = "gate"
    support: float = 0.3
    support_px: int = 2
    long_side: int | None = None
    runtime: str = "auto"


@dataclass(frozen=True)
class Separation:
    """Opt-in, experimental (off: no network is bundled; see docs/digitizer.md): where two rows' traces hold one
    ink run, read each row from the ink the lead separation network (:mod:`ecgcls.digitize.separate`, weights
    from ``python train.py experiment=lead_sep``) calls its own, over the shared columns ± ``margin_mm``, the
    network seeing ``context_mm`` more each side, in a band ± ``half_mm`` round the row (its training crops:
    ± 24 mm); ``weights``: None = ``ecgcls/weights/leadsep.safetensors``. Off, v22's midline rule alone decides.
    Passed to :func:`digitize` as ``separate=``."""

    on: bool = False
    margin_mm: float = 3.0
    context_mm: float = 8.0
    half_mm: float = 24.0
    threshold: float = 0.5
    weights: str | None = None


#: the defaults (frozen: a caller passes its own NetInk / Separation instead of changing these, so worker
#: processes read pages exactly as the caller asked)
NET_INK = NetInk()
SEPARATE = Separation()

#: a scale corrected by more than this (|log ratio|; by the pulses or by the rows' 10 s) has the rows found again
RESCALE_REFIND = 0.2

#: bumped whenever the digitizer's output changes, so caches of digitized pictures are rebuilt
DIGITIZER_VERSION = 30


# ---- helpers ------------------------------------------------------------------------------------------
def _off_common_gain(mm: float) -> float:
    """How far (|log|) a pulse ``mm`` tall is from the nearest of :data:`COMMON_GAINS` (5, 10, 20 mm)."""
    return min(abs(np.log(mm / g)) for g in COMMON_GAINS)


def _edge_groups(h: np.ndarray, ppm_x: float, ppm_y: float) -> list[np.ndarray]:
    """Runs of columns whose trace is taller than 2.5 mm (a pulse's vertical edges, or QRS strokes) in the column
    heights ``h`` (px, NaN where nothing was traced): column indices, left to right, columns up to
    max(2 px, 0.5 mm) apart in one run; empty when fewer than two columns are that tall."""
    tall = np.flatnonzero(np.nan_to_num(h) > 2.5 * ppm_y)
    if tall.size < 2:
        return []
    return np.split(tall, np.flatnonzero(np.diff(tall) > max(2.0, 0.5 * ppm_x)) + 1)


def _calibration(top: np.ndarray, bot: np.ndarray, ppm_x: float, ppm_y: float, speed: float | None,
                 dark: np.ndarray | None = None) -> tuple[float | None, float | None, tuple[float, float] | None]:
    """Find a 1 mV × 0.2 s pulse at the row's start: (gain mm/mV, x of the trace's first sample after it (px,
    sub-pixel), (pulse width px,
    pulse height px) between stroke centres) or (None, None, None). ``speed`` None: 25 or 50 mm/s."""
    valid = np.flatnonzero(np.isfinite(top))
    if valid.size < 10:
        return None, None, None
    x0 = valid[0]
    lo_mm, hi_mm = (0.12 * speed, 0.3 * speed) if speed else (3.0, 13.0)
    win = int((hi_mm + 6) * ppm_x)
    h = (bot - top)[x0:x0 + win]
    # the pulse's two vertical edges are the first two groups of tall columns; a QRS right after the
    # pulse adds later groups, so take the first group at a pulse width (0.12-0.3 s) from the rising edge
    # a pulse's top is inked from edge to edge: a lone stroke before it (a frame or separator line, a letter) is
    # no rising edge, so a rising edge without a traced top to its falling edge gives way to the next group
    groups = _edge_groups(h, ppm_x, ppm_y)
    # the picture's edge, as traced: clean_ink cleared a band along the border (1–2 px at 75 DPI, 10 at 500)
    cut = _cut_pulse(top, bot, x0, groups, ppm_x, ppm_y, border_band(ppm_y) + 2)
    if cut is not None:  # the picture's edge cut the rising edge off: the falling edge alone is left
        first = g = cut
    else:
        for k, first in enumerate(groups[:3]):
            g = next((c for c in groups[k + 1:] if lo_mm <= (c[-1] - first[0]) / ppm_x <= hi_mm), None)
            if g is not None and np.isfinite(top[x0 + first[-1] + 1:x0 + g[0]]).mean() >= 0.8:
                break
        else:
            return None, None, None
    fall = g[-1]
    height = float(max(np.nanmax(h[first]), np.nanmax(h[g])))
    end = x0 + fall + 1
    if cut is None:  # edges partly lost (a thin grey stroke on a photo, or one on a grid line): roof to baseline
        height = _roof_height(top, bot, x0 + first[-1] + 1, x0 + g[0], end, ppm_x, ppm_y, speed or 25.0, height)
    gain = height / ppm_y
    # the trace starts after the gap that follows the pulse (ecgcls, most machines), or, where the trace
    # runs on from the pulse's falling edge without a gap (ecg-image-kit), at that edge's stroke centre
    # (its first inked columns are the pen's cap, or a grid line hid them: see cap_start)
    after = np.flatnonzero(~np.isfinite(top[end:end + int(4 * ppm_x)]))
    if after.size:
        start = cap_start(top, bot, end + after[-1] + 1, dark=dark)
    else:
        start = _edge_centre(top, bot, x0 + g, dark) if dark is not None else x0 + float(np.mean(g))
    # between stroke centres: the edges' column groups are a stroke wide, the tallest column a stroke taller
    stroke = float(np.nanmedian((bot - top)[x0:x0 + win])) + 1.0
    size = (float(np.mean(g) - np.mean(first)) if cut is None else float("nan"), height - stroke + 1.0)
    return gain, float(start), size


def _roof_height(top: np.ndarray, bot: np.ndarray, a: int, b: int, end: int, ppm_x: float, ppm_y: float,
                 speed: float, edges: float, short: float = ROOF_SHORT, tol: float = 0.25) -> float:
    """A pulse's height (px, outer stroke edges) measured from its roof (path columns ``a``..``b``) down to the level
    of the trace that follows it (median over 1 s from column ``end``; ``speed`` mm/s), used instead of its
    vertical edges' height ``edges`` where it exceeds that by ``short`` × and lies within ``tol`` (log) of a
    common gain (5, 10 or 20 mm): where a thin grey pulse's strokes were partly lost to the ink map, its roof and
    the trace's baseline are still there. On real photos `classic` measured 4.1–6.1 mm pulses that are 10 mm
    (ecg00029, 00034, 00041; the trace network's ink measured 7–10 mm on the same rows); a trace 15 mm under the
    roof (pulses printed off the traces' baselines, ecg00006) makes no standard pulse and keeps ``edges``."""
    c = slice(end, end + int(speed * ppm_x))
    roof, after = (top[a:b] + bot[a:b]) / 2, (top[c] + bot[c]) / 2
    if b <= a or not np.isfinite(roof).any() or np.isfinite(after).mean() < 0.5:
        return edges
    h = float(np.nanmedian(after) - np.nanmedian(roof)) + float(np.nanmedian(bot[a:b] - top[a:b])) + 1.0
    standard = h > 0 and _off_common_gain(h / ppm_y) < tol
    return h if h > short * edges and standard else edges


def _cut_pulse(top: np.ndarray, bot: np.ndarray, x0: int, groups: list[np.ndarray], ppm_x: float, ppm_y: float,
               edge_px: int) -> np.ndarray | None:
    """A pulse whose rising edge the picture's left edge cut off, so that only its falling edge is left: the
    first tall stroke (``groups[0]``, columns relative to ``x0``, the first traced column), with the trace
    running on from its foot. Either the trace starts at the picture's edge (within ``edge_px``) on the pulse's
    roof — a stroke as thin as the trace, flat for at least 1 mm, then falling by the stroke's height (a trace
    that merely starts at the edge returns to its own level after a QRS) — or, where the roof was cut too short
    to trace, the stroke itself is the first thing traced, within 2.5 mm of the edge (half a 25 mm/s pulse's
    width: a stroke further in is likelier a whole pulse's rising edge whose roof went untraced), a standard
    pulse's height (5, 10 or 20 mm) with the trace running on from its foot. Returns the stroke's columns, or
    None."""
    if not groups:
        return None
    fall = groups[0]
    mid = (top + bot) / 2
    a = x0 + int(fall[-1]) + 1  # the first column after the stroke
    after = mid[a:a + int(4 * ppm_x)]
    if not np.isfinite(after).any():
        return None
    height = float(np.nanmax((bot - top)[x0 + fall]))
    if fall[0] < 1.0 * ppm_x:  # no roof to read: the stroke at the edge, its foot where the trace runs on
        if x0 + fall[0] > max(edge_px, 2.5 * ppm_x):
            return None
        foot = float(np.nanmax(bot[x0 + fall]))
        standard = _off_common_gain(height / ppm_y) < 0.2
        runs_on = np.isfinite(after).mean() >= 0.5 and abs(np.nanmedian(after) - foot) < 0.25 * height
        return fall if standard and runs_on else None
    if x0 > edge_px:
        return None
    before = mid[x0:x0 + int(fall[0])]
    if np.isfinite(before).mean() < 0.8:
        return None
    drop = float(np.nanmedian(after) - np.nanmedian(before))
    flat = float(np.nanmax(before) - np.nanmin(before))
    # the roof is a pen stroke as thin as the trace, not the edge of a dark area (a rotated page's black corner)
    thin = np.nanmedian((bot - top)[x0:x0 + int(fall[0])]) <= 2 * np.nanmedian((bot - top)[a:a + int(4 * ppm_x)]) + 1
    return fall if drop > 0.6 * height and flat < 0.25 * height and thin else None


def _edge_centre(top: np.ndarray, bot: np.ndarray, cols: np.ndarray, dark: np.ndarray) -> float:
    """Sub-pixel x (px) of a vertical stroke (a pulse's edge) that fills the tall columns ``cols``: the
    darkness-weighted centre of the columns one either side of them, over the middle half of the stroke's
    height, less the least dark of those columns (the paper's own darkness there)."""
    h, w = dark.shape
    y0, y1 = float(np.nanmin(top[cols])), float(np.nanmax(bot[cols]))
    a, b = int(round(y0 + 0.25 * (y1 - y0))), int(round(y0 + 0.75 * (y1 - y0))) + 1
    c = np.arange(max(0, int(cols[0]) - 1), min(w, int(cols[-1]) + 2))
    m = dark[max(0, a):min(h, b), c].sum(axis=0)
    m = m - m.min()
    return float((c * m).sum() / m.sum()) if m.sum() > 0 else float(np.mean(cols))


def _end_pulse(top: np.ndarray, bot: np.ndarray, ppm_x: float, ppm_y: float,
               start_pulse: tuple[float, float] | None) -> int | None:
    """x (px) where a calibration pulse printed at the row's *end* begins (some machines print it there, after
    the trace), or None. Only a rectangle counts: two tall edges (> 2.5 mm) 3–13 mm apart, the right one
    ending the row's trace, a flat top joining them at the edges' top, a height of a standard gain (5, 10 or
    20 mm/mV) — or, where the row also starts with a pulse, the start pulse's size within 25 %. A QRS at the
    row's end is not flat-topped, so it stays signal."""
    valid = np.flatnonzero(np.isfinite(top) & np.isfinite(bot))
    if valid.size < 10:
        return None
    x1 = int(valid[-1])
    lo = max(0, x1 - int(19 * ppm_x))
    h = np.nan_to_num(bot[lo:x1 + 1] - top[lo:x1 + 1])
    groups = _edge_groups(h, ppm_x, ppm_y)
    if len(groups) < 2 or (len(h) - 1 - groups[-1][-1]) > 1.0 * ppm_x:  # the falling edge ends the trace
        return None
    right = groups[-1]
    left = next((g for g in reversed(groups[:-1]) if 3.0 <= (right[-1] - g[0]) / ppm_x <= 13.0), None)
    if left is None or right[0] - left[-1] < 2:
        return None
    a, b = lo + int(left[0]), lo + int(right[-1]) + 1
    roof = float(np.nanmin(top[a:b]))
    between = top[lo + int(left[-1]) + 1:lo + int(right[0])]
    if not np.isfinite(between).all() or np.max(np.abs(between - roof)) > 0.6 * ppm_y:
        return None
    width, height = float(np.mean(right) - np.mean(left)), float(max(h[left].max(), h[right].max()))
    if start_pulse is not None:
        if abs(np.log(width / start_pulse[0])) > 0.25 or abs(np.log(height / max(start_pulse[1], 1.0))) > 0.25:
            return None
    elif _off_common_gain(height / ppm_y) > 0.2:
        return None
    return a


def _fill_missing_rows(rows_y: list[float], want: int, pitch: float, h: int) -> list[float]:
    """Rows are printed at a constant pitch: put missing ones into gaps of about k pitches, then after the
    last row (or before the first) while the picture has room, up to ``want`` rows."""
    out = [rows_y[0]]
    for y in rows_y[1:]:
        k = int(round((y - out[-1]) / pitch))
        out += [out[-1] + i * (y - out[-1]) / k for i in range(1, k)] if 1 < k <= want else []
        out.append(y)
    while len(out) < want and out[-1] + pitch < h - 0.3 * pitch:
        out.append(out[-1] + pitch)
    while len(out) < want and out[0] - pitch > 0.3 * pitch:
        out.insert(0, out[0] - pitch)
    return [float(y) for y in out] if len(out) <= want else list(rows_y)  # gaps disagree with the pitch: leave


def _snap_gain(g: float | None) -> float:
    """The standard gain nearest (in ratio) to a measured pulse height; 10 mm/mV when none was measured."""
    if g is None or not np.isfinite(g) or g <= 0:
        return 10.0
    return float(min(STANDARD_GAINS, key=lambda s: abs(np.log(g / s))))



# ---- stages ---------------------------------------------------------------------------------------------
def _upright(image: np.ndarray, keep_image: bool, rectified: bool) -> Sheet:
    """The darkness map of ``image`` de-skewed (the picture too when ``keep_image``, when first read)."""
    dark = darkness(image)
    void = outside_page(image)
    if void is not None:  # black corners of a page rotated on its own canvas: neither paper nor ink
        dark[void] = 0.0
    rot = estimate_skew(dark)
    if abs(rot) >= 0.05:
        # rotate the darkness map itself (0 = paper outside); the picture only when it is kept, and only when read
        dark = np.clip(deskew(dark, rot, border=0.0), 0.0, 1.0)
    else:
        rot = 0.0
    return Sheet(dark, float(rot), rectified, source=image, keep_image=keep_image)


def find_sheet(image: np.ndarray, keep_image: bool = True) -> Sheet:
    """Rectify a photographed sheet (perspective), measure and undo the skew. The darkness map is always
    de-skewed; the RGB picture only when ``keep_image``.

    A sheet outline that is not a rectangle is warped flat unless the page's grid goes on outside it: the
    shadows of crumpled paper can outline a "sheet" on a page that fills the picture, and warping that page
    would stretch its grid (:func:`~ecgcls.digitize.grid.grid_beyond_outline`)."""
    quad = find_page_quad(image)
    flat = _upright(image, keep_image, False)
    if quad is None or quad_is_rectangle(quad) or grid_beyond_outline(flat.dark, quad, flat.rotation_deg):
        return flat
    return _upright(rectify(image, quad)[0], keep_image, True)


def ink_map(sheet: Sheet, method: str = "classic", weights=None, net: NetInk = NET_INK) -> InkMap:
    """Trace pixels: ``classic`` thresholds the darkness (Otsu among non-paper pixels); ``net`` runs the trace
    segmentation network on the (de-skewed) picture and keeps pixels it calls trace or calibration pulse that
    are also darker than the paper."""
    if method not in INK_METHODS:
        raise ValueError(f"ink={method!r}; choose from {', '.join(INK_METHODS)}")
    dark, lines = remove_lines(sheet.dark)  # a grid printed as dark as the trace is no ink
    thr = ink_threshold(dark)
    if method == "classic":
        ppm_guess = sheet.dark.shape[1] / PAPER_SIZES_MM["letter"][0]  # px per mm if the page is Letter-wide
        # on a grid line the trace need only be clearly darker than the line (a baseline may run along one)
        on_line = np.maximum(lines[0], lines[1]) > 0.5 * thr
        ink = (dark > thr) | (on_line & (dark > 0.5 * thr))
        # a pen stroke is darker than the paper within a couple of millimetres; a broad shadow or wrinkle is not
        k = stroke_window(ink, ppm_guess)
        ink = keep_strokes(ink, local_contrast(sheet.dark, k) > 0.5 * thr, k)
        # the trace where it crossed a removed line: bridge gaps up to ~0.3 mm
        ink = bridge_lines(ink, sheet.dark, lines, thr, max(1, int(round(0.3 * ppm_guess))))
        return InkMap(ink, "classic", thr, dark_pixels=dark > thr)
    if sheet.image is None:
        raise ValueError("ink='net' needs the picture: find_sheet(..., keep_image=True)")
    from ecgcls.digitize.segment import trace_probability

    prob = trace_probability(sheet.image, weights, net.long_side, net.runtime)
    p = np.maximum(prob[0], prob[1])
    if net.mode == "net":
        ink = (p > 0.5) & (dark > 0.08)
    else:  # the darkness threshold's precise edges, kept only where the network sees trace nearby
        import cv2

        r = net.support_px
        support = cv2.dilate((p > net.support).astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
        ink = ((dark > thr) | ((p > 0.5) & (dark > 0.08))) & support
    return InkMap(ink, "net", thr, prob, dark_pixels=dark > thr)


def _tint(sheet: Sheet) -> np.ndarray:
    """:func:`~ecgcls.digitize.grid.tint_darkness` of the sheet's picture, in the darkness map's coordinates."""
    t = tint_darkness(sheet.source)
    void = outside_page(sheet.source)
    if void is not None:
        t[void] = 0.0
    if sheet.rotation_deg:
        t = np.clip(deskew(t, sheet.rotation_deg, border=0.0), 0.0, 1.0)
    return t


def measure_scale(sheet: Sheet, ink: np.ndarray) -> Scale:
    """px per mm from the grid (both axes; a stretched or misread axis falls back to the other), else from the
    page width of a Letter page (refined by the calibration pulses later, see :func:`read_pulses`)."""
    h, w = sheet.dark.shape
    ppm_x, ppm_y, strength = grid_spacing(None, ink, dark=sheet.dark)  # (the darkness map is all it reads)
    if ppm_x is None and ppm_y is None and sheet.source is not None and sheet.source.ndim == 3:
        # no grid in the darkness map: one printed in a saturated colour shows only in the darkest channel. As a
        # second look it must be square (the same pitch on both axes), not one periodic axis
        gx, gy, gs = grid_spacing(None, ink, dark=_tint(sheet))
        if is_square(gx, gy):
            ppm_x, ppm_y, strength = gx, gy, gs
    # a scale is plausible if the picture then spans 100-450 mm across (a page or a good part of one)
    ppm_x = ppm_x if ppm_x and 100 <= w / ppm_x <= 450 else None
    ppm_y = ppm_y if ppm_y and 60 <= h / ppm_y <= 450 else None
    if ppm_x is not None and ppm_y is not None and abs(np.log(ppm_x / ppm_y)) > 0.15:
        # axes disagree (a stretched scan is rare; a misread period is not): trust the one nearer the page size
        page = w / PAPER_SIZES_MM["letter"][0]
        ppm_x = ppm_y = min((ppm_x, ppm_y), key=lambda p: abs(np.log(p / page)))
    ppm_x = ppm_x if ppm_x is not None else ppm_y
    ppm_y = ppm_y if ppm_y is not None else ppm_x
    if ppm_x is None:
        ppm = w / PAPER_SIZES_MM["letter"][0]
        return Scale(ppm, ppm, "page_size")
    return Scale(float(ppm_x), float(ppm_y), "grid", float(strength))


def find_trace_rows(ink: np.ndarray, scale: Scale, layout: str | None = None, name: str = "picture") -> Rows:
    """Trace baselines and the layouts they allow. Extra rows (text, stray lines) beyond the nearest supported
    count are dropped by ink coverage; rows missing at the pitch are filled in."""
    h = ink.shape[0]
    rows_y = find_rows(ink, scale.ppm_y)
    if not rows_y:
        raise DigitizeError(f"{name}: no ECG trace rows found (is this an ECG? no row of trace ink crosses the picture)")
    if layout is not None:
        if layout not in LAYOUTS:
            raise DigitizeError(f"{name}: unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
        candidates: tuple[str, ...] = (layout,)
        want = LAYOUTS[layout].n_rows
    else:
        want = min(LAYOUTS_BY_ROWS, key=lambda k: (abs(k - len(rows_y)), k))
        if abs(want - len(rows_y)) > 2:
            raise DigitizeError(f"{name}: found {len(rows_y)} trace rows; supported layouts have "
                                f"{sorted(LAYOUTS_BY_ROWS)} rows")
        candidates = LAYOUTS_BY_ROWS[want]
    if len(rows_y) > want:  # extra rows (text, stray lines): keep the most ink-covered ones
        cover = [ink[max(0, int(y - 2 * scale.ppm_y)):int(y + 2 * scale.ppm_y)].any(axis=0).mean() for y in rows_y]
        keep = sorted(np.argsort(cover)[::-1][:want])
        rows_y = [rows_y[i] for i in keep]
    pitch = float(np.median(np.diff(rows_y))) if len(rows_y) > 1 else 40.0 * scale.ppm_y
    if 1 < len(rows_y) < want:  # a row whose trace wanders far from its baseline can escape row finding
        rows_y = _fill_missing_rows(rows_y, want, pitch, h)
    return Rows([float(y) for y in rows_y], pitch, candidates)


def trace_rows(ink: np.ndarray, dark: np.ndarray, rows: Rows, scale: Scale, speed_mm_s: float | None = None,
               separate: Separation = SEPARATE) -> list[RowTrace]:
    """Follow each row's trace (Viterbi over column ink runs; a second pass makes a trace another row took
    cost extra) and read its calibration pulse (``gain_mm_mv``, ``pulse_px``). The pulse is cut from the row:
    the row's signal starts where its trace starts after the pulse."""
    h, w = ink.shape
    pitch = rows.pitch
    bands = [(int(max(0, y0 - ROW_BAND * pitch)), int(min(h, y0 + ROW_BAND * pitch))) for y0 in rows.y]
    runs = [column_runs(ink[a:b], 2) for a, b in bands]
    claims = None
    if len(rows.y) > 1:  # pass 1: each row alone; pass 2 (below): a trace another row took costs extra
        first = [follow_trace(ink[a:b], y0 - a, pitch, runs=rr)[:2] for y0, (a, b), rr in zip(rows.y, bands, runs)]
        claims = claimed_pixels((h, w), [(a, t, bt) for (a, _), (t, bt) in zip(bands, first)])
    out: list[RowTrace] = []
    spans = []
    for r, (y0, (a, b)) in enumerate(zip(rows.y, bands)):
        others = None if claims is None else _claimed_by_others(claims[a:b], r)
        top, bot, val = follow_trace(ink[a:b], y0 - a, pitch, dark_band=dark[a:b], others=others, runs=runs[r])
        top, bot, val = top + a, bot + a, val + a
        spans.append((top, bot))
        g, start, pulse = _calibration(top, bot, scale.ppm_x, scale.ppm_y, speed_mm_s, dark)
        valid = np.flatnonzero(np.isfinite(val))
        if valid.size == 0:
            out.append(RowTrace(y0, np.arange(w, dtype=float), val, 0.0, 0.0, None))
            continue
        # the first inked column is the pen's cap (or a grid line hid the first ones): see cap_start
        x_start = float(start if start is not None else cap_start(top, bot, int(valid[0]), dark=dark))
        y_vals = val.copy()
        y_vals[: int(x_start)] = np.nan
        # after a pulse, columns still as tall as its falling edge (a trace that runs on from the edge, as
        # ecg-image-kit draws it) are the edge, not signal
        if start is not None:
            x = int(x_start)
            while x < min(w, int(x_start + scale.ppm_x)) and np.nan_to_num(bot[x] - top[x]) > 2.5 * scale.ppm_y:
                y_vals[x] = np.nan
                x += 1
        x_end = float(valid[-1])
        cut = _end_pulse(top, bot, scale.ppm_x, scale.ppm_y, pulse)
        if cut is not None and cut > x_start:  # a pulse printed after the trace is no signal
            y_vals[cut:] = np.nan
            kept = np.flatnonzero(np.isfinite(y_vals))
            x_end = float(kept[-1]) if kept.size else x_start
        ok = np.isfinite(top) & np.isfinite(bot)
        path_px = float(np.sum(bot[ok] - top[ok] + 1)) if ok.any() else 0.0
        clutter = float(np.log1p(max(0.0, float(ink[a:b].sum()) - path_px) / max(path_px, 1.0)))
        out.append(RowTrace(float(y0), np.arange(w, dtype=float), y_vals, x_start, x_end, g, clutter, pulse))
    separated = _separate_rows(out, spans, ink, dark, rows, scale, claims, separate)
    _keep_own_side(out, spans, separated)
    return _common_start(out, scale.ppm_x)


def _claimed_by_others(claims: np.ndarray, r: int) -> np.ndarray:
    """bool: pixels of a :func:`~ecgcls.digitize.trace.claimed_pixels` map that rows other than ``r`` took."""
    return (claims & np.uint16(~(1 << r) & 0xFFFF)) != 0


def _shared(spans: list[tuple[np.ndarray, np.ndarray]], r: int) -> np.ndarray:
    """Columns where rows ``r`` and ``r + 1``'s paths (top, bottom per column) hold one ink run."""
    (t1, b1), (t2, b2) = spans[r], spans[r + 1]
    with np.errstate(invalid="ignore"):
        return np.isfinite(t1) & np.isfinite(t2) & (t1 <= b2) & (t2 <= b1)


def _separate_rows(rows_out: list[RowTrace], spans: list[tuple[np.ndarray, np.ndarray]], ink: np.ndarray,
                   dark: np.ndarray, rows: Rows, scale: Scale, claims: np.ndarray | None = None,
                   separate: Separation = SEPARATE) -> list[np.ndarray]:
    """Re-read each row where its path shares an ink run with a neighbour's, from the ink the lead separation
    network calls this row's own (``separate``); ``rows_out[i].y`` changes in place in those columns (± a
    margin; outside them the path keeps paying for ink other rows took, ``claims`` as in :func:`trace_rows`).
    Returns per row the columns so read (bool (W,)), which the midline rule then leaves alone. Without the
    network's weights nothing changes (and a warning says so once)."""
    w = ink.shape[1]
    done = [np.zeros(w, bool) for _ in rows_out]
    if not separate.on or len(rows_out) < 2:
        return done
    need = [np.zeros(w, bool) for _ in rows_out]
    for r in range(len(rows_out) - 1):
        sh = _shared(spans, r)
        need[r] |= sh
        need[r + 1] |= sh
    if not any(n.any() for n in need):
        return done
    from scipy.ndimage import binary_dilation

    from ecgcls.digitize.separate import LEVEL_MM, row_probability, trace_level

    m = max(1, int(round(separate.margin_mm * scale.ppm_x)))
    c = max(1, int(round(separate.context_mm * scale.ppm_x)))
    half = separate.half_mm * scale.ppm_y
    for r, n in enumerate(need):
        if not n.any():
            continue
        a, b = int(max(0, rows.y[r] - half)), int(min(ink.shape[0], rows.y[r] + half))
        win = binary_dilation(n, np.ones(2 * m + 1, bool))
        band = ink[a:b].copy()
        cols = np.flatnonzero(win)
        lo, hi = max(0, int(cols[0]) - c), min(w, int(cols[-1]) + 1 + c)  # one pass over all the row's windows
        # the network is told where this row runs: its first reading's level (the wander, not the waves)
        level = trace_level((spans[r][0] + spans[r][1]) / 2, LEVEL_MM * scale.ppm_x)[lo:hi]
        level = np.where(np.isfinite(level), level, rows.y[r])
        try:
            p = row_probability(dark[a:b, lo:hi], level - a, rows.pitch, scale.ppm_x, scale.ppm_y,
                                separate.weights)
        except FileNotFoundError as exc:
            _warn_once(f"overlapping rows not separated: {exc}")
            return done
        band[:, cols] &= p[:, cols - lo] > separate.threshold
        others = None
        if claims is not None:
            others = _claimed_by_others(claims[a:b], r)
            others[:, win] = False  # there the network has said which ink is this row's
        _, _, val = follow_trace(band, rows.y[r] - a, rows.pitch, dark_band=dark[a:b], others=others)
        y = rows_out[r].y
        sel = win & np.isfinite(y) & np.isfinite(val)
        y[sel] = val[sel] + a
        done[r] = sel
    return done


_WARNED: set[str] = set()


def _warn_once(msg: str) -> None:
    import warnings

    if msg not in _WARNED:
        _WARNED.add(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _keep_own_side(rows: list[RowTrace], spans: list[tuple[np.ndarray, np.ndarray]],
                   separated: list[np.ndarray] | None = None) -> None:
    """Where two neighbouring rows' paths hold one ink run in the same column (a QRS of one row running into the
    next row's: 12×1 chest leads), the ink cannot tell which part of the run is whose, and each row would read the
    run's far end (the other row's R or S wave). There each row's reading (``rows[i].y``, in place) is kept on its
    own side of the line midway between the two rows' baselines. ``spans``: each row's path (top, bottom) per column.
    On own clean 12×1 renders 15.85 → 16.19 dB; a line 0.35 / 0.65 / 0.8 / 1.0 of the way to the other baseline
    16.03 / 16.07 / 15.96 / 15.93 dB; interpolating across such columns instead 15.55 dB. Columns in
    ``separated[i]`` (row i re-read from its own ink, :func:`_separate_rows`) keep their reading. A wave so cut is
    then continued along its own strokes (:func:`complete_cut_waves`)."""
    for r in range(len(rows) - 1):
        shared = _shared(spans, r)
        if not shared.any():
            continue
        mid = (rows[r].y0 + rows[r + 1].y0) / 2
        up, down = rows[r].y, rows[r + 1].y
        sel = shared & np.isfinite(up) & (True if separated is None else ~separated[r])
        far = up.copy()
        up[sel] = np.minimum(up[sel], mid)
        complete_cut_waves(up, sel & (far > mid), far, 1.0)
        sel = shared & np.isfinite(down) & (True if separated is None else ~separated[r + 1])
        far = down.copy()
        down[sel] = np.maximum(down[sel], mid)
        complete_cut_waves(down, sel & (far < mid), far, -1.0)


def complete_cut_waves(y: np.ndarray, cut: np.ndarray, far: np.ndarray, sign: float) -> None:
    """Continue waves that :func:`_keep_own_side` cut at the midline along their own strokes (``y`` in place, px).

    A QRS wave that runs into the next row is cut flat at the midline over the columns ``cut``; its strokes on
    either side of the cut are the row's own. Over each stretch of cut columns the wave is taken as the triangle
    the two strokes make when continued with the slope of their last column before (and first after) the cut,
    but never past ``far`` (per column: the end of the shared ink run the row's path held) nor back inside the
    midline. ``sign``: +1 where the cut wave points down the page (larger y), −1 where it points up. Stretches
    at the row's ends, or whose strokes do not head into the cut, stay cut.
    On own clean 12×1 renders (with :data:`ROW_BAND` 1.5) 16.30 → 16.71 dB; at band 1.2, 16.19 → 16.54 dB, and
    the slope over 2 or 3 columns instead of 1 16.41 / 16.27 dB, half the 2-column triangle's height 16.32 dB."""
    n = len(y)
    idx = np.flatnonzero(cut)
    if idx.size == 0:
        return
    for seg in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
        a, b = int(seg[0]) - 1, int(seg[-1]) + 1   # the last column before the cut, the first after it
        if a < 1 or b > n - 2 or not np.isfinite([y[a - 1], y[a], y[b], y[b + 1]]).all():
            continue
        into, out = sign * (y[a] - y[a - 1]), sign * (y[b] - y[b + 1])  # px per column towards the wave's tip
        if into <= 0 or out <= 0:
            continue
        xs = np.arange(a + 1, b)
        tip = np.minimum(sign * y[a] + into * (xs - a), sign * y[b] + out * (b - xs))
        y[a + 1:b] = sign * np.clip(tip, sign * y[a + 1:b], sign * far[a + 1:b])


def _common_start(rows: list[RowTrace], ppm_x: float, tol_mm: float = 2.0) -> list[RowTrace]:
    """Every row of a standard page starts its time at the same x. A row whose trace was first found a little
    later (its first millimetre faint, or cut by a grid line) would shift all its leads in time; rows within
    ``tol_mm`` of the rows' median start take the median (the samples in between stay unknown)."""
    starts = np.array([r.x_start for r in rows if np.isfinite(r.y).any()])
    if starts.size < 2:
        return rows
    med = float(np.median(starts))
    for r in rows:
        if 1.5 < abs(r.x_start - med) <= tol_mm * ppm_x and np.isfinite(r.y).any():  # a pixel is stroke noise
            if r.x_start < med:
                r.y[: int(np.ceil(med))] = np.nan
            r.x_start = med
    return rows


def read_pulses(traces: list[RowTrace], scale: Scale, width_px: int, speed_mm_s: float | None = None,
                gain_mm_mv: float | None = None) -> tuple[Pulses, Scale]:
    """The gain the pulses show (or ``gain_mm_mv`` when given), the paper speed (``speed_mm_s``, or read from
    the pulses' width on the grid: 5 mm → 25 mm/s, 10 mm → 50 mm/s; 25 when unknown) and, without a grid, the
    scale they imply: 0.2 s wide → px per second, 1 mV tall → px per mV. A whole page of a standard size measures
    far more precisely than a 5 mm pulse, so the paper size the pulses agree with (within 3 %) is used, else the
    pulses themselves (cropped or odd-sized pictures)."""
    with_pulse = [t for t in traces if t.pulse_px is not None]
    if scale.method == "grid":
        # on a measured grid a pulse is 1 mV at a standard gain; "pulses" of other heights are QRS complexes
        # or text, and say nothing about gain, speed or scale
        with_pulse = [t for t in with_pulse if _off_common_gain(t.gain_mm_mv) < 0.15]
    with_pulse = _one_height(with_pulse)
    measured = [t.gain_mm_mv for t in with_pulse]
    pulses = [t.pulse_px for t in with_pulse if np.isfinite(t.pulse_px[0])]  # a cut pulse has no width
    gain = gain_mm_mv or _snap_gain(float(np.median(measured)) if measured else None)
    speed = speed_mm_s
    if scale.method == "grid" and len(pulses) >= max(2, len(traces) // 2):
        # the grid and the pulses must agree: a 0.2 s pulse is 5 mm wide at 25 mm/s, 10 mm at 50. Where the
        # grid's scale makes every pulse another width, the "grid" was something else (text, JPEG blocks)
        pw_mm = float(np.median([p[0] for p in pulses])) / scale.ppm_x
        speeds = (speed_mm_s,) if speed_mm_s else (25.0, 50.0)
        fit = min(speeds, key=lambda v: abs(np.log(pw_mm / (0.2 * v))))
        misfit = abs(np.log(pw_mm / (0.2 * fit))) > 0.25
        if misfit and scale.strength < WEAK_GRID:
            scale = Scale(width_px / PAPER_SIZES_MM["letter"][0], width_px / PAPER_SIZES_MM["letter"][0], "page_size")
        elif not misfit:
            speed = fit
        # else: on a strong grid, pulses of neither width (7 mm: cut by the picture's edge, or run into the trace)
        # say nothing about the speed; it stays as stated, else 25 mm/s
    if scale.method == "page_size" and pulses:
        pw, ph = (float(np.median([p[i] for p in pulses])) for i in (0, 1))
        if pw > 0 and ph > 0:
            speeds = (speed_mm_s,) if speed_mm_s else (25.0, 50.0)
            papers = [width_px / mm[0] for mm in PAPER_SIZES_MM.values()]
            off, s, paper = min((abs(np.log(p / (pw / (0.2 * v)))), v, p) for v in speeds for p in papers)
            if off < 0.03:  # a whole page of a standard size: px per mm from its width, the speed from the pulse
                speed = s
                if measured and not gain_mm_mv:  # pulse heights were measured against the first guess
                    gain = _snap_gain(float(np.median(measured)) * scale.ppm_y / paper)
                scale = Scale(paper, paper, "page_size+calibration")
            else:
                speed, gain = _square_pulse(pw, ph, speeds, (gain_mm_mv,) if gain_mm_mv else COMMON_GAINS,
                                            scale.ppm_x, float(speed or 25.0), gain_mm_mv or 10.0)
                scale = Scale(pw / (0.2 * speed), ph / gain, "calibration")
    speed = float(speed or 25.0)
    return Pulses(float(gain), list(pulses), len(measured), speed), scale


def _square_pulse(pw: float, ph: float, speeds: tuple, gains: tuple, ppm_guess: float, speed: float, gain: float,
                  tol: float = SQUARE_TOL) -> tuple[float, float]:
    """Paper speed (mm/s) and gain (mm/mV) of a page read from its calibration pulse alone (``pw`` × ``ph`` px
    between stroke centres; no grid, no whole page): a scanner's or camera's pixels are square, so the pulse's
    0.2 s and 1 mV must give one px per mm on both axes (within ``tol``, log) — a pulse twice as wide as tall is
    50 mm/s at 5 mm/mV, never 25 mm/s at 10 mm/mV on pixels stretched fourfold. Where two pairs fit (a square pulse:
    25 mm/s at 5 mm/mV or 50 at 10), the one whose px per mm is nearer ``ppm_guess`` (the picture's width over a
    Letter page's); where none fits, ``speed`` and ``gain`` as given."""
    fits = [(v, g) for v in speeds for g in gains if abs(np.log(pw / (0.2 * v) / (ph / g))) < tol]
    if not fits:
        return speed, gain
    return min(fits, key=lambda vg: (abs(np.log(pw / (0.2 * vg[0]) / ppm_guess)), vg != (25.0, 10.0)))


def _one_height(with_pulse: list[RowTrace], tol: float = PULSE_HEIGHT_TOL) -> list[RowTrace]:
    """The rows whose pulses are the page's calibration pulses: a page prints them all at one height, so where
    several rows have one, those within ``tol`` (log) of their median height, if they are the majority — else
    none (rows that start on a QRS complex or a T wave give "pulses" of every height and a width that fits 50 mm/s:
    a 25 mm/s limb-lead page without pulses was so read as 6×2 at 50 mm/s and 5 mm/mV)."""
    if len(with_pulse) < 2:
        return with_pulse
    med = float(np.median([t.gain_mm_mv for t in with_pulse]))
    agree = [t for t in with_pulse if abs(np.log(t.gain_mm_mv / med)) < tol]
    return agree if len(agree) > len(with_pulse) / 2 else []


def _ten_second_rows(scale: Scale, extent_px: float, room_px: float, speed: float, fs: float, tol: float = 0.03,
                     agree: float = 0.003, too_long: float = TOO_LONG_ROWS) -> Scale:
    """Without a grid, the rows themselves are a fine ruler: a 12-lead page's full rows show the standard 10 s
    (the last sample at 10 s − 1/fs), and their traced extent ``extent_px`` is good to a pixel or two (~0.1 %).
    The page size is exact for a whole, uncropped page and off by the crop otherwise (a photo, a scan with its
    margins cut); a 5 mm pulse is good to a few per cent. So where the rows come within ``tol`` of 10 s at the
    scale found, the horizontal scale is taken from them — unless it came from the paper's size and the rows agree
    with it within ``agree`` (an uncropped page), or the rows run to the picture's edge (``room_px`` under a
    millimetre: the picture cut them, they are shorter than they were printed). With the paper's size, the
    vertical scale follows (square pixels); from the pulses, it keeps their height. A measured grid is kept —
    unless the rows would then last more than 10 s by over ``too_long`` (relative), which no 12-lead page prints:
    the grid's period was misread (text, a dotted minor grid, a photo's near edge), and both axes are scaled to the
    rows' 10 s (a pulse's height is kept)."""
    if extent_px <= 0:
        return scale
    ppm_rows = extent_px / ((10.0 - 1.0 / fs) * speed)
    if ppm_rows > scale.ppm_x * (1 + too_long):
        k = ppm_rows / scale.ppm_x
        y = scale.ppm_y if scale.method.startswith("calibration") else scale.ppm_y * k
        return Scale(ppm_rows, y, scale.method + "+rows", scale.strength)
    if scale.method == "grid" or room_px < scale.ppm_x:
        return scale
    off = abs(np.log(ppm_rows / scale.ppm_x))
    page = scale.method.startswith("page_size")
    if off > tol or (page and off < agree):
        return scale
    return Scale(ppm_rows, ppm_rows if page else scale.ppm_y, scale.method + "+rows", scale.strength)


# ---- main entry -----------------------------------------------------------------------------------------
def digitize(image: np.ndarray, fs: float = 500.0, speed_mm_s: float | None = None, gain_mm_mv: float | None = None,
             layout: str | None = None, name: str = "picture", keep_image: bool = True, ink: str = DEFAULT_INK,
             weights=None, drop_bad_leads: bool = True, net: NetInk = NET_INK,
             separate: Separation = SEPARATE) -> DigitizedPage:
    """Digitize an ECG picture (RGB uint8 (H, W, 3)).

    Parameters
    ----------
    fs : output sampling rate (Hz) of the 10 s timeline.
    speed_mm_s : paper speed (mm/s); ``None`` reads it from the calibration pulses' width (25 or 50), else 25.
    gain_mm_mv : amplitude scale; ``None`` reads it from the calibration pulse (default 10 mm/mV).
    layout : force a layout name from :data:`ecgcls.geometry.LAYOUTS`; ``None`` detects it.
    ink : 'classic' (darkness threshold), 'net' (the trace segmentation network; ``weights`` a
        ``traceseg.safetensors`` path, default the bundled one) or 'auto' (:data:`DEFAULT_INK`: classic, and where
        that page is refused or uncertain also net, keeping the reading with the higher predicted SNR).
    drop_bad_leads : leads whose predicted SNR is below the quality model's ``drop_db`` become NaN.
    net, separate : how the trace network's map becomes ink (:class:`NetInk`) and whether crowded rows are read
        through the lead separation network (:class:`Separation`, off by default) — explicit, so that worker
        processes read a page exactly as their caller asked.

    Raises :class:`DigitizeError` when no ECG trace rows can be found. A page that was read but whose quality
    predicts a poor reading comes back with ``status='uncertain'`` and a ``reason``.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DigitizeError(f"{name}: expected an RGB uint8 (H, W, 3) array, got {image.dtype} {image.shape}")
    if ink not in INK_METHODS + ("auto",):
        raise ValueError(f"ink={ink!r}; choose from {', '.join(INK_METHODS + ('auto',))}")
    sheet = find_sheet(image, keep_image=keep_image or ink != "classic")  # one sheet for both ink maps
    kw = dict(fs=fs, speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv, layout=layout, name=name,
              keep_image=keep_image, weights=weights, drop_bad_leads=drop_bad_leads, net=net, separate=separate)
    if ink != "auto":
        return _read(sheet, ink, **kw)
    # auto: the threshold where it reads well (fast, precise); the network where it does not
    try:
        first = _read(sheet, "classic", **kw)
    except DigitizeError:
        first = None
    if first is not None and first.status == "ok":
        return first
    try:
        second = _read(sheet, "net", **kw)
    except DigitizeError:
        if first is None:
            raise
        return first
    if first is None:
        return second
    return max((first, second), key=lambda d: np.mean(list(d.lead_snr_pred.values()) or [-20.0]))


def _looks_stray(traces: list[RowTrace], cover: list[float], drop: int, narrow: float = 0.8) -> bool:
    """May the top row be a stray row (header text, a shadow's edge) rather than a trace row? Only if
    it is unlike the trace rows: it lacks the calibration pulse most other rows start with, or its trace spans
    less than ``narrow`` × the other rows' median traced width. (On real photos the limb-lead test alone
    dropped a traced first row — pulse and all — on a quarter of the pages, and every lead moved up a row.)"""
    others = [i for i in range(len(traces)) if i != drop]
    with_pulse = sum(traces[i].pulse_px is not None for i in others)
    if traces[drop].pulse_px is None and with_pulse > len(others) / 2:
        return True
    return cover[drop] < narrow * float(np.median([cover[i] for i in others]))


def _rows_at(ink: np.ndarray, dark: np.ndarray, scale: Scale, layout: str | None, name: str,
             speed_mm_s: float | None, separate: Separation = SEPARATE) -> tuple[Rows, list[RowTrace], list[float]]:
    """(rows, their traces, each trace's extent in px) found on the ink map at ``scale``; raises where the traced
    rows span too little of the picture to be ECG rows."""
    mask = clean_ink(ink, scale.ppm_y)
    rows = find_trace_rows(mask, scale, layout, name)
    traces = trace_rows(mask, dark, rows, scale, speed_mm_s, separate)
    extents = [r.x_end - r.x_start for r in traces]
    if np.median(extents) < 0.35 * ink.shape[1]:
        raise DigitizeError(f"{name}: no ECG trace rows found (ink rows span only "
                            f"{np.median(extents) / ink.shape[1]:.0%} of the picture's width)")
    return rows, traces, extents


def _read(sheet: Sheet, ink: str, fs: float, speed_mm_s: float | None, gain_mm_mv: float | None, layout: str | None,
          name: str, keep_image: bool, weights, drop_bad_leads: bool, net: NetInk = NET_INK,
          separate: Separation = SEPARATE) -> DigitizedPage:
    """The stages after :func:`find_sheet`, with one ink map (see :func:`digitize`)."""
    inkmap = ink_map(sheet, ink, weights, net)
    # the grid is measured on what is neither ink by either map nor darker than the classic threshold
    scale = measure_scale(sheet, inkmap.ink | inkmap.dark_pixels)
    w = inkmap.ink.shape[1]
    for attempt in range(2):  # the pulses may correct the scale; rows are then found again at the right one
        rows, traces, extents = _rows_at(inkmap.ink, sheet.dark, scale, layout, name, speed_mm_s, separate)
        pulses, new_scale = read_pulses(traces, scale, w, speed_mm_s, gain_mm_mv)
        changed = abs(np.log(new_scale.ppm_y / scale.ppm_y)) > RESCALE_REFIND
        scale = new_scale
        if not changed:
            break
    speed = pulses.speed_mm_s
    n = int(round(10 * fs))
    extent_px = float(np.median(extents))
    found = scale
    scale = _ten_second_rows(scale, extent_px, w - 1 - float(np.median([t.x_end for t in traces])), speed, fs)
    if abs(np.log(scale.ppm_y / found.ppm_y)) > RESCALE_REFIND:
        # the rows' 10 s rescaled a misread grid: rows found at the wrong scale merge or drop (a row's band and
        # the spacing between rows are set in mm), so find and trace them again at the right one; the speed
        # stays as read, the pulses' heights are measured again. Where no rows are found there, the first
        # reading stands (as before v30): a page once read is not refused by a second look
        try:
            rows, traces, extents = _rows_at(inkmap.ink, sheet.dark, scale, layout, name, speed, separate)
            pulses = read_pulses(traces, scale, w, speed, gain_mm_mv)[0]
            extent_px = float(np.median(extents))
        except DigitizeError:
            pass
    extent_s = extent_px / (speed * scale.ppm_x)
    window = 10.0 if extent_s > 7.0 else float(max(1.0, np.round(extent_s)))
    choice = choose_layout(traces, rows.candidates, scale.ppm_x, scale.ppm_y, speed, pulses.gain_mm_mv, fs, n,
                           window)
    fewer = len(traces) - 1
    if (layout is None and fewer in LAYOUTS_BY_ROWS and LAYOUTS[rows.candidates[0]].rhythm_rows
            and max(strip_residuals(choice)) > STRIP_MATCH):
        # a rhythm strip, or a stray row (header, shadow, footer text)? A strip that repeats no column segment
        # is no strip: drop the row the least of whose width was traced and read the page without it
        # (a stray row lies above or below the trace rows, never between them; and the reading without it
        # must obey the limb-lead laws better than the one with it)
        cover = [float(np.isfinite(t.y).mean()) for t in traces]
        drop = 0 if cover[0] < cover[-1] else len(traces) - 1
        # (dropping the bottom row loses at most a strip; dropping the top row moves every lead up a row, so
        # the top row must also look unlike a trace row)
        if drop == len(traces) - 1 or _looks_stray(traces, cover, drop):
            kept = [t for i, t in enumerate(traces) if i != drop]
            other = choose_layout(kept, LAYOUTS_BY_ROWS[fewer], scale.ppm_x, scale.ppm_y, speed, pulses.gain_mm_mv,
                                  fs, n, window)
            if min(other.scores.values()) < min(choice.scores.values()):
                traces, choice = kept, other
    quality = assess(choice, traces, scale, fs, n, method=inkmap.method)
    sig = choice.signal
    for lead in (quality.dropped if drop_bad_leads else []):  # read too badly: unknown, not wrong numbers
        sig[LEADS.index(lead)] = np.nan
    starts = {}
    for i, lead in enumerate(LEADS):
        got = np.flatnonzero(np.isfinite(sig[i]))
        starts[lead] = float(got[0] / fs) if got.size else None
    return DigitizedPage(Record(sig, fs, id=name), choice.name, choice.scores, (scale.ppm_x, scale.ppm_y),
                         scale.method, sheet.rotation_deg, sheet.rectified, pulses.gain_mm_mv, speed,
                         quality.lead_quality, quality.quality, starts, traces,
                         sheet.image if keep_image else None, choice.layout.rhythm_leads, choice.timing,
                         quality.status, quality.reason, inkmap.method, quality.lead_snr_pred, quality.features,
                         segment_placement(choice.layout, traces, scale.ppm_x, scale.ppm_y, speed, pulses.gain_mm_mv))


__all__ = ["DIGITIZER_VERSION", "DigitizeError", "DigitizedPage", "digitize", "find_sheet", "ink_map",
           "measure_scale", "find_trace_rows", "trace_rows", "read_pulses", "LAYOUTS_BY_ROWS"]
