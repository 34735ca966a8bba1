"""Find trace rows and follow each trace column by column (pure functions on arrays).

Conventions: ``ink`` is a boolean (H, W) mask; y grows downwards; columns are x.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d
from scipy.signal import find_peaks


def find_rows(ink: np.ndarray, px_per_mm: float, min_cover: float = 0.45) -> list[float]:
    """y (px) of trace baselines: peaks of the smoothed horizontal ink profile whose band is covered
    by ink across most of the trace width (which tells trace rows from header text)."""
    h, w = ink.shape
    cols = np.flatnonzero(ink.any(axis=0))
    if cols.size == 0:
        return []
    prof = gaussian_filter1d(ink.sum(axis=1).astype(np.float64), sigma=max(1.0, 0.8 * px_per_mm))
    peaks, _ = find_peaks(prof, distance=max(3, int(6 * px_per_mm)), prominence=prof.max() * 0.08)
    x0, x1 = np.percentile(cols, [2, 98])
    band = max(2, int(2.5 * px_per_mm))
    rows = []
    for y in peaks:
        a, b = max(0, y - band), min(h, y + band + 1)
        covered = ink[a:b, int(x0):int(x1) + 1].any(axis=0).mean()
        if covered >= min_cover:
            rows.append(float(y))
    return rows


try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; keep a (slow) pure-Python path
    def njit(*args, **kwargs):
        return (lambda f: f) if not (args and callable(args[0])) else args[0]


def column_runs(ink_band: np.ndarray, bridge: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical ink runs of every column: (col, y0, y1) arrays (y1 exclusive), sorted by column then y.

    Runs of one column separated by at most ``bridge`` blank pixels are merged (the hairline gap an
    anti-aliased spike leaves between its up- and down-stroke). Compiled with numba.
    """
    # transposed once (OpenCV's blocked transpose: ~10x faster than numpy's copy of a transposed view), so that
    # the scan walks each column through contiguous memory rather than striding down a row-major picture
    band = np.ascontiguousarray(ink_band, dtype=np.uint8)
    cols = cv2.transpose(band) if band.size else np.ascontiguousarray(band.T)
    return _column_runs(cols, int(bridge))


@njit(cache=True)
def _runs_pass(cols, bridge, sc, sy, ey, write):  # pragma: no cover - compiled
    """Scan the columns (rows of the transposed band ``cols`` (W, H)) for runs (merging those closer than
    ``bridge``); fill sc/sy/ey when ``write``. Returns the number of runs."""
    w, h = cols.shape
    k = -1
    for x in range(w):
        last_end = -(1 << 30)
        y = 0
        while y < h:
            if cols[x, y]:
                y0 = y
                while y < h and cols[x, y]:
                    y += 1
                if y0 - last_end > bridge:
                    k += 1
                    if write:
                        sc[k] = x
                        sy[k] = y0
                if write:
                    ey[k] = y
                last_end = y
            else:
                y += 1
    return k + 1


@njit(cache=True)
def _run_share(mask, sc, sy, ey):  # pragma: no cover - compiled
    """Share of each run's pixels set in ``mask``."""
    out = np.zeros(len(sc))
    for k in range(len(sc)):
        n = 0
        for y in range(sy[k], ey[k]):
            n += mask[y, sc[k]]
        out[k] = n / max(ey[k] - sy[k], 1)
    return out


@njit(cache=True)
def _column_runs(cols, bridge):  # pragma: no cover - compiled
    empty = np.empty(0, np.int64)
    n = _runs_pass(cols, bridge, empty, empty, empty, False)  # pass 1: count
    sc = np.empty(n, np.int64)
    sy = np.empty(n, np.int64)
    ey = np.empty(n, np.int64)
    _runs_pass(cols, bridge, sc, sy, ey, True)
    return sc, sy, ey


@njit(cache=True)
def _viterbi(starts, ry0, ry1, run_extra, base_y, jump_cost, prior_cost, gap_cost):  # pragma: no cover - compiled
    w = len(starts) - 1
    m = 1
    for x in range(w):
        m = max(m, starts[x + 1] - starts[x])
    S = m + 1  # state j < n: run j of the column; state m: 'gap' (carries the last run)
    inf = 1e18
    back = np.zeros((w, S), np.int64)
    prev_cost = np.full(S, inf)
    prev_r0 = np.full(S, base_y)
    prev_r1 = np.full(S, base_y + 1.0)
    prev_cost[m] = 0.0
    cost = np.full(S, inf)
    cur_r0 = np.zeros(S)
    cur_r1 = np.zeros(S)
    for x in range(w):
        a = starts[x]
        n = starts[x + 1] - a
        for j in range(S):
            cost[j] = inf
        for j in range(n):
            y0 = ry0[a + j]
            y1 = ry1[a + j]
            best = inf
            arg = 0
            for i in range(S):
                if prev_cost[i] >= inf:
                    continue
                g = max(0.0, max(y0 - prev_r1[i], prev_r0[i] - y1))
                c = prev_cost[i] + jump_cost * g
                if c < best:
                    best = c
                    arg = i
            cost[j] = best + prior_cost * abs(0.5 * (y0 + y1) - base_y) + run_extra[a + j]
            back[x, j] = arg
            cur_r0[j] = y0
            cur_r1[j] = y1
        bi = 0
        for i in range(S):
            if prev_cost[i] < prev_cost[bi]:
                bi = i
        cost[m] = prev_cost[bi] + gap_cost
        back[x, m] = bi
        cur_r0[m] = prev_r0[bi]
        cur_r1[m] = prev_r1[bi]
        lo = inf
        for j in range(S):
            lo = min(lo, cost[j])
        for j in range(S):
            prev_cost[j] = cost[j] - lo if cost[j] < inf else inf
            prev_r0[j] = cur_r0[j]
            prev_r1[j] = cur_r1[j]
    top = np.full(w, np.nan)
    bot = np.full(w, np.nan)
    k = 0
    for j in range(S):
        if prev_cost[j] < prev_cost[k]:
            k = j
    for x in range(w - 1, -1, -1):
        a = starts[x]
        n = starts[x + 1] - a
        if k < n:
            top[x] = ry0[a + k]
            bot[x] = ry1[a + k]
        k = back[x, k]
    return top, bot


@njit(cache=True)
def _merge_touching(starts, ry0, ry1, run_extra, top, bot, max_extra):  # pragma: no cover - compiled
    """Widen each column's chosen run [top, bot) to the column's other runs that lie within the span of the
    chosen runs of its two neighbouring columns (and that other rows did not take: ``run_extra`` under
    ``max_extra``). The Viterbi path holds one run per column, but where a narrow spike's up- and down-strokes
    part, the column between them holds the apex and a separate speck or stroke: both belong to the trace."""
    w = len(top)
    t_out = top.copy()
    b_out = bot.copy()
    for x in range(w):
        a = starts[x]
        n = starts[x + 1] - a
        if n < 2 or not np.isfinite(top[x]):
            continue
        lo = top[x]
        hi = bot[x]
        for nb in (x - 1, x + 1):
            if 0 <= nb < w and np.isfinite(top[nb]):
                lo = min(lo, top[nb])
                hi = max(hi, bot[nb])
        for j in range(n):
            y0 = ry0[a + j]
            y1 = ry1[a + j]
            if y1 > lo and y0 < hi and run_extra[a + j] < max_extra:
                t_out[x] = min(t_out[x], y0)
                b_out[x] = max(b_out[x], y1)
    return t_out, b_out


def follow_trace(ink_band: np.ndarray, base_y: float, pitch: float, jump_cost: float = 1.0,
                 prior_cost: float = 0.02, gap_cost: float = 8.0, dark_band: np.ndarray | None = None,
                 bridge: int = 2, others: np.ndarray | None = None, claim_cost: float = 0.5,
                 runs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, merge_touching: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Follow one trace through a band with a Viterbi path over the ink runs of each column.

    Moving from run a to run b costs the vertical gap between them (0 when they touch: the line is
    continuous) × ``jump_cost``, plus b's distance from the row's baseline × ``prior_cost`` (which prefers
    the row's own trace where neighbours overlap); a column may be skipped for ``gap_cost``. Runs split by at
    most ``bridge`` blank pixels count as one (see :func:`column_runs`). ``others`` (bool, band-shaped):
    pixels other rows' traces took; a run costs ``claim_cost`` × the share of it they took, so two rows do
    not follow one trace while the other trace goes unread. Compiled with numba. Returns per column: y_top,
    y_bot (inclusive; integer pixels unless ``dark_band`` refines them) and the sub-pixel trace y (NaN for
    gaps), see :func:`column_values`. ``runs``: this band's :func:`column_runs`, when already computed.
    """
    h, w = ink_band.shape
    sc, sy, ey = column_runs(ink_band, bridge) if runs is None else runs
    starts = np.searchsorted(sc, np.arange(w + 1)).astype(np.int64)
    extra = np.zeros(len(sc))
    if others is not None and len(sc):
        extra = claim_cost * _run_share(np.ascontiguousarray(others, dtype=np.uint8), sc, sy, ey)
    y0s, y1s = sy.astype(np.float64), ey.astype(np.float64)
    top, bot = _viterbi(starts, y0s, y1s, extra, float(base_y), float(jump_cost), float(prior_cost), float(gap_cost))
    if merge_touching:
        top, bot = _merge_touching(starts, y0s, y1s, extra, top, bot, 0.5 * claim_cost)
    bot = bot - 1  # inclusive bottom pixel
    if dark_band is None:
        return top, bot, column_values(top, bot)
    top, bot = subpixel_edges(top, bot, dark_band)
    return top, bot, steep_columns(top, bot, column_values(top, bot), ink_band, dark_band)


def claimed_pixels(shape: tuple[int, int], paths: list[tuple[int, np.ndarray, np.ndarray]]) -> np.ndarray:
    """uint16 (H, W) map: bit r set where row r's path (band offset, top, bot per column, band coords,
    inclusive) put its trace. At most 16 rows."""
    h, w = shape
    out = np.zeros((h, w), np.uint16)
    for r, (a, top, bot) in enumerate(paths[:16]):
        ok = np.isfinite(top) & np.isfinite(bot)
        if not ok.any():
            continue
        lo, hi = int(np.nanmin(top[ok])), int(np.nanmax(bot[ok])) + 1
        yy = np.arange(lo, hi)[:, None]
        m = ok[None] & (yy >= np.where(ok, top, 0)[None]) & (yy <= np.where(ok, bot, -1)[None])
        out[a + lo:a + hi] |= (m * np.uint16(1 << r)).astype(np.uint16)[: max(0, h - a - lo)]
    return out


def stroke_core(top: np.ndarray, bot: np.ndarray, dark: np.ndarray, cols: np.ndarray) -> float:
    """The stroke's core darkness: the median of ``dark`` at the middle of the runs [top, bot] of columns
    ``cols`` (1 where that is 0), against which a pixel's darkness is the share of it the stroke covers."""
    mid = np.clip(((top[cols] + bot[cols]) / 2).astype(int), 0, dark.shape[0] - 1)
    return float(np.median(dark[mid, cols])) or 1.0


def subpixel_edges(top: np.ndarray, bot: np.ndarray, dark: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move integer run ends by the partial ink coverage of the pixel just outside them.

    An anti-aliased (or blurred) stroke leaves the pixel above ``top`` partly dark: its darkness relative to
    the stroke's core darkness is the covered fraction, so the edge lies that far above (likewise below).
    """
    h, w = dark.shape
    ok = np.isfinite(top) & np.isfinite(bot)
    cols = np.flatnonzero(ok)
    if cols.size == 0:
        return top, bot
    t = top[cols].astype(int)
    b = bot[cols].astype(int)
    core = stroke_core(np.floor(top), np.floor(bot), dark, cols)
    def cover(y):
        return np.clip(dark[np.clip(y, 0, h - 1), cols] / core, 0.0, 1.0) * ((y >= 0) & (y < h))

    top, bot = top.copy(), bot.copy()
    # the first inked pixel may itself be only partly covered; the one outside may be partly covered too
    top[cols] = t + (1 - cover(t)) - cover(t - 1)
    bot[cols] = b - (1 - cover(b)) + cover(b + 1)
    return top, bot


def pen_radius(top: np.ndarray, bot: np.ndarray) -> float:
    """Half the pen's width (px) from a tracked trace's column runs [top, bot] (inclusive): the thinnest runs
    (20th percentile) are the flat parts of the trace, where a run is one pen width tall; slopes make runs
    taller. 0 when nothing was tracked."""
    ok = np.isfinite(top) & np.isfinite(bot)
    if not ok.any():
        return 0.0
    return max(0.0, (float(np.percentile((bot - top + 1)[ok], 20)) - 1) / 2)


def cap_start(top: np.ndarray, bot: np.ndarray, first: int, full: float = 0.85, dark: np.ndarray | None = None,
              max_hidden: int = 3) -> float:
    """x (px) of a trace's first sample, from its first inked column ``first``.

    A pen's end cap (round, or the short one OpenCV draws) reaches left of the first sample, so the first
    inked columns are thinner than the stroke: the first sample is taken at the first column whose run (sub-pixel,
    from :func:`subpixel_edges`) is ``full`` × the stroke's thickness (2 · :func:`pen_radius` + 1) — exactly
    the first sample for a round or flat cap, ≤ a pen radius early for a square one — searched within a stroke
    width of ``first``; ``first`` itself when none is (a faint or broken start) or the stroke is under 2.5 px.

    Where the first column is already a full stroke, the cap may lie under a vertical grid line that was removed
    with it (a trace that starts on a grid line, as many machines print it): with ``dark`` (the page's darkness,
    same coordinates), up to ``max_hidden`` columns left of ``first`` whose darkness at the stroke's height stands
    out from the same column above and below it by half the stroke's own contrast are taken as the trace's, and
    the leftmost is the first sample.
    """
    t = 2 * pen_radius(top, bot) + 1
    x = first
    if t >= 2.5:  # (a thinner stroke's cap is under a pixel, and its 1-2 px runs cannot tell it)
        for x in range(first, min(len(top), first + int(np.ceil(t)) + 1)):
            if np.isfinite(top[x]) and np.isfinite(bot[x]) and bot[x] - top[x] + 1 >= full * t:
                break
        else:
            return float(first)
    if x > first or dark is None or not (np.isfinite(top[first]) and np.isfinite(bot[first])):
        return float(x)
    h = dark.shape[0]
    y0, y1 = int(np.floor(top[first])), int(np.ceil(bot[first]))
    k = max(2, int(np.ceil(t)))
    cols = [c for c in range(first, min(len(top), first + 4)) if np.isfinite(top[c]) and np.isfinite(bot[c])]
    core = float(np.median([dark[min(h - 1, int(round((top[c] + bot[c]) / 2))), c] for c in cols]))
    while x > 0 and first - x < max_hidden:
        c = x - 1
        around = np.r_[dark[max(0, y0 - 3 * k):max(0, y0 - k), c], dark[min(h, y1 + k):min(h, y1 + 3 * k), c]]
        if around.size == 0:
            break
        bg = float(np.median(around))
        if float(dark[max(0, y0):min(h, y1 + 1), c].max()) - bg < 0.5 * (core - bg):
            break
        x = c
    return float(x)


def column_values(top: np.ndarray, bot: np.ndarray) -> np.ndarray:
    """Sub-pixel trace y per column from the tracked ink run [top, bot] of each column.

    A round pen of radius ``h`` drawn along the trace y(x) inks, in column ``c``, down to
    top(c) = min over x of y(x) − √(h² − (x − c)²) (a grey dilation by a disk), likewise bot(c) from below.
    Inverting it bounds the trace: L(c) = max over |d| ≤ h of top(c + d) + √(h² − d²) ≤ y(c) ≤
    U(c) = min over |d| ≤ h of bot(c + d) − √(h² − d²). We take the middle of [L, U], except at a local
    extreme of a bound (a peak keeps L, a trough keeps U), so R and S amplitudes survive thick strokes.
    The pen radius is :func:`pen_radius`.
    """
    ok = np.isfinite(top) & np.isfinite(bot)
    if not ok.any():
        return np.full_like(top, np.nan)
    h = pen_radius(top, bot)
    r = int(np.floor(h))
    tt = np.where(ok, top, -np.inf)
    bb = np.where(ok, bot, np.inf)
    L, U = tt + h, bb - h
    n = len(top)
    for d in range(1, r + 1):
        k = np.sqrt(max(h * h - d * d, 0.0))
        for s in (d, -d):  # neighbour c + s
            lo, hi = max(0, -s), min(n, n - s)
            L[lo:hi] = np.maximum(L[lo:hi], tt[lo + s:hi + s] + k)
            U[lo:hi] = np.minimum(U[lo:hi], bb[lo + s:hi + s] - k)
    L = np.minimum(L, np.where(ok, bot - h, np.inf))   # keep within this column's own run
    U = np.maximum(U, np.where(ok, top + h, -np.inf))
    with np.errstate(invalid="ignore"):
        out = (L + U) / 2
    size = 2 * max(r, 1) + 1
    wide = (U - L) > 1.0
    peak = wide & (L <= minimum_filter1d(np.where(ok, L, np.inf), size, mode="nearest"))
    trough = wide & (U >= maximum_filter1d(np.where(ok, U, -np.inf), size, mode="nearest"))
    out[peak & ~trough] = L[peak & ~trough]
    out[trough & ~peak] = U[trough & ~peak]
    out[~ok] = np.nan
    return out


#: a column whose ink run is taller than this many stroke widths is read by rows (:func:`steep_columns`)
STEEP_RUN = 2.5


def steep_columns(top: np.ndarray, bot: np.ndarray, val: np.ndarray, ink: np.ndarray, dark: np.ndarray,
                  run_factor: float = STEEP_RUN) -> np.ndarray:
    """``val`` (sub-pixel trace y per column, px) with its steep columns read from the pixel rows instead.

    Where the trace is steep (a QRS stroke: tens of px per column) a column's ink run [top, bot] spans the
    stroke over the column's width plus the pen's reach into the neighbouring columns, and next to an apex one
    end of the run is set by the apex, so its middle (:func:`column_values`) misses the trace at the column's
    centre by several px. A steep stroke is better resolved across: each pixel row it crosses holds a
    horizontal run whose sub-pixel edges (partial coverage in ``dark``, as :func:`subpixel_edges`) give where
    the stroke crosses that row — the run's centre when the run is one stroke wide, else (the neighbouring
    stroke of the same complex merged into it) the edge on the side away from the nearer apex, moved in by
    half the stroke's width (the 25th percentile of the runs' widths, px). A line fitted (y on x) to the
    crossings within 1.5 columns gives the trace's y at the column's centre, kept within the column's run, between
    the stroke's own apices (the ends of its monotonic run of columns) and within 1 px of the rows whose crossings
    were seen (no extrapolation past an apex that another row's trace hid).

    Read this way: columns that are part of a monotonic stroke (not an apex: :func:`column_values` keeps
    those) and whose run is taller than ``run_factor`` stroke widths (2 · :func:`pen_radius` + 1). ``ink``
    (bool) and ``dark`` (0..1) are the band's ink map and darkness, in ``top``/``bot``'s coordinates.
    Compiled with numba.
    """
    ok = np.isfinite(top) & np.isfinite(bot) & np.isfinite(val)
    if ok.sum() < 3:
        return val
    hp = pen_radius(top, bot)
    stroke = 2 * hp + 1
    core = stroke_core(top, bot, dark, np.flatnonzero(ok))
    cand, side, lo_y, hi_y, rows = _stroke_rows(np.ascontiguousarray(ink, dtype=np.uint8),
                                    np.ascontiguousarray(dark, dtype=np.float32), float(core),
                                    np.where(ok, top, np.nan), np.where(ok, bot, np.nan), np.where(ok, val, np.nan),
                                    float(run_factor * stroke), int(np.ceil(3 * stroke)) + 2)
    if len(rows) == 0:
        return val
    k, y, left, right = rows[:, 0].astype(np.int64), rows[:, 1], rows[:, 2], rows[:, 3]
    half = max(0.0, float(np.percentile(right - left, 25)) / 2)
    merged = (right - left) > 2 * half + 1
    x = np.where(merged, np.where(side[k] > 0, right - half, left + half), (left + right) / 2)
    c = cand[k].astype(np.float64)
    near = np.abs(x - c) < 1.5
    k, x, y, c = k[near], x[near] - c[near], y[near], c[near]
    # least-squares line y = a + b·(x − c) per column, from the sums over its rows
    m = len(cand)
    n, sx, sy = (np.bincount(k, w, m) for w in (np.ones_like(x), x, y))
    sxx, sxy = np.bincount(k, x * x, m), np.bincount(k, x * y, m)
    den = n * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (n * sxy - sx * sy) / den
        a = (sy - b * sx) / n
    sign = np.sign(val[cand + 1] - val[cand - 1])
    y_min, y_max = np.full(m, np.inf), np.full(m, -np.inf)
    np.minimum.at(y_min, k, y)
    np.maximum.at(y_max, k, y)
    good = (n >= 2) & (np.abs(den) > 1e-9) & (b * sign > 0)
    out = val.copy()
    cg = cand[good]
    # within the column's run, the stroke's apices and 1 px of the rows whose crossings were seen
    y_fit = np.clip(a[good], y_min[good] - 1, y_max[good] + 1)
    out[cg] = np.clip(np.clip(y_fit, top[cg] + hp, bot[cg] - hp), lo_y[good], hi_y[good])
    return out


@njit(cache=True)
def _stroke_rows(ink, dark, core, top, bot, val, min_run, win):  # pragma: no cover - compiled
    """Candidate columns of :func:`steep_columns`, the side of each whose edge to trust (+1 right: the nearer
    apex is left of it, −1 left), the y range between its stroke's two apices (lower, upper), and per pixel row
    the stroke crosses: (candidate index, y, left edge, right edge) of the horizontal ink run nearest the column
    (sub-pixel; rows whose run reaches the window's end skipped)."""
    h, w = ink.shape
    n = len(val)
    cand = np.empty(n, np.int64)
    side = np.empty(n, np.int64)
    lo_y = np.empty(n, np.float64)
    hi_y = np.empty(n, np.float64)
    m = 0
    for c in range(2, n - 2):
        if not (bot[c] - top[c] + 1 > min_run) or np.isnan(val[c - 1]) or np.isnan(val[c + 1]):
            continue
        d = val[c + 1] - val[c - 1]
        if (val[c] - val[c - 1]) * d <= 0 or (val[c + 1] - val[c]) * d <= 0:
            continue
        dl = 0
        while c - dl - 1 >= 0 and not np.isnan(val[c - dl - 1]) and (val[c - dl] - val[c - dl - 1]) * d > 0:
            dl += 1
        dr = 0
        while c + dr + 1 < n and not np.isnan(val[c + dr + 1]) and (val[c + dr + 1] - val[c + dr]) * d > 0:
            dr += 1
        cand[m] = c
        side[m] = 1 if dl < dr else -1
        lo_y[m] = min(val[c - dl], val[c + dr])
        hi_y[m] = max(val[c - dl], val[c + dr])
        m += 1
    total = 0
    for i in range(m):
        c = cand[i]
        total += int(np.ceil(max(val[c - 1], val[c + 1]))) - int(np.floor(min(val[c - 1], val[c + 1]))) + 1
    rows = np.empty((total, 4), np.float64)
    r = 0
    for i in range(m):
        c = cand[i]
        a, b = max(0, c - win), min(w, c + win + 1)
        y0 = max(0, int(np.floor(min(val[c - 1], val[c + 1]))))
        y1 = min(h - 1, int(np.ceil(max(val[c - 1], val[c + 1]))))
        for y in range(y0, y1 + 1):
            j = -1
            for dx in range(0, win + 1):   # the inked pixel nearest the column
                if c - dx >= a and ink[y, c - dx]:
                    j = c - dx
                    break
                if c + dx < b and ink[y, c + dx]:
                    j = c + dx
                    break
            if j < 0:
                continue
            lo = j
            while lo > a and ink[y, lo - 1]:
                lo -= 1
            hi = j
            while hi < b - 1 and ink[y, hi + 1]:
                hi += 1
            if (lo == a and a > 0) or (hi == b - 1 and b < w):
                continue
            cl = min(1.0, max(0.0, dark[y, lo] / core))
            cr = min(1.0, max(0.0, dark[y, hi] / core))
            ol = min(1.0, max(0.0, dark[y, lo - 1] / core)) if lo > 0 else 0.0
            orr = min(1.0, max(0.0, dark[y, hi + 1] / core)) if hi < w - 1 else 0.0
            rows[r, 0] = i
            rows[r, 1] = y
            rows[r, 2] = lo + (1 - cl) - ol
            rows[r, 3] = hi - (1 - cr) + orr
            r += 1
    return cand[:m], side[:m], lo_y[:m], hi_y[:m], rows[:r]
