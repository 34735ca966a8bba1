"""Layout stage: assemble the traced rows into leads under each candidate layout and keep the one the page
supports (lead identities, repeated leads), reading rhythm-strip leads and column timing from the beats.

Pure functions on arrays; the layouts are data (:data:`ecgcls.geometry.LAYOUTS`).
"""
from __future__ import annotations

import warnings

import numpy as np

from ecgcls.digitize.stages import LayoutChoice, RowTrace, place  # noqa: F401 (place: its old home)
from ecgcls.geometry import LAYOUTS, Layout
from ecgcls.types import true_runs

#: Layouts that share their geometry with a common one (Cabrera = 3×4 in another lead order) are chosen only
#: when their lead-identity residual is clearly lower (by this much): thin, poorly read real traces leave
#: both residuals near 1 (no evidence), and then the common layout is the better guess. Pages of one lead
#: group (limb6 / chest6) are told from the six-row grids by their rows' structure (:data:`STRUCTURE_WEIGHT`);
#: between the two, limb6 must show its limb-lead laws (residual below ~0.7, where a chest-lead page read as limb
#: leads scores 1.0–1.1 and chest6, with nothing to check, 1.0).
RARE_LAYOUT_PENALTY = {"cabrera": 0.2, "cabrera+II": 0.2, "limb6": 0.6, "chest6": 0.3}

#: Weight of the row-structure cost (:func:`structure_cost`, 0–1) in the choice between layouts: a row whose
#: equal parts show the same beat is one lead (limb6, chest6, 12×1, a strip), a row whose parts show different
#: beats is several (6×2, 3×4). The lead-identity residual cannot tell a limb-lead page from 6×2 (its first
#: five seconds are the same limb leads) nor a chest-lead page from anything (no limb leads to check).
STRUCTURE_WEIGHT = 2.0


def _residual(a: np.ndarray, b: np.ndarray, min_overlap: int = 50) -> float | None:
    """RMS difference of two signals where both exist, each centred on its median, relative to their RMS;
    None when they overlap on fewer than ``min_overlap`` samples."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < min_overlap:
        return None
    aa, bb = a[ok] - np.median(a[ok]), b[ok] - np.median(b[ok])
    scale = np.sqrt(np.mean(aa ** 2) + np.mean(bb ** 2)) + 1e-6
    return float(np.sqrt(np.mean((aa - bb) ** 2)) / scale)


def lead_identity_residual(sig: np.ndarray) -> float:
    """Mean residual of Einthoven's and Goldberger's limb-lead identities where the leads overlap in time
    (lower = more consistent); NaN where none can be checked (a page without limb leads: no evidence)."""
    I, II, III, aVR, aVL, aVF = sig[:6]
    checks = [(II, I + III), (-aVR, (I + II) / 2), (aVL, I - II / 2), (aVF, II - I / 2), (aVL, (I - III) / 2),
              (aVF, (II + III) / 2), (aVR, -(aVL + aVF))]
    res = [r for a, b in checks if (r := _residual(a, b)) is not None]
    return float(np.mean(res)) if res else float("nan")


def _duplicate_residual(parts: dict[int, list[np.ndarray]]) -> list[float]:
    """Where one lead was printed twice over the same time (a rhythm strip), the two must agree."""
    res = []
    for arrs in parts.values():
        for i in range(len(arrs)):
            for j in range(i + 1, len(arrs)):
                r = _residual(arrs[i], arrs[j])
                if r is not None:
                    res.append(r)
    return res


def column_interp(xs: np.ndarray, col: np.ndarray, y: np.ndarray, method: str = "akima") -> np.ndarray:
    """The trace height at page positions ``xs`` (px) from its per-column readings ``y`` at columns ``col``
    (NaN: no reading), NaN outside the read columns.

    ``akima``: Akima's piecewise cubic through each run of 4 or more read columns (shorter runs and the gaps
    between runs are straight lines). A column reads a QRS apex at the column's centre while the apex sample
    lies up to half a column away; a cubic keeps more of the apex between columns than a straight line, and
    Akima's is local (a jump where two traces touch does not ring along the row as a global spline's does).
    ``linear``: straight lines only.
    """
    if method not in ("akima", "linear"):
        raise ValueError(f"column_interp: method={method!r}; choose 'akima' or 'linear'")
    ok = np.isfinite(y)
    vals = np.interp(xs, col[ok], y[ok], left=np.nan, right=np.nan)
    if method == "linear" or ok.sum() < 4:
        return vals
    from scipy.interpolate import Akima1DInterpolator

    for a, b in true_runs(ok, 4):
        sel = (xs >= col[a]) & (xs <= col[b - 1])
        if sel.any():
            vals[sel] = Akima1DInterpolator(col[a:b], y[a:b])(xs[sel])
    return vals


def _segment_signals(layout: Layout, rows: list[RowTrace], ppm_x: float, ppm_y: float, speed: float, gain: float,
                     fs: float, n: int, edge_s: float = 0.02) -> list[np.ndarray | None]:
    """Each printed segment (in ``layout.segments`` order) resampled onto the common timeline (n,) in mV,
    NaN outside it and where nothing was read; None where its row was not found."""
    out: list[np.ndarray | None] = []
    for seg in layout.segments:
        out.append(None)
        if seg.row >= len(rows):
            continue
        r = rows[seg.row]
        k0 = int(round(seg.t_start * fs))
        k1 = min(n, int(round(seg.t_end * fs)))
        if k1 <= k0:
            continue
        paper_t = seg.x_t + (np.arange(k0, k1) - k0) / fs
        xs = r.x_start + paper_t * speed * ppm_x
        y = r.y
        ok = np.isfinite(y)
        if ok.sum() < 2:
            continue
        col = np.arange(len(y), dtype=np.float64) + r.x[0]
        vals = column_interp(xs, col, y)
        # NaN where the nearest column had no trace, or past the row's end
        near = np.clip(np.round(xs - r.x[0]).astype(int), 0, len(y) - 1)
        vals[~ok[near] | (xs > r.x_end)] = np.nan
        base = np.nanmedian(vals) if np.isfinite(vals).any() else r.y0
        mv = (base - vals) / (gain * ppm_y)
        if seg.inverted:
            mv = -mv
        e = int(edge_s * fs)
        if seg.x_t > 0:
            mv[:e] = np.nan
        if seg.x_t + (seg.t_end - seg.t_start) < layout.duration_s - 1e-6:
            mv[len(mv) - e:] = np.nan
        full = np.full(n, np.nan, np.float32)
        full[k0:k1] = mv
        out[-1] = full
    return out


def segment_placement(layout: Layout, rows: list[RowTrace], ppm_x: float, ppm_y: float, speed: float,
                      gain: float) -> list[dict]:
    """Where each printed segment lies on the (de-skewed) picture, so anything on a lead's timeline can be drawn
    back onto the page: ``lead``, ``t0``/``t1`` (signal s), ``x0`` (px at ``t0``), ``px_per_s``, ``y_zero`` (px of
    0 mV: the segment's median trace height, as :func:`_segment_signals` reads it) and ``px_per_mv`` (negative
    when printed inverted, e.g. Cabrera's −aVR). A point of lead L at time t: ``x = x0 + (t − t0)·px_per_s``,
    ``y = y_zero − mV·px_per_mv``."""
    out = []
    for seg in layout.segments:
        if seg.row >= len(rows):
            continue
        r = rows[seg.row]
        x0 = r.x_start + seg.x_t * speed * ppm_x
        x1 = min(r.x_end, x0 + (seg.t_end - seg.t_start) * speed * ppm_x)
        cols = (np.arange(len(r.y)) + r.x[0] >= x0) & (np.arange(len(r.y)) + r.x[0] <= x1) & np.isfinite(r.y)
        out.append({"lead": seg.lead, "row": seg.row, "t0": float(seg.t_start), "t1": float(seg.t_end),
                    "x0": float(x0), "px_per_s": float(speed * ppm_x),
                    "y_zero": float(np.median(r.y[cols])) if cols.any() else float(r.y0),
                    "px_per_mv": float(gain * ppm_y) * (-1.0 if seg.inverted else 1.0)})
    return out


def _combine(layout: Layout, seg_sigs: list[np.ndarray | None], n: int
             ) -> tuple[np.ndarray, dict[int, list[np.ndarray]]]:
    """(12, n) record from the segment signals: leads printed twice are averaged where both exist."""
    out = np.full((12, n), np.nan, np.float32)
    parts: dict[int, list[np.ndarray]] = {}
    for seg, sig in zip(layout.segments, seg_sigs):
        if sig is not None:
            parts.setdefault(seg.lead_idx, []).append(sig)
    for lead, arrs in parts.items():
        stack = np.stack(arrs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
            out[lead] = np.nanmean(stack, axis=0)
    return out, parts


def _assemble(layout: Layout, rows: list[RowTrace], ppm_x: float, ppm_y: float, speed: float, gain: float,
              fs: float, n: int) -> tuple[np.ndarray, dict[int, list[np.ndarray]], list[np.ndarray | None]]:
    """Resample each printed segment onto the common timeline (12, n); NaN elsewhere."""
    seg_sigs = _segment_signals(layout, rows, ppm_x, ppm_y, speed, gain, fs, n)
    return (*_combine(layout, seg_sigs, n), seg_sigs)


def _strip_scores(layout: Layout, seg_sigs: list[np.ndarray | None], k: int) -> dict[str, float]:
    """How well the rhythm strip ``layout.segments[k]`` repeats each lead's column segments: the lowest residual
    (see :func:`_residual`) per lead over the seconds they share; leads sharing too few samples are absent."""
    strip = seg_sigs[k]
    score: dict[str, float] = {}
    if strip is None:
        return score
    for seg, sig in zip(layout.segments, seg_sigs):
        if seg.row in layout.rhythm_rows or sig is None:
            continue
        res = _residual(strip, -sig if seg.inverted else sig)
        if res is not None:
            score[seg.lead] = min(score.get(seg.lead, np.inf), res)
    return score


def identify_rhythm_leads(layout: Layout, seg_sigs: list[np.ndarray | None], accept: float = 0.45,
                          margin: float = 0.1, keep_default: float = 0.6) -> Layout:
    """Which lead each rhythm strip shows, read from the page: the strip must repeat, over the seconds they
    share, the column segment of its lead. The lead whose segment it matches best (residual, see
    :func:`_residual`) replaces the table's default only when the default does not match (residual ≥
    ``keep_default``: a poorly read page leaves every residual mediocre, and then the usual lead II is the
    better guess), the other matches well (< ``accept``) and clearly better (by ``margin``)."""
    if not layout.rhythm_rows:
        return layout
    leads = []
    for k in layout.strip_segments:
        default = layout.segments[k].lead
        score = _strip_scores(layout, seg_sigs, k)
        best = min(score, key=score.get) if score else default
        d = score.get(default, np.inf)
        ok = d >= keep_default and score.get(best, np.inf) < accept and score.get(best, np.inf) + margin < d
        leads.append(best if ok else default)
    return layout.with_rhythm_leads(leads)


def _beat_envelope(x: np.ndarray, fs: float) -> np.ndarray:
    """Slope energy smoothed over 60 ms, zero where nothing was read: peaks at QRS complexes."""
    from scipy.ndimage import uniform_filter1d

    d = np.abs(np.diff(np.nan_to_num(x), prepend=0.0))
    d[~np.isfinite(x)] = 0.0
    d[1:][~np.isfinite(x[:-1])] = 0.0
    return uniform_filter1d(d, max(3, int(0.06 * fs)))


def register_columns(layout: Layout, seg_sigs: list[np.ndarray | None], fs: float, min_corr: float = 0.4
                     ) -> tuple[Layout, str]:
    """Time of the page's columns from the beats, not from a convention: most machines print consecutive
    seconds in consecutive columns, some generators the same seconds in every column. With a rhythm strip the
    two are told apart by where the columns' QRS complexes fall on the strip (correlation of beat envelopes, per
    column). Simultaneous columns must show it: their mean correlation with the strip at least ``min_corr`` and
    0.1 above the consecutive one; a page read too poorly for either keeps the convention, consecutive (on real
    photos the beats of a badly read strip had "voted" simultaneous with correlations of −0.1 to 0.3; read pages
    of either kind correlate 0.5–0.95). Returns the layout (possibly
    :meth:`~ecgcls.geometry.Layout.simultaneous`) and 'consecutive', 'simultaneous' or 'convention'."""
    cols = sorted({s.x_t for s in layout.segments if s.row not in layout.rhythm_rows})
    if not layout.rhythm_rows or len(cols) < 2:
        return layout, "convention"
    strips = [sig for seg, sig in zip(layout.segments, seg_sigs) if seg.row in layout.rhythm_rows and sig is not None]
    if not strips:
        return layout, "convention"
    env_r = np.sum([_beat_envelope(s, fs) for s in strips], axis=0)
    votes = {"consecutive": 0.0, "simultaneous": 0.0}
    voted = 0
    for x_t in cols[1:]:
        segs = [(seg, sig) for seg, sig in zip(layout.segments, seg_sigs)
                if seg.row not in layout.rhythm_rows and abs(seg.x_t - x_t) < 1e-6 and sig is not None]
        if not segs:
            continue
        a, b = int(round(segs[0][0].t_start * fs)), int(round(segs[0][0].t_end * fs))
        env_c = np.sum([_beat_envelope(sig, fs) for _, sig in segs], axis=0)[a:b]
        w = b - a
        voted += 1
        for kind, start in (("consecutive", a), ("simultaneous", 0)):
            ref = env_r[start:start + w]
            if len(ref) == w and ref.std() > 0 and env_c.std() > 0:
                votes[kind] += float(np.corrcoef(ref, env_c)[0, 1])
    if votes["simultaneous"] > votes["consecutive"] + 0.1 and votes["simultaneous"] >= min_corr * max(voted, 1):
        return layout.simultaneous(), "simultaneous"
    return layout, "consecutive"


def beat_templates(y: np.ndarray, px_per_s: float, parts: list[tuple[int, int]], before_s: float = 0.25,
                   after_s: float = 0.35) -> list[np.ndarray | None]:
    """Median beat of each part ``[a, b)`` (column indices) of one row's trace ``y`` (px per column, NaN where
    not read). Beats are found once on the whole row (peaks of its slope energy, ≥ 0.3 s apart), so parts of one
    lead give templates aligned alike; a part holding no whole beat gets None."""
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import find_peaks

    ok = np.isfinite(y)
    if ok.sum() < 0.5 * len(y):
        return [None] * len(parts)
    yy = np.where(ok, y - np.median(y[ok]), 0.0)
    d = np.abs(np.diff(yy, prepend=yy[0]))
    d[~ok] = 0.0
    env = uniform_filter1d(d, max(3, int(0.06 * px_per_s)))
    top = np.percentile(env, 99)
    if top <= 0:
        return [None] * len(parts)
    peaks, _ = find_peaks(env, distance=max(1, int(0.3 * px_per_s)), height=0.35 * top)
    a0, a1 = int(before_s * px_per_s), int(after_s * px_per_s)
    out: list[np.ndarray | None] = []
    for a, b in parts:
        beats = [yy[p - a0:p + a1] for p in peaks if p - a0 >= a and p + a1 <= b]
        out.append(np.median(beats, axis=0) if beats else None)
    return out


def row_sameness(rows: list[RowTrace], px_per_s: float, splits: tuple[int, ...] = (2, 4)) -> list[dict[int, float]]:
    """For each row and each k in ``splits``: the mean correlation of the median beats of its k equal parts
    (of the row's traced extent, ``x_start`` to ``x_end``), neighbour with neighbour (near 1: one lead all along;
    low or negative: different leads); NaN where a part holds no whole beat."""
    out = []
    for r in rows:
        i0 = max(0, int(round(r.x_start - r.x[0])))
        y = r.y[i0:max(i0, int(round(r.x_end - r.x[0])) + 1)]
        row: dict[int, float] = {}
        for k in splits:
            edges = np.linspace(0, len(y), k + 1).astype(int)
            t = beat_templates(y, px_per_s, list(zip(edges[:-1], edges[1:])))
            cs = [float(np.corrcoef(t[i], t[i + 1])[0, 1]) for i in range(k - 1)
                  if t[i] is not None and t[i + 1] is not None and t[i].std() > 0 and t[i + 1].std() > 0]
            row[k] = float(np.mean(cs)) if cs else float("nan")
        out.append(row)
    return out


def structure_cost(layout: Layout, sameness: list[dict[int, float]], low: float = 0.5, high: float = 0.9) -> float:
    """How badly ``layout``'s rows disagree with what the page shows (0–1, mean over rows with evidence): a row
    the layout prints as one lead should show the same beat in its two halves, a row of k columns different
    beats in its k parts. Beat correlation ``high`` or more counts as the same lead, ``low`` or less as
    different, linear between."""
    costs = []
    for r, k in enumerate(layout.columns_per_row[:len(sameness)]):
        if k == 0:
            continue
        c = sameness[r].get(2 if k == 1 else k, float("nan"))
        if not np.isfinite(c):
            continue
        same = float(np.clip((c - low) / (high - low), 0.0, 1.0))
        costs.append(1.0 - same if k == 1 else same)
    return float(np.mean(costs)) if costs else 0.0


def strip_residuals(choice: LayoutChoice) -> list[float]:
    """For each rhythm strip of the chosen layout, how well it repeats its lead's column segment (residual, see
    :func:`_residual`; 2.0 where they share too few samples): a real strip repeats it, a stray row does not."""
    lay = choice.layout
    return [_strip_scores(lay, choice.segments, k).get(lay.segments[k].lead, 2.0) for k in lay.strip_segments]


def choose_layout(rows: list[RowTrace], candidates: tuple[str, ...], ppm_x: float, ppm_y: float, speed: float,
                  gain: float, fs: float, n: int, window_s: float) -> LayoutChoice:
    """Assemble the rows under every candidate layout (shown over ``window_s`` seconds) and keep the one whose
    leads best obey Einthoven's and Goldberger's laws, whose repeated leads agree and whose rows show one lead
    or several as the layout prints them (:func:`structure_cost`, only when the candidates differ in that)."""
    best: LayoutChoice | None = None
    scores: dict[str, float] = {}
    identity: dict[str, float] = {}
    structure: dict[str, float] = {}
    shapes = {LAYOUTS[c].columns_per_row for c in candidates}
    sameness = row_sameness(rows, speed * ppm_x, tuple(sorted({max(2, k) for sh in shapes for k in sh}))) \
        if len(shapes) > 1 else None

    def rank(name: str) -> float:
        return scores[name] + RARE_LAYOUT_PENALTY.get(name, 0.0) + STRUCTURE_WEIGHT * structure[name]

    for cand in candidates:
        lay = LAYOUTS[cand].scaled(window_s)
        timing = "convention"
        sig, parts, seg_sigs = _assemble(lay, rows, ppm_x, ppm_y, speed, gain, fs, n)
        if lay.rhythm_rows:  # read what the strips show and when the columns were recorded, then re-assemble
            lay, timing = register_columns(identify_rhythm_leads(lay, seg_sigs), seg_sigs, fs)
            sig, parts, seg_sigs = _assemble(lay, rows, ppm_x, ppm_y, speed, gain, fs, n)
        identity[cand] = lead_identity_residual(sig)
        # nothing to check counts as no evidence (1.0) in the ranking
        res = [identity[cand] if np.isfinite(identity[cand]) else 1.0] + _duplicate_residual(parts)
        scores[cand] = float(np.mean(res))
        structure[cand] = structure_cost(lay, sameness) if sameness is not None else 0.0
        if best is None or rank(cand) < rank(best.name):
            best = LayoutChoice(cand, lay, scores, timing, sig, seg_sigs)
    assert best is not None
    best.scores = scores
    best.identity = identity
    best.structure = structure
    return best
