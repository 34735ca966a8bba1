"""Draw a paper ECG page from a 12-lead signal, with exact ground truth.

The page is drawn with OpenCV (anti-aliased, sub-pixel polylines) on a cached grid background.
Ground truth is kept alongside: a per-lead ink bitmask, the image (x, y) of every signal sample,
lead-region / lead-name / calibration boxes and the :class:`~ecgcls.geometry.PageGeometry`.
Geometric artifacts (``ecgcls.render.artifacts``) update all of it through one homography.

Image arrays are RGB uint8 (H, W, 3) indexed (row, col) = (y, x); points are (x, y) in pixels.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Sequence

import cv2
import numpy as np

from ecgcls.geometry import PageGeometry, Segment, get_layout, page_geometry
from ecgcls.render.truth import CAL_BIT, TEXT_BIT, Box, RenderedPage, load_mask  # noqa: F401 (re-exported)
from ecgcls.types import LEADS, true_runs

#: bit index in :attr:`RenderedPage.mask` for calibration pulses and for other ink (text, separators)

#: (major 5 mm line, minor 1 mm line, paper) RGB colours of common ECG papers
GRID_COLORS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]] = {
    "red": ((236, 130, 130), (248, 200, 200), (255, 252, 250)),
    "pink": ((240, 160, 190), (250, 215, 228), (255, 253, 253)),
    "orange": ((240, 160, 100), (250, 214, 180), (255, 252, 246)),
    "green": ((120, 190, 140), (200, 232, 208), (250, 255, 250)),
    "blue": ((130, 160, 230), (205, 218, 248), (250, 252, 255)),
    "gray": ((150, 150, 150), (212, 212, 212), (255, 255, 255)),
    "none": ((255, 255, 255), (255, 255, 255), (255, 255, 255)),
}

#: OpenCV Hershey fonts (RenderConfig.font indexes this)
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX)

DEVICES = ("CardioStar 12 v3.1", "MAC 5500 HD", "PageWriter TC50", "ELI 280", "CS-12 E", "AT-102 plus")


@dataclass
class RenderConfig:
    """Everything that decides how a page looks (all choices explicit, so a page is reproducible)."""

    layout: str = "3x4+II"
    rhythm_lead: str | None = None
    paper: str = "letter"
    dpi: float = 200.0
    speed_mm_s: float = 25.0
    gain_mm_mv: float = 10.0
    grid: str = "red"
    minor_grid: bool = True
    ink: tuple[int, int, int] = (0, 0, 0)
    line_width_mm: float = 0.25
    labels: bool = True
    separators: bool = True
    calibration: bool = True
    header: bool = True
    artifacts: tuple[str, ...] = ()
    artifact_strength: float = 1.0
    # conventions that differ between machines and generators (defaults: ecgcls's own look)
    pulse: str = "gap"            # 'gap': pulse, then a gap, then the trace; 'attached': the trace runs on from
    #                               the pulse's falling edge (ecg-image-kit and some machines)
    label_pos: str = "above"      # lead names 'above' or 'below' the baseline
    separator: str = "tick"       # column separators: 'tick' (a short mark above), 'bar' (a bold bar across the
    #                               baseline) — drawn only when ``separators``
    frame: bool = False           # a dark frame round the page
    footer: bool = False          # '25mm/s  10mm/mV' printed under the last row
    font: int = 0                 # OpenCV Hershey font index (0 simplex, 1 plain, 2 duplex, 3 complex, 4 triplex)
    major_width_mm: float = 0.2   # width of the 5 mm grid lines
    simultaneous: bool = False    # every column shows the same seconds (some generators) instead of consecutive ones
    grid_rgb: tuple | None = None  # ((major RGB), (minor RGB)) overriding ``grid``'s colours: other generators draw
    #                                grids in any colour, some as dark as the trace (ecg-image-kit's random grid)

    def __post_init__(self) -> None:
        if self.grid not in GRID_COLORS:
            raise ValueError(f"unknown grid colour {self.grid!r}; choose from {', '.join(GRID_COLORS)}")
        if not 50 <= self.dpi <= 1200:
            raise ValueError(f"dpi {self.dpi} outside 50..1200")
        if self.speed_mm_s <= 0 or self.gain_mm_mv <= 0:
            raise ValueError("speed_mm_s and gain_mm_mv must be positive")
        for key, allowed in (("pulse", ("gap", "attached")), ("label_pos", ("above", "below")),
                             ("separator", ("tick", "bar"))):
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key}={getattr(self, key)!r}; choose from {', '.join(allowed)}")
        if self.font not in FONTS:
            raise ValueError(f"font {self.font} not in 0..{len(FONTS) - 1}")
        self.artifacts = tuple(self.artifacts)
        self.ink = tuple(int(c) for c in self.ink)
        if self.grid_rgb is not None:
            if len(self.grid_rgb) != 2 or any(len(c) != 3 for c in self.grid_rgb):
                raise ValueError(f"grid_rgb must be ((r, g, b), (r, g, b)) for major and minor lines, "
                                 f"got {self.grid_rgb}")
            self.grid_rgb = tuple(tuple(int(np.clip(v, 0, 255)) for v in c) for c in self.grid_rgb)

    @classmethod
    def random(cls, rng: np.random.Generator, layouts: Sequence[str] | None = None,
               artifacts: Sequence[str] | None = None, dpi: Sequence[float] = (150, 200, 300),
               artifact_prob: float = 0.5) -> "RenderConfig":
        """A random but plausible page (each artifact of ``artifacts`` included with ``artifact_prob``)."""
        from ecgcls.geometry import CLASSIC_LAYOUTS
        from ecgcls.render.artifacts import CLASSIC_ARTIFACTS

        layouts = list(layouts or CLASSIC_LAYOUTS)
        arts = list(CLASSIC_ARTIFACTS if artifacts is None else artifacts)
        chosen = tuple(a for a in arts if rng.random() < artifact_prob)
        ink_dark = int(rng.integers(0, 60))
        return cls(layout=str(rng.choice(layouts)), paper=str(rng.choice(["letter", "a4"])),
                   dpi=float(rng.choice(list(dpi))), speed_mm_s=25.0 if rng.random() < 0.9 else 50.0,
                   gain_mm_mv=float(rng.choice([10.0, 10.0, 10.0, 5.0, 20.0])),
                   grid=str(rng.choice(["red", "red", "pink", "orange", "green", "blue", "gray", "none"])),
                   minor_grid=bool(rng.random() < 0.85),
                   ink=(ink_dark, ink_dark, int(min(255, ink_dark + rng.integers(0, 80)))),
                   line_width_mm=float(rng.uniform(0.15, 0.4)), labels=bool(rng.random() < 0.95),
                   separators=bool(rng.random() < 0.7), header=bool(rng.random() < 0.9),
                   artifacts=chosen, artifact_strength=float(rng.uniform(0.4, 1.0)))

    @classmethod
    def randomized(cls, rng: np.random.Generator, layouts: Sequence[str] | None = None,
                   dpi: tuple[float, float] = (75.0, 600.0), artifact_prob: float = 0.45) -> "RenderConfig":
        """Domain randomization far beyond ecgcls's own look, for training what must read other people's pages.

        Besides :meth:`random`'s choices: DPI log-uniform in ``dpi``, the pulse attached to the trace or
        absent, lead names above or below, bold separator bars, page frames, footers, fonts, major-line widths,
        5/10/20 mm/mV and 50 mm/s, thin to bold pens, coloured inks, grids in any colour and darkness (35 %,
        :func:`random_grid_rgb`), and every artifact (wrinkles, textured paper, clipped rotation, colour casts and
        black-body temperatures, heavy noise, JPEG down to quality 20) with ``artifact_prob`` each.
        """
        from ecgcls.geometry import LAYOUTS
        from ecgcls.render.artifacts import ARTIFACTS

        layouts = list(layouts or LAYOUTS)
        layout = str(rng.choice(layouts))
        strips = LAYOUTS[layout].rhythm_rows
        rhythm_lead = str(rng.choice(["II", "II", "V1", "V5", "I", "aVF"])) if len(strips) == 1 else None
        arts = tuple(a for a in ARTIFACTS if a != "bw" and rng.random() < artifact_prob)
        if rng.random() < 0.05:
            arts = arts + ("bw",)
        ink_dark = int(rng.integers(0, 90))
        tint = rng.integers(0, 3)
        ink = [ink_dark] * 3
        ink[int(tint)] = int(min(255, ink_dark + rng.integers(0, 110)))
        grid_rgb = random_grid_rgb(rng) if rng.random() < 0.35 else None
        return cls(layout=layout, grid_rgb=grid_rgb, rhythm_lead=rhythm_lead,
                   simultaneous=bool(strips and rng.random() < 0.2),
                   paper=str(rng.choice(["letter", "a4"])),
                   dpi=float(np.exp(rng.uniform(np.log(dpi[0]), np.log(dpi[1])))),
                   speed_mm_s=25.0 if rng.random() < 0.85 else 50.0,
                   gain_mm_mv=float(rng.choice([10.0, 10.0, 10.0, 5.0, 20.0])),
                   grid=str(rng.choice(["red", "red", "pink", "orange", "green", "blue", "gray", "none"])),
                   minor_grid=bool(rng.random() < 0.8), ink=tuple(ink),
                   line_width_mm=float(np.exp(rng.uniform(np.log(0.1), np.log(0.5)))),
                   labels=bool(rng.random() < 0.9), separators=bool(rng.random() < 0.7),
                   calibration=bool(rng.random() < 0.9), header=bool(rng.random() < 0.8),
                   artifacts=arts, artifact_strength=float(rng.uniform(0.3, 1.0)),
                   pulse=str(rng.choice(["gap", "attached"])), label_pos=str(rng.choice(["above", "below"])),
                   separator=str(rng.choice(["tick", "bar"])), frame=bool(rng.random() < 0.3),
                   footer=bool(rng.random() < 0.4), font=int(rng.integers(0, len(FONTS))),
                   major_width_mm=float(rng.uniform(0.1, 0.35)))

    def to_dict(self) -> dict:
        return asdict(self)


def random_grid_rgb(rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A grid in an arbitrary colour, often nearly as dark as the trace, as some generators draw it (major line
    red 0–80 %, green and blue 0–50 % of full scale; minor lines up to 20 % lighter), or a grey
    black-and-white print (major 40 %, minor 75 %)."""
    if rng.random() < 0.2:
        return (102, 102, 102), (191, 191, 191)
    major = rng.uniform(0, [0.8, 0.5, 0.5])
    off = rng.uniform(0, 0.2)
    minor = np.array([major[0], rng.uniform(0, 0.5), rng.uniform(0, 0.5)]) + off
    return tuple(int(v * 255) for v in major), tuple(int(v * 255) for v in minor)


@dataclass
class SegmentTruth:
    """Where one printed segment's samples landed: ``xy`` (n, 2) image px of samples ``start..start+n``."""

    lead: str
    label: str
    row: int
    t_start: float
    t_end: float
    fs: float
    start: int
    xy: np.ndarray
    values_mv: np.ndarray

    @property
    def lead_idx(self) -> int:
        return LEADS.index(self.lead)

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-column truth: integer x columns the segment spans and the trace's y there (px).

        Valid while x increases monotonically with time (no rotation beyond ~45°).
        """
        x, y = self.xy[:, 0], self.xy[:, 1]
        order = np.argsort(x, kind="stable")
        cols = np.arange(int(np.ceil(x.min())), int(np.floor(x.max())) + 1)
        return cols, np.interp(cols, x[order], y[order])

    def to_dict(self, with_points: bool = True) -> dict:
        d = {"lead": self.lead, "label": self.label, "row": self.row, "t_start": self.t_start,
             "t_end": self.t_end, "duration_s": self.t_end - self.t_start, "fs": self.fs, "start": self.start,
             "n": int(len(self.xy))}
        if with_points:
            d["xy"] = np.round(self.xy, 3).tolist()
        return d


# ----------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _grid_background(h: int, w: int, px_per_mm: float, origin_px: tuple[float, float], grid: str,
                     minor: bool, major_width_mm: float = 0.2, grid_rgb: tuple | None = None) -> np.ndarray:
    """Paper with 1 mm / 5 mm grid (read-only, cached: pages of one kind reuse it); ``grid_rgb`` (major, minor)
    overrides the named colours."""
    major_c, minor_c, paper_c = GRID_COLORS[grid]
    if grid_rgb is not None and grid != "none":
        major_c, minor_c = grid_rgb
        paper_c = (255, 255, 255)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = paper_c
    if grid != "none":
        ox, oy = origin_px
        major_w = max(1, int(round(major_width_mm * px_per_mm)))
        for step_mm, color, width, on in ((1.0, minor_c, 1, minor), (5.0, major_c, major_w, True)):
            if not on:
                continue
            step = step_mm * px_per_mm
            xs = ox + step * np.arange(int(np.floor(-ox / step)), int((w - ox) / step) + 1)
            ys = oy + step * np.arange(int(np.floor(-oy / step)), int((h - oy) / step) + 1)
            for d in range(width):
                cx = np.clip(np.round(xs).astype(int) + d, 0, w - 1)
                cy = np.clip(np.round(ys).astype(int) + d, 0, h - 1)
                img[:, cx] = color
                img[cy, :] = color
    img.setflags(write=False)
    return img


def _poly(img: np.ndarray, pts: np.ndarray, color, thickness: int, aa: bool) -> None:
    """Draw an open polyline with 4-bit sub-pixel precision."""
    p = np.round(pts * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(img, [p], False, color, thickness, cv2.LINE_AA if aa else cv2.LINE_8, shift=4)


def _simplify(pts: np.ndarray, eps_px: float = 0.1) -> np.ndarray:
    """Drop points that move the drawn stroke by < ``eps_px`` (Douglas-Peucker); the truth keeps every sample."""
    if len(pts) < 8:
        return pts
    out = cv2.approxPolyDP(pts.astype(np.float32).reshape(-1, 1, 2), eps_px, False)
    return out.reshape(-1, 2).astype(np.float64)


def _ink(img: np.ndarray, mask: np.ndarray, pts: np.ndarray, color, thickness: int, bit: int) -> None:
    """Draw one anti-aliased stroke through ``pts`` into ``img`` and OR ``1 << bit`` into ``mask`` where
    the stroke covers at least half a pixel (i.e. darkens it by >= 50 %): the mask is exactly that ink.

    The stroke is rasterised once, as coverage in a local patch, then alpha-blended into the image.
    """
    h, w = mask.shape
    pad = thickness + 3
    x0 = max(0, int(np.floor(pts[:, 0].min())) - pad)
    y0 = max(0, int(np.floor(pts[:, 1].min())) - pad)
    x1 = min(w, int(np.ceil(pts[:, 0].max())) + pad + 1)
    y1 = min(h, int(np.ceil(pts[:, 1].max())) + pad + 1)
    if x1 <= x0 or y1 <= y0:
        return
    cover = np.zeros((y1 - y0, x1 - x0), np.uint8)
    _poly(cover, _simplify(pts) - (x0, y0), 255, thickness, aa=True)
    nz = cv2.findNonZero(cover)  # the covered pixels only (a rhythm strip's patch is mostly empty)
    if nz is None:
        return
    nz = nz.reshape(-1, 2)
    xs, ys = nz[:, 0], nz[:, 1]
    a = cover[ys, xs].astype(np.uint16)[:, None]
    region = img[y0:y1, x0:x1]
    region[ys, xs] = ((region[ys, xs].astype(np.uint16) * (255 - a) + np.asarray(color, np.uint16) * a + 127)
                      // 255).astype(np.uint8)
    half = a[:, 0] >= 128
    mask[y0:y1, x0:x1][ys[half], xs[half]] |= np.uint16(1 << bit)


def _header_lines(rng: np.random.Generator, record_id: str, cfg: RenderConfig, geom: PageGeometry) -> list[str]:
    sex = rng.choice(["M", "F"])
    hr, pr, qrs, qt = int(rng.integers(48, 130)), int(rng.integers(120, 220)), int(rng.integers(70, 130)), int(rng.integers(320, 460))
    qtc = int(qt / np.sqrt(60.0 / hr))
    return [f"ID: {record_id or int(rng.integers(1e5, 1e6))}   Age: {int(rng.integers(18, 95))}   Sex: {sex}   "
            f"{int(rng.integers(1, 29)):02d}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1990, 2026))} "
            f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}",
            f"Vent rate {hr} BPM   PR {pr} ms   QRS {qrs} ms   QT/QTc {qt}/{qtc} ms   "
            f"P-R-T axes {int(rng.integers(-30, 90))} {int(rng.integers(-30, 100))} {int(rng.integers(-30, 90))}",
            f"{cfg.speed_mm_s:g} mm/s   {cfg.gain_mm_mv:g} mm/mV   0.05-150 Hz   {rng.choice(DEVICES)}"]


def render(signal: np.ndarray, fs: float, config: RenderConfig | None = None,
           rng: np.random.Generator | int | None = 0, record_id: str = "") -> RenderedPage:
    """Render a 12-lead record onto a paper ECG page.

    Parameters
    ----------
    signal : float array (12, T)
        mV, leads in :data:`ecgcls.LEADS` order, at least ``window_s`` long (10 s at 25 mm/s).
        NaN samples are left blank on the page.
    fs : float
        Sampling rate, Hz.
    config : RenderConfig
        Layout, paper, scale, colours and artifacts.
    rng : Generator or int
        Seed for header text and artifacts; the same seed gives identical bytes.
    """
    cfg = config or RenderConfig()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[0] != 12:
        raise ValueError(f"render: signal must have shape (12, T) in LEADS order, got {signal.shape}")
    layout = get_layout(cfg.layout, cfg.rhythm_lead)
    if cfg.simultaneous:
        layout = layout.simultaneous()
    geom = page_geometry(cfg.paper, layout, dpi=cfg.dpi, speed_mm_s=cfg.speed_mm_s, gain_mm_mv=cfg.gain_mm_mv)
    layout = layout.scaled(geom.window_s)
    need = int(round(layout.duration_s * fs))
    if signal.shape[1] < need:
        raise ValueError(f"render: layout {layout.name} at {cfg.speed_mm_s} mm/s shows {layout.duration_s:g} s "
                         f"({need} samples at {fs:g} Hz) but the signal has {signal.shape[1]}")
    ppm = geom.px_per_mm
    h, w = geom.page_size_px
    ox, oy = geom.grid_origin_mm()
    img = _grid_background(h, w, ppm, (ox * ppm, oy * ppm), cfg.grid, cfg.minor_grid, cfg.major_width_mm,
                           cfg.grid_rgb).copy()
    font = FONTS[cfg.font]
    mask = np.zeros((h, w), np.uint16)
    ink = cfg.ink
    thick = max(1, int(round(cfg.line_width_mm * ppm)))
    segments: list[SegmentTruth] = []
    boxes: list[Box] = []
    pitch_px = geom.row_pitch_mm * ppm

    for seg in layout.segments:
        a = int(round(seg.t_start * fs))
        b = min(signal.shape[1], int(round(seg.t_end * fs)) + 1)  # +1: join neighbouring segments
        vals = signal[seg.lead_idx, a:b]
        pts = geom.segment_points_page(seg, np.nan_to_num(vals), fs)
        for r0, r1 in true_runs(np.isfinite(vals), 2):
            _ink(img, mask, pts[r0:r1], ink, thick, seg.lead_idx)
        xy = pts.copy()
        xy[~np.isfinite(vals)] = np.nan
        segments.append(SegmentTruth(seg.lead, seg.label, seg.row, seg.t_start, seg.t_end, fs, a, xy,
                                     vals.astype(np.float32)))
        base = geom.mv_to_y_px(0.0, seg.row)
        x0, x1 = float(geom.t_to_x_px(seg.x_t)), float(geom.t_to_x_px(seg.x_t + seg.t_end - seg.t_start))
        boxes.append(Box("lead", seg.lead, seg.row, (x0, float(base - 0.55 * pitch_px), x1, float(base + 0.45 * pitch_px))))
        if cfg.labels:
            scale = 3.2 * ppm / 22.0 * (2.0 if font == cv2.FONT_HERSHEY_PLAIN else 1.0)  # 3.2 mm letters
            (tw, th), tb = cv2.getTextSize(seg.label, font, scale, max(1, thick))
            tx = int(x0 + 1.2 * ppm)
            ty = int(base - 0.30 * pitch_px) if cfg.label_pos == "above" else int(base + 4.0 * ppm + th)
            cv2.putText(img, seg.label, (tx, ty), font, scale, ink, max(1, thick), cv2.LINE_AA)
            mask[max(0, ty - th):ty + tb, tx:tx + tw] |= np.uint16(1 << TEXT_BIT)
            boxes.append(Box("label", seg.lead, seg.row, (float(tx), float(ty - th), float(tx + tw), float(ty + tb))))
        if cfg.separators and seg.x_t > 0:
            if cfg.separator == "tick":
                _ink(img, mask, np.array([[x0, base - 4.0 * ppm], [x0, base - 1.5 * ppm]]), ink, thick, TEXT_BIT)
            else:  # a bold bar across the baseline
                _ink(img, mask, np.array([[x0, base - 2.0 * ppm], [x0, base + 2.0 * ppm]]), ink,
                     max(2, int(round(0.5 * ppm))), TEXT_BIT)

    if cfg.calibration:
        w_p = 0.2 * cfg.speed_mm_s
        for row in range(layout.n_rows):
            xm, bm = geom.margin_mm[0] + 1.0, geom.baseline_mm(row)
            hm = bm - 1.0 * cfg.gain_mm_mv
            if cfg.pulse == "attached":  # rises at the row's start; the trace runs on from the falling edge
                xm = geom.trace_left_mm - w_p - 1.0
            path = np.array([[xm, bm], [xm + 1, bm], [xm + 1, hm], [xm + 1 + w_p, hm], [xm + 1 + w_p, bm],
                             [xm + 2 + w_p, bm]]) * ppm
            if cfg.pulse == "attached":
                path = path[1:5]
            _ink(img, mask, path, ink, thick, CAL_BIT)
            boxes.append(Box("calibration", None, row, ((xm + 1) * ppm, hm * ppm, (xm + 1 + w_p) * ppm, bm * ppm)))

    if cfg.frame:
        fw = max(1, int(round(0.3 * ppm)))
        cv2.rectangle(img, (fw // 2, fw // 2), (w - 1 - fw // 2, h - 1 - fw // 2), ink, fw)
        mask[:fw] |= np.uint16(1 << TEXT_BIT)
        mask[-fw:] |= np.uint16(1 << TEXT_BIT)
        mask[:, :fw] |= np.uint16(1 << TEXT_BIT)
        mask[:, -fw:] |= np.uint16(1 << TEXT_BIT)
    if cfg.footer:
        scale = 3.0 * ppm / 22.0 * (2.0 if font == cv2.FONT_HERSHEY_PLAIN else 1.0)
        y = int(min(h - 2, (geom.baseline_mm(layout.n_rows - 1) + 0.42 * geom.row_pitch_mm) * ppm))
        for k, txt in enumerate((f"{cfg.speed_mm_s:g}mm/s", f"{cfg.gain_mm_mv:g}mm/mV")):
            org = (int((geom.trace_left_mm + 40 + 70 * k) * ppm), y)
            cv2.putText(img, txt, org, font, scale, ink, max(1, thick - 1), cv2.LINE_AA)
            (tw, th), tb = cv2.getTextSize(txt, font, scale, max(1, thick - 1))
            mask[max(0, y - th):y + tb, org[0]:org[0] + tw] |= np.uint16(1 << TEXT_BIT)

    header: list[str] = []
    if cfg.header:
        header = _header_lines(rng, record_id, cfg, geom)
        scale = 2.6 * ppm / 22.0
        for i, line in enumerate(header):
            y = int((geom.margin_mm[1] + 5 + i * 6.0) * ppm)
            if y > (geom.margin_mm[1] + geom.header_mm) * ppm:
                break
            org = (int(geom.margin_mm[0] * ppm), y)
            cv2.putText(img, line, org, font, scale, ink, max(1, thick - 1), cv2.LINE_AA)
            (tw, th), tb = cv2.getTextSize(line, font, scale, max(1, thick - 1))
            mask[max(0, y - th):y + tb, org[0]:org[0] + tw] |= np.uint16(1 << TEXT_BIT)

    page = RenderedPage(img, mask, geom, layout, segments, boxes, cfg, record_id, header)
    if cfg.artifacts:
        from ecgcls.render.artifacts import apply_artifacts
        page = apply_artifacts(page, cfg.artifacts, rng, cfg.artifact_strength)
    return page


__all__ = ["FONTS", "RenderConfig", "RenderedPage", "SegmentTruth", "Box", "render", "GRID_COLORS", "CAL_BIT", "TEXT_BIT",
           "Segment"]
