"""Page geometry and layouts: the one description of a printed ECG page that the renderer draws
forwards and the digitizer inverts, so the two cannot disagree.

Coordinates
-----------
* Paper coordinates are millimetres from the page's top-left corner, ``(x_mm, y_mm)``, y down.
* Page pixels are ``(x_px, y_px)`` of the *unwarped* page: ``x_px = x_mm * px_per_mm``.
* Image pixels are where things land after artifacts (rotation, perspective, crop): the page's
  ``homography`` (3×3, page px → image px) maps one to the other. Arrays are indexed (row, col) = (y, x).

Time on paper: a row shows the window ``[0, window_s)``; a segment with ``t_start`` is drawn at
``x_mm = trace_left_mm + (t_start - t0) * speed_mm_s`` where ``t0`` is the row's paper time origin.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Sequence

import numpy as np

from ecgcls.types import LEADS, lead_index

PAPER_SIZES_MM: dict[str, tuple[float, float]] = {  # landscape (width, height)
    "letter": (279.4, 215.9),
    "a4": (297.0, 210.0),
}


@dataclass(frozen=True)
class Segment:
    """One printed piece of one lead.

    ``lead`` is a name from :data:`ecgcls.LEADS`; ``inverted`` prints ``-lead`` (Cabrera's −aVR).
    ``t_start``/``t_end`` are signal times in s; ``paper_t`` is where on the row's time axis the
    segment starts (equals ``t_start`` on machines that print leads consecutively in time).
    """

    lead: str
    row: int
    t_start: float
    t_end: float
    paper_t: float | None = None
    inverted: bool = False

    @property
    def lead_idx(self) -> int:
        return lead_index(self.lead)

    @property
    def x_t(self) -> float:
        return self.t_start if self.paper_t is None else self.paper_t

    @property
    def label(self) -> str:
        return ("-" if self.inverted else "") + self.lead


@dataclass(frozen=True)
class Layout:
    """A named table of segments. Standard layouts are data (:data:`LAYOUTS`), not code paths."""

    name: str
    n_rows: int
    segments: tuple[Segment, ...]
    duration_s: float = 10.0
    rhythm_rows: tuple[int, ...] = ()   # rows that are full-length rhythm strips under a grid of columns

    def scaled(self, window_s: float) -> "Layout":
        """The same layout printed over ``window_s`` instead of ``duration_s`` (e.g. 5 s at 50 mm/s)."""
        if abs(window_s - self.duration_s) < 1e-9:
            return self
        k = window_s / self.duration_s
        segs = tuple(replace(s, t_start=s.t_start * k, t_end=s.t_end * k,
                             paper_t=None if s.paper_t is None else s.paper_t * k) for s in self.segments)
        return replace(self, segments=segs, duration_s=window_s)

    def simultaneous(self) -> "Layout":
        """The same table with every column showing the same time window (0 .. duration/columns), as some
        generators print (ecg-image-kit's 6×2); rhythm strips keep the whole window."""
        segs = tuple(s if s.row in self.rhythm_rows else replace(s, t_start=0.0, t_end=s.t_end - s.t_start)
                     for s in self.segments)
        return replace(self, segments=segs)

    @property
    def strip_segments(self) -> tuple[int, ...]:
        """Index in :attr:`segments` of each rhythm strip, in :attr:`rhythm_rows` order."""
        return tuple(next(i for i, s in enumerate(self.segments) if s.row == r) for r in self.rhythm_rows)

    @property
    def rhythm_leads(self) -> tuple[str, ...]:
        """The lead each rhythm strip shows, in row order."""
        return tuple(self.segments[k].lead for k in self.strip_segments)

    def with_rhythm_leads(self, leads: Sequence[str]) -> "Layout":
        """The same layout with its rhythm strips (in row order) showing ``leads``."""
        if len(leads) != len(self.rhythm_rows):
            raise ValueError(f"layout {self.name!r} has {len(self.rhythm_rows)} rhythm strips, got {len(leads)} leads")
        by_row = dict(zip(self.rhythm_rows, (LEADS[lead_index(x)] for x in leads)))
        return replace(self, segments=tuple(replace(s, lead=by_row[s.row]) if s.row in by_row else s
                                            for s in self.segments))

    def leads_present(self) -> set[str]:
        return {s.lead for s in self.segments}

    @property
    def columns_per_row(self) -> tuple[int, ...]:
        """How many segments each row prints (1: one lead along the whole row, e.g. a rhythm strip)."""
        return tuple(sum(1 for s in self.segments if s.row == r) for r in range(self.n_rows))

    def coverage(self, fs: float, n_samples: int) -> np.ndarray:
        """Boolean (12, n_samples): which samples of each lead the layout prints."""
        cov = np.zeros((len(LEADS), n_samples), bool)
        for s in self.segments:
            a, b = int(round(s.t_start * fs)), min(n_samples, int(round(s.t_end * fs)))
            cov[s.lead_idx, a:b] = True
        return cov

    def to_dict(self) -> dict:
        return {"name": self.name, "n_rows": self.n_rows, "duration_s": self.duration_s,
                "rhythm_rows": list(self.rhythm_rows), "segments": [asdict(s) for s in self.segments]}


def grid_layout(name: str, grid: Sequence[Sequence[str]], rhythm: Sequence[str] = (), duration_s: float = 10.0,
                consecutive: bool = True) -> Layout:
    """Build a layout from a rows × columns table of lead names (prefix ``-`` to invert) plus
    full-length rhythm strips below it.

    With ``consecutive`` (how real machines print), column ``j`` of ``C`` shows the signal from
    ``j·T/C`` to ``(j+1)·T/C``; otherwise every column shows ``0 .. T/C`` (simultaneous leads).
    """
    segs: list[Segment] = []
    n_cols = max(len(r) for r in grid)
    w = duration_s / n_cols
    for r, row in enumerate(grid):
        for c, name_ in enumerate(row):
            inv = name_.startswith("-")
            lead = LEADS[lead_index(name_)]
            t0 = c * w if consecutive else 0.0
            segs.append(Segment(lead, r, t0, t0 + w, paper_t=c * w, inverted=inv))
    for k, name_ in enumerate(rhythm):
        segs.append(Segment(LEADS[lead_index(name_)], len(grid) + k, 0.0, duration_s, paper_t=0.0))
    return Layout(name, len(grid) + len(rhythm), tuple(segs), duration_s,
                  rhythm_rows=tuple(range(len(grid), len(grid) + len(rhythm))))


_3X4 = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]]
_CABRERA = [["aVL", "II", "V1", "V4"], ["I", "aVF", "V2", "V5"], ["-aVR", "III", "V3", "V6"]]
_6X2 = [["I", "V1"], ["II", "V2"], ["III", "V3"], ["aVR", "V4"], ["aVL", "V5"], ["aVF", "V6"]]

LAYOUTS: dict[str, Layout] = {
    "3x4": grid_layout("3x4", _3X4),
    "3x4+II": grid_layout("3x4+II", _3X4, rhythm=["II"]),
    "3x4+3": grid_layout("3x4+3", _3X4, rhythm=["II", "V1", "V5"]),
    "6x2": grid_layout("6x2", _6X2),
    "12x1": grid_layout("12x1", [[lead] for lead in LEADS]),
    "cabrera": grid_layout("cabrera", _CABRERA),
    "cabrera+II": grid_layout("cabrera+II", _CABRERA, rhythm=["II"]),
    # more pages that hospitals and other generators print
    "3x4+2": grid_layout("3x4+2", _3X4, rhythm=["V1", "II"]),
    "6x2+II": grid_layout("6x2+II", _6X2, rhythm=["II"]),
    "12x1+II": grid_layout("12x1+II", [[lead] for lead in LEADS], rhythm=["II"]),
    "limb6": grid_layout("limb6", [[lead] for lead in LEADS[:6]]),    # one page of a two-page printout
    "chest6": grid_layout("chest6", [[lead] for lead in LEADS[6:]]),
}
#: the layouts ecgcls drew before the table grew (RenderConfig.random keeps to them, so its pages stay the same)
CLASSIC_LAYOUTS: tuple[str, ...] = ("3x4", "3x4+II", "3x4+3", "6x2", "12x1", "cabrera", "cabrera+II")


def get_layout(name: str, rhythm_lead: str | None = None) -> Layout:
    """A standard layout by name; ``rhythm_lead`` swaps the lead of a single rhythm strip (e.g. V1)."""
    try:
        lay = LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown layout {name!r}; choose from {', '.join(LAYOUTS)}") from None
    if rhythm_lead is not None:
        if len(lay.rhythm_rows) != 1:
            raise ValueError(f"layout {name!r} has no single rhythm strip to set to {rhythm_lead}")
        lay = lay.with_rhythm_leads([rhythm_lead])
        lay = replace(lay, name=f"{name.split('+')[0]}+{lay.segments[-1].lead}")
    return lay


@dataclass(frozen=True)
class PageGeometry:
    """Paper, resolution and scale of one page; converts signal time/amplitude ↔ pixels.

    Parameters (units in names): ``paper_mm`` (width, height) landscape; ``dpi``; ``speed_mm_s`` (25/50);
    ``gain_mm_mv`` (5/10/20); ``margin_mm`` (left, top, right, bottom); ``header_mm`` text band at the
    top; ``cal_mm`` room at each row's left for the calibration pulse; ``n_rows`` trace rows;
    ``homography`` page px → image px (identity until artifacts warp the page); ``image_size``
    (H, W) of the final image (the page size until cropped).
    """

    paper_mm: tuple[float, float] = PAPER_SIZES_MM["letter"]
    dpi: float = 200.0
    speed_mm_s: float = 25.0
    gain_mm_mv: float = 10.0
    margin_mm: tuple[float, float, float, float] = (6.0, 8.0, 6.0, 8.0)
    header_mm: float = 28.0
    cal_mm: float = 9.0
    n_rows: int = 4
    homography: tuple[tuple[float, ...], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    image_size: tuple[int, int] | None = None

    # -- scale -------------------------------------------------------------------------------------
    @property
    def px_per_mm(self) -> float:
        return self.dpi / 25.4

    @property
    def page_size_px(self) -> tuple[int, int]:
        """(H, W) of the unwarped page in pixels."""
        return int(round(self.paper_mm[1] * self.px_per_mm)), int(round(self.paper_mm[0] * self.px_per_mm))

    @property
    def size_px(self) -> tuple[int, int]:
        return self.image_size or self.page_size_px

    @property
    def H(self) -> np.ndarray:
        return np.asarray(self.homography, dtype=np.float64)

    # -- where things are on paper (mm) -----------------------------------------------------------
    @property
    def trace_left_mm(self) -> float:
        return self.margin_mm[0] + self.cal_mm

    @property
    def trace_width_mm(self) -> float:
        return self.paper_mm[0] - self.margin_mm[2] - self.trace_left_mm

    @property
    def window_s(self) -> float:
        """Seconds of signal one row shows: 10 s, or less when the paper is too narrow (50 mm/s)."""
        return float(min(10.0, np.floor(self.trace_width_mm / self.speed_mm_s)))

    @property
    def row_pitch_mm(self) -> float:
        top = self.margin_mm[1] + self.header_mm
        return (self.paper_mm[1] - self.margin_mm[3] - top) / self.n_rows

    def baseline_mm(self, row: int) -> float:
        """y (mm) of row ``row``'s 0 mV line (at 55 % of the row's band, leaving more room above)."""
        return self.margin_mm[1] + self.header_mm + (row + 0.55) * self.row_pitch_mm

    def grid_origin_mm(self) -> tuple[float, float]:
        """A large-grid (5 mm) line crossing: the left margin and the top margin."""
        return self.margin_mm[0], self.margin_mm[1]

    # -- signal <-> page pixels ------------------------------------------------------------------
    def t_to_x_px(self, paper_t: np.ndarray | float) -> np.ndarray:
        return (self.trace_left_mm + np.asarray(paper_t) * self.speed_mm_s) * self.px_per_mm

    def mv_to_y_px(self, mv: np.ndarray | float, row: int) -> np.ndarray:
        return (self.baseline_mm(row) - np.asarray(mv) * self.gain_mm_mv) * self.px_per_mm

    def x_px_to_t(self, x_px: np.ndarray | float) -> np.ndarray:
        return (np.asarray(x_px) / self.px_per_mm - self.trace_left_mm) / self.speed_mm_s

    def y_px_to_mv(self, y_px: np.ndarray | float, row: int) -> np.ndarray:
        return (self.baseline_mm(row) - np.asarray(y_px) / self.px_per_mm) / self.gain_mm_mv

    def segment_points_page(self, seg: Segment, values_mv: np.ndarray, fs: float) -> np.ndarray:
        """(n, 2) page-pixel (x, y) of each sample of ``seg`` given its values (inversion applied)."""
        n = len(values_mv)
        t = seg.x_t + np.arange(n) / fs
        v = -values_mv if seg.inverted else values_mv
        return np.stack([self.t_to_x_px(t), self.mv_to_y_px(v, seg.row)], axis=1)

    def to_image(self, pts: np.ndarray) -> np.ndarray:
        """Page px (n, 2) → image px (n, 2) through the homography."""
        pts = np.asarray(pts, dtype=np.float64)
        h = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ self.H.T
        return h[:, :2] / h[:, 2:3]

    def to_page(self, pts: np.ndarray) -> np.ndarray:
        """Image px (n, 2) → page px (n, 2) (inverse homography)."""
        pts = np.asarray(pts, dtype=np.float64)
        h = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ np.linalg.inv(self.H).T
        return h[:, :2] / h[:, 2:3]

    def warped(self, H: np.ndarray, image_size: tuple[int, int] | None = None) -> "PageGeometry":
        """This geometry after an extra image-space transform ``H`` (applied after the current one)."""
        new = np.asarray(H, dtype=np.float64) @ self.H
        new = new / new[2, 2]
        return replace(self, homography=tuple(tuple(float(v) for v in r) for r in new),
                       image_size=image_size or self.size_px)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(px_per_mm=self.px_per_mm, window_s=self.window_s, trace_left_mm=self.trace_left_mm,
                 row_pitch_mm=self.row_pitch_mm, size_px=list(self.size_px),
                 baselines_mm=[self.baseline_mm(r) for r in range(self.n_rows)],
                 grid_origin_mm=list(self.grid_origin_mm()))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PageGeometry":
        keys = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in keys}
        for k in ("paper_mm", "margin_mm", "image_size"):
            if kw.get(k) is not None:
                kw[k] = tuple(kw[k])
        kw["homography"] = tuple(tuple(r) for r in kw.get("homography", cls.homography))
        return cls(**kw)


def page_geometry(paper: str = "letter", layout: Layout | None = None, **kw) -> PageGeometry:
    """Geometry for a named paper size (``letter``/``a4``) sized for ``layout``'s rows."""
    try:
        paper_mm = PAPER_SIZES_MM[paper.lower()]
    except KeyError:
        raise ValueError(f"unknown paper {paper!r}; choose from {', '.join(PAPER_SIZES_MM)}") from None
    n_rows = layout.n_rows if layout is not None else kw.pop("n_rows", 4)
    kw.pop("n_rows", None)
    if n_rows >= 10:  # 12×1 needs the whole page height
        kw.setdefault("header_mm", 14.0)
    kw.setdefault("cal_mm", 4.0 + 0.2 * kw.get("speed_mm_s", 25.0))  # 1 mm + 0.2 s pulse + 1 mm + gap
    return PageGeometry(paper_mm=paper_mm, n_rows=n_rows, **kw)


__all__ = ["Segment", "Layout", "LAYOUTS", "CLASSIC_LAYOUTS", "PageGeometry", "PAPER_SIZES_MM", "get_layout", "grid_layout",
           "page_geometry"]
