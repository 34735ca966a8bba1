"""Picture → 12-lead signals with validity masks (the classical digitizer).

Steps (each a pure function in :mod:`ecgcls.digitize.grid` / :mod:`ecgcls.digitize.trace`):

1. darkness against the local paper brightness (cancels shadows), skew estimate and de-rotation;
2. trace ink threshold; grid pitch by autocorrelation → px per mm on each axis
   (fallbacks: calibration pulse height, then the page size);
3. trace rows (baselines); for each row a Viterbi path through the ink runs of every column, which
   keeps to the row's own trace where large amplitudes overlap the neighbours;
4. calibration pulse (gain) and trace start per row;
5. layout: every standard layout with that many rows (the same :data:`ecgcls.geometry.LAYOUTS` table the
   renderer draws) is tried, and the one whose leads best satisfy Einthoven's and Goldberger's laws
   (and repeat leads such as a rhythm strip agreeing with their segment) wins — lead names are not read;
6. each printed segment is resampled onto a common 10 s timeline; NaN where nothing was printed or read.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np

from ecgcls.digitize.grid import (clean_ink, darkness, deskew, estimate_skew, find_page_quad, grid_spacing,
                                  ink_threshold, quad_is_rectangle, rectify)
from ecgcls.digitize.trace import claimed_pixels, column_runs, find_rows, follow_trace
from ecgcls.geometry import LAYOUTS, PAPER_SIZES_MM, Layout
from ecgcls.types import LEADS, Record

#: candidate layouts by number of trace rows
LAYOUTS_BY_ROWS: dict[int, tuple[str, ...]] = {3: ("3x4", "cabrera"), 4: ("3x4+II", "cabrera+II"), 5: ("3x4+2",),
                                               6: ("6x2", "3x4+3", "limb6", "chest6"), 7: ("6x2+II",),
                                               12: ("12x1",), 13: ("12x1+II",)}
STANDARD_GAINS = (2.5, 5.0, 10.0, 20.0, 40.0)


#: Layouts that share their geometry with a common one (Cabrera = 3×4 in another lead order) are chosen only
#: when their lead-identity residual is clearly lower (by this much): thin, poorly read real traces leave
#: both residuals near 1 (no evidence), and then the common layout is the better guess.
RARE_LAYOUT_PENALTY = {"cabrera": 0.2, "cabrera+II": 0.2}

#: bumped whenever the digitizer's output changes, so caches of digitized pictures are rebuilt
DIGITIZER_VERSION = 7

class DigitizeError(ValueError):
    """The picture could not be digitized; the message says why."""


@dataclass
class RowTrace:
    """One trace row in de-skewed image px: baseline ``y0``, tracked columns ``x`` and values ``y``."""

    y0: float
    x: np.ndarray
    y: np.ndarray
    x_start: float
    x_end: float
    gain_mm_mv: float | None


@dataclass
class DigitizedPage:
    """What the digitizer read: a :class:`~ecgcls.Record` (NaN where unknown) plus how it got there."""

    record: Record
    layout: str
    layout_scores: dict[str, float]
    px_per_mm: tuple[float, float]
    scale_method: str
    rotation_deg: float
    rectified: bool
    gain_mm_mv: float
    speed_mm_s: float
    lead_quality: dict[str, float]
    quality: float
    start_times: dict[str, float | None]
    rows: list[RowTrace] = field(repr=False, default_factory=list)
    image: np.ndarray | None = field(repr=False, default=None)
    rhythm_leads: tuple[str, ...] = ()
    column_timing: str = "convention"

    @property
    def layout_detail(self) -> str:
        """The layout with the rhythm strips' leads read from the page (e.g. '3x4+V1'), and ', simultaneous'
        when every column shows the same seconds."""
        base = self.layout.split("+")[0]
        name = "+".join([base, *self.rhythm_leads]) if self.rhythm_leads else self.layout
        return name + (", simultaneous" if self.column_timing == "simultaneous" else "")

    def overlay(self, max_width: int = 1800) -> np.ndarray:
        """RGB picture (de-skewed) with every tracked trace drawn on top, for checking by eye."""
        img = self.image.copy()
        colors = [(0, 90, 255), (0, 170, 60), (220, 0, 180), (255, 120, 0), (0, 170, 200), (140, 70, 0)]
        for i, r in enumerate(self.rows):
            ok = np.isfinite(r.y)
            pts = np.stack([r.x[ok], r.y[ok]], 1)
            if len(pts) > 1:
                cv2.polylines(img, [np.round(pts * 4).astype(np.int32).reshape(-1, 1, 2)], False, colors[i % 6], 2,
                              cv2.LINE_AA, shift=2)
            cv2.line(img, (int(r.x_start), int(r.y0)), (int(r.x_end), int(r.y0)), (120, 120, 255), 1)
        txt = f"{self.layout}  q={self.quality:.2f}  {self.px_per_mm[0]:.2f} px/mm ({self.scale_method})  rot {self.rotation_deg:.2f}"
        s = img.shape[1] / 1500
        cv2.putText(img, txt, (10, int(30 * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * s, (0, 0, 255), max(1, int(2 * s)), cv2.LINE_AA)
        if img.shape[1] > max_width:
            k = max_width / img.shape[1]
            img = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        return img


# ---- helpers ------------------------------------------------------------------------------------------
def _calibration(top: np.ndarray, bot: np.ndarray, ppm_x: float, ppm_y: float, speed: float
                 ) -> tuple[float | None, int | None, tuple[float, float] | None]:
    """Find a 1 mV × 0.2 s pulse at the row's start: (gain mm/mV, first column after it, (pulse width px,
    pulse height px) between stroke centres) or (None, None, None)."""
    valid = np.flatnonzero(np.isfinite(top))
    if valid.size < 10:
        return None, None, None
    x0 = valid[0]
    win = int((0.2 * speed + 6) * ppm_x)
    h = (bot - top)[x0:x0 + win]
    tall = np.flatnonzero(np.nan_to_num(h) > 2.5 * ppm_y)
    if tall.size < 2:
        return None, None, None
    # the pulse's two vertical edges are the first two groups of tall columns; a QRS right after the
    # pulse adds later groups, so take the first group at a pulse width (0.12-0.3 s) from the rising edge
    groups = np.split(tall, np.flatnonzero(np.diff(tall) > max(2.0, 0.5 * ppm_x)) + 1)
    rise = groups[0][0]
    fall = None
    for g in groups[1:]:
        if 0.12 <= (g[-1] - rise) / ppm_x / speed <= 0.3:
            fall = g[-1]
            break
    if fall is None:
        return None, None, None
    height = float(max(np.nanmax(h[groups[0]]), np.nanmax(h[g])))
    gain = height / ppm_y
    end = x0 + fall + 1
    # the trace starts after the gap that follows the pulse (ecgcls, most machines), or, where the trace
    # runs on from the pulse's falling edge without a gap (ecg-image-kit), at that edge's stroke centre
    after = np.flatnonzero(~np.isfinite(top[end:end + int(4 * ppm_x)]))
    start = end + after[-1] + 1 if after.size else x0 + int(round(float(np.mean(g))))
    # between stroke centres: the edges' column groups are a stroke wide, the tallest column a stroke taller
    stroke = float(np.nanmedian((bot - top)[x0:x0 + win])) + 1.0
    size = (float(np.mean(g) - np.mean(groups[0])), height - stroke + 1.0)
    return gain, int(start), size


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


def _residual(a: np.ndarray, b: np.ndarray, min_overlap: int = 50) -> float | None:
    """RMS difference of two signals where both exist, each centred on its median, relative to their RMS;
    None when they overlap on fewer than ``min_overlap`` samples."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < min_overlap:
        return None
    aa, bb = a[ok] - np.median(a[ok]), b[ok] - np.median(b[ok])
    scale = np.sqrt(np.mean(aa ** 2) + np.mean(bb ** 2)) + 1e-6
    return float(np.sqrt(np.mean((aa - bb) ** 2)) / scale)


def _lead_identity_residual(sig: np.ndarray) -> float:
    """Mean residual of Einthoven's and Goldberger's limb-lead identities where the leads overlap in time
    (lower = more consistent)."""
    I, II, III, aVR, aVL, aVF = sig[:6]
    checks = [(II, I + III), (-aVR, (I + II) / 2), (aVL, I - II / 2), (aVF, II - I / 2), (aVL, (I - III) / 2),
              (aVF, (II + III) / 2), (aVR, -(aVL + aVF))]
    res = [r for a, b in checks if (r := _residual(a, b)) is not None]
    return float(np.mean(res)) if res else 1.0


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
        vals = np.interp(xs, col[ok], y[ok], left=np.nan, right=np.nan)
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


def identify_rhythm_leads(layout: Layout, seg_sigs: list[np.ndarray | None], accept: float = 0.6,
                          margin: float = 0.1) -> Layout:
    """Which lead each rhythm strip shows, read from the page: the strip must repeat, over the seconds they
    share, the column segment of its lead. The lead whose segment it matches best (residual, see
    :func:`_residual`) replaces the table's default when it matches well (< ``accept``) and clearly better
    than the default (by ``margin``)."""
    if not layout.rhythm_rows:
        return layout
    grid = [(seg, sig) for seg, sig in zip(layout.segments, seg_sigs) if seg.row not in layout.rhythm_rows]
    leads = []
    for r in layout.rhythm_rows:
        k = next(i for i, seg in enumerate(layout.segments) if seg.row == r)
        default, strip = layout.segments[k].lead, seg_sigs[k]
        score: dict[str, float] = {}
        for seg, sig in grid:
            if strip is None or sig is None:
                continue
            res = _residual(strip, -sig if seg.inverted else sig)
            if res is not None:
                score[seg.lead] = min(score.get(seg.lead, np.inf), res)
        best = min(score, key=score.get) if score else default
        ok = score.get(best, np.inf) < accept and score.get(best, np.inf) + margin < score.get(default, np.inf)
        leads.append(best if ok else default)
    return layout.with_rhythm_leads(leads)


def _beat_envelope(x: np.ndarray, fs: float) -> np.ndarray:
    """Slope energy smoothed over 60 ms, zero where nothing was read: peaks at QRS complexes."""
    from scipy.ndimage import uniform_filter1d

    d = np.abs(np.diff(np.nan_to_num(x), prepend=0.0))
    d[~np.isfinite(x)] = 0.0
    d[1:][~np.isfinite(x[:-1])] = 0.0
    return uniform_filter1d(d, max(3, int(0.06 * fs)))


def register_columns(layout: Layout, seg_sigs: list[np.ndarray | None], fs: float) -> tuple[Layout, str]:
    """Time of the page's columns from the beats, not from a convention: most machines print consecutive
    seconds in consecutive columns, some generators the same seconds in every column. With a rhythm strip the
    two are told apart by where the columns' QRS complexes fall on the strip. Returns the layout (possibly
    :meth:`~ecgcls.geometry.Layout.simultaneous`) and 'consecutive', 'simultaneous' or 'convention'."""
    cols = sorted({s.x_t for s in layout.segments if s.row not in layout.rhythm_rows})
    if not layout.rhythm_rows or len(cols) < 2:
        return layout, "convention"
    strips = [sig for seg, sig in zip(layout.segments, seg_sigs) if seg.row in layout.rhythm_rows and sig is not None]
    if not strips:
        return layout, "convention"
    env_r = np.sum([_beat_envelope(s, fs) for s in strips], axis=0)
    votes = {"consecutive": 0.0, "simultaneous": 0.0}
    for x_t in cols[1:]:
        segs = [(seg, sig) for seg, sig in zip(layout.segments, seg_sigs)
                if seg.row not in layout.rhythm_rows and abs(seg.x_t - x_t) < 1e-6 and sig is not None]
        if not segs:
            continue
        a, b = int(round(segs[0][0].t_start * fs)), int(round(segs[0][0].t_end * fs))
        env_c = np.sum([_beat_envelope(sig, fs) for _, sig in segs], axis=0)[a:b]
        w = b - a
        for kind, start in (("consecutive", a), ("simultaneous", 0)):
            ref = env_r[start:start + w]
            if len(ref) == w and ref.std() > 0 and env_c.std() > 0:
                votes[kind] += float(np.corrcoef(ref, env_c)[0, 1])
    if votes["simultaneous"] > votes["consecutive"] + 0.1:
        return layout.simultaneous(), "simultaneous"
    return layout, "consecutive"


# ---- main entry -----------------------------------------------------------------------------------------
def digitize(image: np.ndarray, fs: float = 500.0, speed_mm_s: float = 25.0, gain_mm_mv: float | None = None,
             layout: str | None = None, name: str = "picture", keep_image: bool = True, ink: str = "classic"
             ) -> DigitizedPage:
    """Digitize an ECG picture (RGB uint8 (H, W, 3)).

    Parameters
    ----------
    fs : output sampling rate (Hz) of the 10 s timeline.
    speed_mm_s : paper speed (25 unless the picture says otherwise).
    gain_mm_mv : amplitude scale; ``None`` reads it from the calibration pulse (default 10 mm/mV).
    layout : force a layout name from :data:`ecgcls.geometry.LAYOUTS`; ``None`` detects it.

    Raises :class:`DigitizeError` when no ECG trace rows can be found.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DigitizeError(f"{name}: expected an RGB uint8 (H, W, 3) array, got {image.dtype} {image.shape}")
    quad = find_page_quad(image)
    rectified = quad is not None and not quad_is_rectangle(quad)
    if rectified:  # a photographed sheet: undo the perspective first
        image, _ = rectify(image, quad)
    dark = darkness(image)
    rot = estimate_skew(dark)
    if abs(rot) >= 0.05:
        # rotate the darkness map itself (0 = paper outside); the picture only when it is kept for overlays
        dark = np.clip(deskew(dark, rot, border=0.0), 0.0, 1.0)
        image = deskew(image, rot) if keep_image else image
    else:
        rot = 0.0
    thr = ink_threshold(dark)
    ink = dark > thr
    h, w = ink.shape
    ppm_x, ppm_y, _ = grid_spacing(image, ink, dark=dark)
    # a scale is plausible if the picture then spans 100-450 mm across (a page or a good part of one)
    ppm_x = ppm_x if ppm_x and 100 <= w / ppm_x <= 450 else None
    ppm_y = ppm_y if ppm_y and 60 <= h / ppm_y <= 450 else None
    method = "grid"
    if ppm_x is not None and ppm_y is not None and abs(np.log(ppm_x / ppm_y)) > 0.15:
        # axes disagree (a stretched scan is rare; a misread period is not): trust the one nearer the page size
        page = w / PAPER_SIZES_MM["letter"][0]
        ppm_x = ppm_y = min((ppm_x, ppm_y), key=lambda p: abs(np.log(p / page)))
    if ppm_x is None and ppm_y is not None:
        ppm_x = ppm_y
    if ppm_y is None and ppm_x is not None:
        ppm_y = ppm_x
    if ppm_x is None:
        method = "page_size"
        ppm_x = ppm_y = w / PAPER_SIZES_MM["letter"][0]
    ink = clean_ink(ink, ppm_y)

    rows_y = find_rows(ink, ppm_y)
    if not rows_y:
        raise DigitizeError(f"{name}: no ECG trace rows found (is this an ECG? ink threshold {thr:.2f})")
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
        cover = [ink[max(0, int(y - 2 * ppm_y)):int(y + 2 * ppm_y)].any(axis=0).mean() for y in rows_y]
        keep = sorted(np.argsort(cover)[::-1][:want])
        rows_y = [rows_y[i] for i in keep]
    pitch = float(np.median(np.diff(rows_y))) if len(rows_y) > 1 else 40.0 * ppm_y
    if 1 < len(rows_y) < want:  # a row whose trace wanders far from its baseline can escape row finding
        rows_y = _fill_missing_rows(rows_y, want, pitch, h)

    rows: list[RowTrace] = []
    gains = []
    pulses: list[tuple[float, float]] = []
    bands = [(int(max(0, y0 - 1.2 * pitch)), int(min(h, y0 + 1.2 * pitch))) for y0 in rows_y]
    runs = [column_runs(ink[a:b], 2) for a, b in bands]
    claims = None
    if len(rows_y) > 1:  # pass 1: each row alone; pass 2 (below): a trace another row took costs extra
        first = [follow_trace(ink[a:b], y0 - a, pitch, runs=rr)[:2] for y0, (a, b), rr in zip(rows_y, bands, runs)]
        claims = claimed_pixels((h, w), [(a, t, bt) for (a, _), (t, bt) in zip(bands, first)])
    for r, (y0, (a, b)) in enumerate(zip(rows_y, bands)):
        others = None if claims is None else (claims[a:b] & np.uint16(~(1 << r) & 0xFFFF)) != 0
        top, bot, val = follow_trace(ink[a:b], y0 - a, pitch, dark_band=dark[a:b], others=others, runs=runs[r])
        top, bot, val = top + a, bot + a, val + a
        g, start, pulse = _calibration(top, bot, ppm_x, ppm_y, speed_mm_s)
        if pulse is not None:
            pulses.append(pulse)
        valid = np.flatnonzero(np.isfinite(val))
        if valid.size == 0:
            rows.append(RowTrace(y0, np.arange(w, dtype=float), val, 0.0, 0.0, None))
            continue
        x_start = float(start if start is not None else valid[0])
        y_vals = val.copy()
        y_vals[: int(x_start)] = np.nan
        gains.append(g)
        rows.append(RowTrace(float(y0), np.arange(w, dtype=float), y_vals, x_start, float(valid[-1]), g))
    extents = [r.x_end - r.x_start for r in rows]
    if np.median(extents) < 0.35 * w:
        raise DigitizeError(f"{name}: no ECG trace rows found (ink rows span only {np.median(extents) / w:.0%} "
                            "of the picture's width)")
    measured = [g for g in gains if g is not None]
    gain = gain_mm_mv or _snap_gain(float(np.median(measured)) if measured else None)
    if method == "page_size" and pulses:
        # no grid: the calibration pulses are the ruler. 0.2 s wide → px per second; 1 mV tall → px per mV
        # (whatever the paper size or crop). Stated speed/gain are then only units: amplitude = px / pulse.
        pw, ph = (float(np.median([p[i] for p in pulses])) for i in (0, 1))
        if pw > 0 and ph > 0:
            ppm_pulse = pw / (0.2 * speed_mm_s)
            # a whole page of a standard size measures far more precisely than a 5 mm pulse: use the paper
            # size the pulse agrees with (within 3 %), else the pulse itself (cropped or odd-sized pictures)
            paper = min((w / mm[0] for mm in PAPER_SIZES_MM.values()), key=lambda p: abs(np.log(p / ppm_pulse)))
            if abs(np.log(paper / ppm_pulse)) < 0.03:
                if measured and not gain_mm_mv:  # pulse heights were measured against the first guess
                    gain = _snap_gain(float(np.median(measured)) * ppm_y / paper)
                ppm_x = ppm_y = paper
                method = "page_size+calibration"
            else:
                ppm_x = ppm_pulse
                ppm_y = ph / (gain_mm_mv or 10.0)
                gain = gain_mm_mv or 10.0
                method = "calibration"

    n = int(round(10 * fs))
    extent_s = float(np.median([(r.x_end - r.x_start) for r in rows])) / (speed_mm_s * ppm_x)
    window = 10.0 if extent_s > 7.0 else float(max(1.0, np.round(extent_s)))
    best = None
    scores: dict[str, float] = {}
    timing = "convention"
    for cand in candidates:
        lay = LAYOUTS[cand].scaled(window)
        sig, parts, seg_sigs = _assemble(lay, rows, ppm_x, ppm_y, speed_mm_s, gain, fs, n)
        if lay.rhythm_rows:  # read what the strips show and when the columns were recorded, then re-assemble
            lay, timing = register_columns(identify_rhythm_leads(lay, seg_sigs), seg_sigs, fs)
            sig, parts, seg_sigs = _assemble(lay, rows, ppm_x, ppm_y, speed_mm_s, gain, fs, n)
        res = [_lead_identity_residual(sig)] + _duplicate_residual(parts)
        scores[cand] = float(np.mean(res))
        if best is None or scores[cand] + RARE_LAYOUT_PENALTY.get(cand, 0.0) < \
                scores[best[0]] + RARE_LAYOUT_PENALTY.get(best[0], 0.0):
            best = (cand, lay, sig, timing)
    cand, lay, sig, timing = best
    cov = lay.coverage(fs, n)
    lead_q = {}
    starts = {}
    for i, lead in enumerate(LEADS):
        printed = cov[i].sum()
        lead_q[lead] = float(np.isfinite(sig[i][cov[i]]).mean()) if printed else 0.0
        got = np.flatnonzero(np.isfinite(sig[i]))
        starts[lead] = float(got[0] / fs) if got.size else None
    consistency = float(np.clip(1.0 - scores[cand], 0.0, 1.0))
    quality = float(np.mean([lead_q[l] for l in LEADS if cov[LEADS.index(l)].any()]) * (0.5 + 0.5 * consistency))
    rec = Record(sig, fs, id=name)
    return DigitizedPage(rec, cand, scores, (float(ppm_x), float(ppm_y)), method, float(rot), rectified, float(gain),
                         float(speed_mm_s), lead_q, quality, starts, rows, image if keep_image else None,
                         tuple(lay.segments[next(i for i, sg in enumerate(lay.segments) if sg.row == r)].lead
                               for r in lay.rhythm_rows), timing)
