"""Find trace rows and follow each trace column by column (pure functions on arrays).

Conventions: ``ink`` is a boolean (H, W) mask; y grows downwards; columns are x.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
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
    span = max(1.0, x1 - x0)
    band = max(2, int(2.5 * px_per_mm))
    rows = []
    for y in peaks:
        a, b = max(0, y - band), min(h, y + band + 1)
        covered = ink[a:b, int(x0):int(x1) + 1].any(axis=0).mean()
        if covered >= min_cover:
            rows.append(float(y))
    # drop text-like rows far above the others (headers) that slipped through
    return rows


def column_runs(ink_band: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical ink runs of every column: (col, y0, y1) arrays (y1 exclusive), sorted by column then y."""
    h, w = ink_band.shape
    pad = np.zeros((h + 2, w), np.int8)
    pad[1:-1] = ink_band
    d = np.diff(pad, axis=0)
    sc, sy = np.nonzero(d.T == 1)
    ec, ey = np.nonzero(d.T == -1)
    return sc, sy, ey


def follow_trace(ink_band: np.ndarray, base_y: float, pitch: float, max_cands: int = 6,
                 jump_cost: float = 1.0, prior_cost: float = 0.02, gap_cost: float = 8.0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Follow one trace through a band with a Viterbi path over the ink runs of each column.

    Cost of moving from run a to run b = the vertical gap between them (0 when they touch: the line is
    continuous) × ``jump_cost`` + distance of b's centre from the row's baseline / pitch ×
    ``prior_cost`` × pitch (prefers the row's own trace where neighbours overlap). A column may be
    skipped (``gap_cost``). Returns per column: y_top, y_bot, y_value (sub-pixel, NaN for gaps).

    ``y_value`` is the run centre, except where both neighbours lie on the same side (a peak or a
    trough inside the column): then the run's far end, so R and S peaks keep their amplitude.
    """
    h, w = ink_band.shape
    sc, sy, ey = column_runs(ink_band)
    starts = np.searchsorted(sc, np.arange(w + 1))
    INF = 1e18
    # per column candidates: list of (y0, y1)
    cands: list[np.ndarray] = []
    for x in range(w):
        a, b = starts[x], starts[x + 1]
        if a == b:
            cands.append(np.zeros((0, 2)))
            continue
        c = np.stack([sy[a:b], ey[a:b]], axis=1).astype(np.float64)
        if len(c) > max_cands:
            mid = c.mean(axis=1)
            c = c[np.argsort(np.abs(mid - base_y))[:max_cands]]
        cands.append(c)
    # Viterbi: state k in candidates + one 'gap' state (index -1 carries the last real run)
    prev_cost = np.array([0.0])
    prev_runs = np.array([[base_y, base_y + 1]])
    back: list[tuple[np.ndarray, np.ndarray]] = []
    for x in range(w):
        c = cands[x]
        n = len(c)
        cost = np.full(n + 1, INF)
        arg = np.zeros(n + 1, np.int64)
        carry = np.zeros((n + 1, 2))
        if n:
            gap = np.maximum(0.0, np.maximum(c[None, :, 0] - prev_runs[:, None, 1],
                                             prev_runs[:, None, 0] - c[None, :, 1]))
            total = prev_cost[:, None] + jump_cost * gap
            arg[:n] = np.argmin(total, axis=0)
            cost[:n] = total[arg[:n], np.arange(n)] + prior_cost * np.abs(c.mean(axis=1) - base_y)
            carry[:n] = c
        # gap state: keep the best previous run
        j = int(np.argmin(prev_cost))
        cost[n] = prev_cost[j] + gap_cost
        arg[n] = j
        carry[n] = prev_runs[j]
        back.append((arg, carry))
        prev_cost, prev_runs = cost - cost.min(), carry
    # backtrack
    top = np.full(w, np.nan)
    bot = np.full(w, np.nan)
    k = int(np.argmin(prev_cost))
    for x in range(w - 1, -1, -1):
        arg, carry = back[x]
        n = len(cands[x])
        if k < n:
            top[x], bot[x] = carry[k]
        k = int(arg[k])
    bot = bot - 1  # inclusive bottom pixel
    return top, bot, column_values(top, bot)


def column_values(top: np.ndarray, bot: np.ndarray) -> np.ndarray:
    """Sub-pixel trace y per column from the tracked ink run [top, bot] of each column.

    A stroke of half-thickness ``h`` drawn through the trace y(x) inks, in column ``c``, every y(x) ± h for
    x within ``r`` columns of ``c``: top(c) = min y(x) − h and bot(c) = max y(x) + h over that window (a
    grey erosion / dilation). Inverting it bounds the trace: L(c) = max over the window of top + h ≤ y(c)
    ≤ U(c) = min over the window of bot − h. We take the middle of [L, U], except at a local extreme
    of a bound (a peak keeps L, a trough keeps U), so R and S amplitudes survive thick strokes.
    """
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    height = bot - top + 1
    ok = np.isfinite(top) & np.isfinite(bot)
    if not ok.any():
        return np.full_like(top, np.nan)
    t = float(np.median(height[ok]))
    h = (t - 1) / 2
    r = max(1, int(h))
    size = 2 * r + 1
    L = maximum_filter1d(np.where(ok, top + h, -np.inf), size, mode="nearest")
    U = minimum_filter1d(np.where(ok, bot - h, np.inf), size, mode="nearest")
    L = np.minimum(L, np.where(ok, bot - h, np.inf))   # keep within this column's own run
    U = np.maximum(U, np.where(ok, top + h, -np.inf))
    with np.errstate(invalid="ignore"):
        out = (L + U) / 2
    wide = (U - L) > 1.0
    peak = wide & (L <= minimum_filter1d(L, size, mode="nearest"))
    trough = wide & (U >= maximum_filter1d(U, size, mode="nearest"))
    out[peak & ~trough] = L[peak & ~trough]
    out[trough & ~peak] = U[trough & ~peak]
    out[~ok] = np.nan
    return out
