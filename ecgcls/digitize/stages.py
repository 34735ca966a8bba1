"""What each stage of the digitizer returns: small dataclasses, so every stage can be tested and replaced alone.

    find_sheet → Sheet        (rectified, de-skewed picture and its darkness map)
    ink_map    → InkMap       (which pixels are trace: classic threshold or the trace network)
    measure_scale → Scale     (px per mm from the grid; calibration pulses or page size without one)
    find_trace_rows → Rows    (baselines, row pitch, candidate layouts)
    trace_rows → list[RowTrace]; read_pulses → Pulses   (each row's trace and calibration pulse; gain, speed)
    choose_layout → LayoutChoice            (layout, rhythm leads, column timing, assembled signal)
    assess     → Assessment   (per-lead and page quality, status and reason)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ecgcls.geometry import Layout
from ecgcls.types import Record


class DigitizeError(ValueError):
    """The picture could not be digitized; the message says why."""


@dataclass
class Sheet:
    """The picture after rectification and de-skewing (``image``: None unless kept) and its darkness map
    (float32 (H, W) in [0, 1], 0 = paper).

    The de-skewed picture is made when ``image`` is first read, not before: ``ink='auto'`` keeps it for the
    trace network, which most pages never need (rotating a 200 DPI RGB page costs ~20 ms)."""

    dark: np.ndarray
    rotation_deg: float
    rectified: bool
    #: the picture the darkness map was made from, before de-skewing (a reference, not a copy)
    source: np.ndarray | None = field(default=None, repr=False)
    #: whether ``image`` gives the de-skewed picture (else None)
    keep_image: bool = True
    _image: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def image(self) -> np.ndarray | None:
        """The picture rectified and de-skewed (RGB uint8 (H, W, 3), white where rotation brings in no paper),
        or None when it is not kept."""
        if self._image is None and self.keep_image and self.source is not None:
            from ecgcls.digitize.grid import deskew

            self._image = deskew(self.source, self.rotation_deg)  # (the source itself at 0°)
        return self._image


@dataclass
class InkMap:
    """Trace pixels (bool (H, W)); ``method`` 'classic' (darkness threshold ``threshold``) or 'net'
    (probability map ``prob`` (2, H, W): trace, pulse); ``dark_pixels``: everything above the threshold once
    page-long straight lines are removed (trace, text, marks — what the grid is not)."""

    ink: np.ndarray
    method: str
    threshold: float
    prob: np.ndarray | None = field(repr=False, default=None)
    dark_pixels: np.ndarray | None = field(repr=False, default=None)


@dataclass
class Scale:
    """px per mm on x and y and how they were found: 'grid', 'page_size', 'page_size+calibration',
    'calibration'; '+rows' where the rows' 10 s then set the horizontal scale (``pipeline._ten_second_rows``)."""

    ppm_x: float
    ppm_y: float
    method: str
    strength: float = 0.0   # the grid's periodicity (autocorrelation at its pitch, weaker axis), 0..1


@dataclass
class Rows:
    """Trace baselines (y px, top to bottom), their pitch (px) and the layouts with that many rows."""

    y: list[float]
    pitch: float
    candidates: tuple[str, ...]


@dataclass
class RowTrace:
    """One trace row in de-skewed image px: baseline ``y0``, tracked columns ``x`` and values ``y``."""

    y0: float
    x: np.ndarray
    y: np.ndarray
    x_start: float
    x_end: float
    gain_mm_mv: float | None
    clutter: float = 0.0   # ink in the row's band that its path does not explain, per path pixel (log1p)
    pulse_px: tuple[float, float] | None = None   # its calibration pulse's (width, height) px, when found


@dataclass
class Pulses:
    """Calibration pulses read at the rows' starts: the gain they imply (mm/mV, snapped to a standard one,
    10 when none), each pulse's (width px, height px), how many rows had one and the paper speed (mm/s)."""

    gain_mm_mv: float
    sizes: list[tuple[float, float]]
    n_rows_with_pulse: int
    speed_mm_s: float = 25.0


@dataclass
class LayoutChoice:
    """The layout read from the page: table name, the layout itself (rhythm leads and column timing applied),
    its score per candidate (lead-identity residual and repeated-lead agreement), 'consecutive'/'simultaneous'/
    'convention' column timing, the assembled (12, n) signal, each printed segment's signal, the lead-identity
    residual per candidate (NaN where no limb-lead identity could be checked) and the row-structure cost per
    candidate (:func:`~ecgcls.digitize.layout.structure_cost`; 0 when the candidates share their row structure)."""

    name: str
    layout: Layout
    scores: dict[str, float]
    timing: str
    signal: np.ndarray
    segments: list = field(repr=False, default_factory=list)
    identity: dict[str, float] = field(default_factory=dict)
    structure: dict[str, float] = field(default_factory=dict)


@dataclass
class Assessment:
    """Quality: per-lead quality in [0, 1] and predicted SNR (dB), page quality, status ('ok' or 'uncertain')
    and the reason when uncertain; leads read too badly to use are listed in ``dropped`` (set to NaN)."""

    lead_quality: dict[str, float]
    lead_snr_pred: dict[str, float]
    quality: float
    status: str
    reason: str
    dropped: list[str]
    features: dict = field(repr=False, default_factory=dict)


@dataclass
class DigitizedPage:
    """What the digitizer read: a :class:`~ecgcls.Record` (NaN where unknown) plus how it got there.

    ``status`` is 'ok' or 'uncertain' (the page was read, but its quality predicts a poor reading; ``reason``
    says why); a page that cannot be read raises :class:`DigitizeError` instead.
    """

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
    status: str = "ok"
    reason: str = ""
    ink: str = "classic"
    lead_snr_pred: dict[str, float] = field(default_factory=dict)
    lead_features: dict = field(repr=False, default_factory=dict)
    placement: list = field(repr=False, default_factory=list)   # :func:`~ecgcls.digitize.layout.segment_placement`

    @property
    def layout_detail(self) -> str:
        """The layout with the rhythm strips' leads read from the page (e.g. '3x4+V1'), and ', simultaneous'
        when every column shows the same seconds."""
        base = self.layout.split("+")[0]
        name = "+".join([base, *self.rhythm_leads]) if self.rhythm_leads else self.layout
        return name + (", simultaneous" if self.column_timing == "simultaneous" else "")

    def to_picture(self, lead: str, t_s: np.ndarray, mv: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Picture px (x, y) of lead ``lead`` at signal times ``t_s`` (s) — at value ``mv`` (mV) or, without it, on
        the segment's baseline; NaN where the lead was not printed at that time. Where a lead is printed twice
        (a column and a rhythm strip), the shorter segment (the column) is used."""
        x, y0, k = place(self.placement, lead, t_s)
        mv = 0.0 if mv is None else np.nan_to_num(np.broadcast_to(np.asarray(mv, float), x.shape))
        return x, y0 - mv * k

    def overlay(self, max_width: int = 1800) -> np.ndarray:
        """RGB picture (de-skewed) with every tracked trace drawn on top, for checking by eye."""
        if self.image is None:
            raise ValueError("overlay needs the picture: digitize(..., keep_image=True)")
        img = self.image.copy()
        colors = [(0, 90, 255), (0, 170, 60), (220, 0, 180), (255, 120, 0), (0, 170, 200), (140, 70, 0)]
        for i, r in enumerate(self.rows):
            ok = np.isfinite(r.y)
            pts = np.stack([r.x[ok], r.y[ok]], 1)
            if len(pts) > 1:
                # break the line where columns were skipped, so gaps show as gaps
                cut = np.flatnonzero(np.diff(pts[:, 0]) > 3) + 1
                for part in np.split(pts, cut):
                    if len(part) > 1:
                        cv2.polylines(img, [np.round(part * 4).astype(np.int32).reshape(-1, 1, 2)], False,
                                      colors[i % 6], 2, cv2.LINE_AA, shift=2)
            cv2.line(img, (int(r.x_start), int(r.y0)), (int(r.x_end), int(r.y0)), (120, 120, 255), 1)
        txt = (f"{self.layout_detail}  {self.status} q={self.quality:.2f}  {self.px_per_mm[0]:.2f} px/mm "
               f"({self.scale_method})  rot {self.rotation_deg:.2f}  ink {self.ink}")
        s = img.shape[1] / 1500
        cv2.putText(img, txt, (10, int(30 * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * s, (0, 0, 255), max(1, int(2 * s)),
                    cv2.LINE_AA)
        if img.shape[1] > max_width:
            k = max_width / img.shape[1]
            img = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        return img


def place(placement: list[dict], lead: str, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where lead ``lead`` was printed at signal times ``t_s`` (s), from :func:`segment_placement`: (x px,
    y px of 0 mV, px per mV — negative when printed inverted); NaN where the lead was not printed then. Where a
    lead is printed twice (a column and a rhythm strip), the shorter segment (the column) is used."""
    t_s = np.atleast_1d(np.asarray(t_s, float))
    x, y0, k = (np.full(t_s.shape, np.nan) for _ in range(3))
    for p in sorted(placement, key=lambda p: p["t1"] - p["t0"]):
        if p["lead"] != lead:
            continue
        on = np.isnan(x) & (t_s >= p["t0"]) & (t_s < p["t1"])
        x[on] = p["x0"] + (t_s[on] - p["t0"]) * p["px_per_s"]
        y0[on], k[on] = p["y_zero"], p["px_per_mv"]
    return x, y0, k
