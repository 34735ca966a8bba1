"""Which of a crowded band's ink is one row's own: the lead separation network (:mod:`ecgcls.models.leadsep`).

Pure function of a darkness band (and the bundled weights): the band around one row, its baseline and the page's
row pitch in, the probability that each pixel is that row's trace out, at the band's own resolution. The network
sees the band resampled to its training resolution (``px_per_mm`` in the bundle's card, 5 px/mm).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

#: bundled weights (safetensors) and their card (JSON beside them)
DEFAULT_LEADSEP_NET = Path(__file__).resolve().parents[1] / "weights" / "leadsep.safetensors"


#: the row's level is its trace's running median over this many mm (0.4 s at 25 mm/s): the baseline's wander,
#: not its QRS complexes
LEVEL_MM = 10.0


def trace_level(y: np.ndarray, window_px: float) -> np.ndarray:
    """Where a row's trace runs, without its waves: the running median of its y per column (px) over
    ``window_px`` columns, gaps (NaN) filled from the nearest known columns. All NaN in, all NaN out."""
    from scipy.ndimage import median_filter

    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    if not ok.any():
        return np.full_like(y, np.nan)
    x = np.arange(len(y))
    filled = np.interp(x, x[ok], y[ok])
    return median_filter(filled, size=max(1, int(window_px)) | 1, mode="nearest")


def row_probability(dark_band: np.ndarray, base_y, pitch_px: float, ppm_x: float, ppm_y: float,
                    weights: str | Path | None = None) -> np.ndarray:
    """Probability that each pixel of ``dark_band`` is the row's own trace ink.

    ``dark_band``: float (h, w) darkness (0 = paper, :func:`~ecgcls.digitize.grid.darkness`) of a band around
    the row; ``base_y``: where the row runs (px, band coordinates): its :func:`trace_level` per column (w,), or
    one y for a level row; ``pitch_px``: the distance between rows' baselines (px); ``ppm_x``, ``ppm_y``: px per
    mm. Returns float32 (h, w) in [0, 1].
    """
    import torch

    from ecgcls.digitize.segment import load_trace_net
    from ecgcls.data.leadsep_inputs import PX_PER_MM, row_inputs

    if dark_band.ndim != 2 or min(dark_band.shape) < 2:
        raise ValueError(f"row_probability: expected a 2-D darkness band, got shape {dark_band.shape}")
    if not (ppm_x > 0 and ppm_y > 0 and pitch_px > 0):
        raise ValueError(f"row_probability: scale {ppm_x}, {ppm_y} px/mm and pitch {pitch_px} px must be positive")
    net, meta = load_trace_net(weights or DEFAULT_LEADSEP_NET)
    px = float(meta.get("card", {}).get("data", {}).get("px_per_mm", PX_PER_MM))
    h, w = dark_band.shape
    kx, ky = px / ppm_x, px / ppm_y
    size = (max(16, int(round(w * kx))), max(16, int(round(h * ky))))
    small = cv2.resize(dark_band.astype(np.float32), size,
                       interpolation=cv2.INTER_AREA if min(kx, ky) < 1 else cv2.INTER_LINEAR)
    sy = size[1] / h
    base = np.broadcast_to(np.asarray(base_y, dtype=np.float64), (w,))
    base = np.interp((np.arange(size[0]) + 0.5) * w / size[0] - 0.5, np.arange(w), base) * sy
    x = row_inputs(torch.from_numpy(small)[None], torch.from_numpy(base.astype(np.float32))[None],
                   torch.tensor([pitch_px * sy]))
    with torch.inference_mode():
        p = torch.sigmoid(net(x.contiguous(memory_format=torch.channels_last)))[0, 0].numpy()
    return cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
