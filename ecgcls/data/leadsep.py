"""Row bands and exact per-row ink for training the lead separation network (:mod:`ecgcls.models.leadsep`).

Pages come from the renderer's domain randomization (:meth:`~ecgcls.render.RenderConfig.randomized`), drawn
mostly in the layouts whose rows crowd each other (12×1, 6×2, the two-page 6-row pages) and from the records of
the chosen folds only. Each page is turned into its darkness map (what the digitizer reads) at
:data:`~ecgcls.data.leadsep_inputs.PX_PER_MM`, and cut into crops centred on one row's baseline; the target is that
row's ink (every lead printed in it; the renderer keeps each lead's bit where strokes overlap). Most crops are
centred where the row's ink meets another row's (``contested``), the case the network exists for.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ecgcls.data.traceseg import TraceSegDataModule, map_drawing
from ecgcls.digitize.separate import LEVEL_MM, trace_level
from ecgcls.data.leadsep_inputs import PX_PER_MM, row_inputs

#: bump when the pools' drawing changes, so cached pools are drawn again
POOL_VERSION = 3
#: layouts drawn (repeats weigh the crowded ones up)
LAYOUT_MIX = ("12x1", "12x1", "12x1+II", "12x1+II", "6x2", "6x2+II", "chest6", "limb6", "3x4+3", "3x4+II",
              "cabrera")


def row_levels(page, width: int) -> list[np.ndarray]:
    """Where each row's trace runs, per image column ``0..width-1`` (px): the :func:`trace_level` of the row's
    true trace (what the digitizer estimates from its first reading), or its 0 mV line where it printed nothing."""
    g = page.geometry
    window = LEVEL_MM * g.px_per_mm
    out = []
    for r, base in enumerate(row_baselines(page, width)):
        y = np.full(width, np.nan)
        for seg in page.segments:
            if seg.row == r:
                cols, yy = seg.columns()
                keep = (cols >= 0) & (cols < width)
                y[cols[keep]] = yy[keep]
        out.append(trace_level(y, window) if np.isfinite(y).any() else base)
    return out


def row_baselines(page, width: int) -> list[np.ndarray]:
    """Each row's 0 mV line as image y (px) for every image column ``0..width-1`` (through the page's warp)."""
    g = page.geometry
    xs = np.linspace(0, g.page_size_px[1], 64)
    out = []
    for r in range(g.n_rows):
        pts = g.to_image(np.stack([xs, np.full_like(xs, g.baseline_mm(r) * g.px_per_mm)], axis=1))
        order = np.argsort(pts[:, 0])
        out.append(np.interp(np.arange(width), pts[order, 0], pts[order, 1]))
    return out


def page_crops(page, n_crops: int, rng: np.random.Generator, crop: tuple[int, int] = (240, 192),
               contested: float = 0.7) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """Crops of one rendered page: (darkness float16 (h, w), target uint8 (h, w), baseline y per column float32
    (w,), pitch px), all at :data:`PX_PER_MM`. A crop is centred on a random row's baseline at a column where
    that row's ink meets another row's (probability ``contested``, when there is one) or on its ink elsewhere;
    "baseline" is where the row's trace runs (:func:`row_levels`)."""
    from ecgcls.digitize.grid import darkness

    g = page.geometry
    k = PX_PER_MM / g.px_per_mm
    h0, w0 = page.image.shape[:2]
    size = (max(8, int(round(w0 * k))), max(8, int(round(h0 * k))))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    dark = cv2.resize(darkness(page.image), size, interpolation=interp)
    bits = np.zeros(g.n_rows, np.uint16)
    for seg in page.segments:
        bits[seg.row] |= np.uint16(1 << seg.lead_idx)
    planes = [cv2.resize(((page.mask & b) != 0).astype(np.float32), size, interpolation=interp) >= 0.25 for b in bits]
    xs = (np.arange(size[0]) + 0.5) / k - 0.5  # scaled column -> image column
    bases = [np.interp(xs, np.arange(w0), lv) * k for lv in row_levels(page, w0)]
    pitch = g.row_pitch_mm * PX_PER_MM
    near = cv2.getStructuringElement(cv2.MORPH_RECT, (1, int(2 * PX_PER_MM) | 1))  # within 1 mm vertically
    ch, cw = crop
    out = []
    rows = [r for r in range(g.n_rows) if planes[r].any()]
    meets = {}  # per row: the columns where its ink comes within 1 mm of another row's
    for r in rows:
        others = np.zeros_like(planes[r])
        for q in rows:
            if q != r:
                others |= planes[q]
        meets[r] = np.flatnonzero((planes[r] & (cv2.dilate(others.astype(np.uint8), near) > 0)).any(axis=0))
    for _ in range(n_crops if rows else 0):
        r = int(rng.choice(rows))
        meet = meets[r]
        cols = meet if rng.random() < contested and meet.size else np.flatnonzero(planes[r].any(axis=0))
        xc = int(cols[rng.integers(len(cols))]) + int(rng.integers(-cw // 4, cw // 4 + 1))
        x0 = int(np.clip(xc - cw // 2, 0, max(0, size[0] - cw)))
        yc = float(bases[r][min(size[0] - 1, max(0, xc))])
        y0 = int(round(yc)) - ch // 2 + int(rng.integers(-ch // 8, ch // 8 + 1))
        d = np.zeros((ch, cw), np.float32)
        t = np.zeros((ch, cw), np.uint8)
        ya, yb, xb = max(0, y0), min(size[1], y0 + ch), min(size[0], x0 + cw)
        if yb <= ya:
            continue
        d[ya - y0:yb - y0, :xb - x0] = dark[ya:yb, x0:xb]
        t[ya - y0:yb - y0, :xb - x0] = planes[r][ya:yb, x0:xb]
        base = np.full(cw, np.nan, np.float32)
        base[:xb - x0] = bases[r][x0:xb] - y0
        base = np.where(np.isfinite(base), base, np.nanmean(base))
        out.append((d.astype(np.float16), t, base.astype(np.float32), float(pitch)))
    return out


def _draw(args):
    from ecgcls.render import RenderConfig, render

    signal, fs, seed, dpi, n_crops = args
    cv2.setNumThreads(1)
    rng = np.random.default_rng(seed)
    cfg = RenderConfig.randomized(rng, layouts=LAYOUT_MIX, dpi=dpi)
    page = render(signal, fs, cfg, rng=rng)
    return page_crops(page, n_crops, rng)


class RowCropDataset(Dataset):
    """Network inputs (3, h, w) and targets (1, h, w) from a pool of :func:`page_crops` (flipped left/right at
    random in training)."""

    def __init__(self, crops: list, train: bool, seed: int = 0) -> None:
        self.crops, self.train, self.seed, self.epoch = crops, train, seed, 0

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, idx: int):
        d, t, base, pitch = self.crops[idx]
        if self.train and np.random.default_rng([self.seed, self.epoch, idx]).random() < 0.5:
            d, t, base = d[:, ::-1], t[:, ::-1], base[::-1]
        x = row_inputs(torch.from_numpy(np.ascontiguousarray(d, dtype=np.float32))[None],
                       torch.from_numpy(np.ascontiguousarray(base))[None], torch.tensor([pitch]))[0]
        return x, torch.from_numpy(np.ascontiguousarray(t)).float()[None]


class LeadSepDataModule(TraceSegDataModule):
    """Randomized rendered pages of the train/val folds' records, cut into row crops (``crops_per_page`` each,
    drawn once and cached; flips change per epoch). Other parameters as :class:`TraceSegDataModule`."""

    pool_name = "leadsep"

    def _pool_key(self) -> list:
        return [self.dpi, self.crops_per_page, POOL_VERSION]

    def _draw_pool(self, signals: list, seed: int) -> list:
        args = [(s, self.fs, [seed, i], tuple(self.dpi), self.crops_per_page) for i, s in enumerate(signals)]
        return [c for p in map_drawing(_draw, args, self.render_workers, chunksize=2) for c in p]

    def _dataset(self, split: str) -> Dataset:
        return RowCropDataset(self.pages[split], split == "train", self.seed)

    def describe(self) -> dict:
        return {"folds": self.folds, "n_pages": {k: len(v) for k, v in self.ids.items()},
                "n_crops": {k: len(v) for k, v in self.pages.items()}, "crops_per_page": self.crops_per_page,
                "layouts": list(LAYOUT_MIX), "dpi": list(self.dpi), "px_per_mm": PX_PER_MM, "fs": self.fs,
                "record_ids": self.ids}
