"""Signal transforms: filling missing samples for models that cannot take NaN."""
from __future__ import annotations

import numpy as np
import torch


def interpolate_nan(signal: np.ndarray) -> np.ndarray:
    """Linearly interpolate NaN runs per lead (edges take the nearest known value; all-NaN -> 0).

    ``signal``: float (..., T) in mV. Returns a new array without NaN.
    """
    x = np.array(signal, dtype=np.float32, copy=True)
    flat = x.reshape(-1, x.shape[-1])
    t = np.arange(flat.shape[1])
    for row in flat:
        ok = ~np.isnan(row)
        if ok.all():
            continue
        row[:] = np.interp(t, t[ok], row[ok]) if ok.any() else 0.0
    return x


def interpolate_nan_torch(x: torch.Tensor) -> torch.Tensor:
    """Torch wrapper of :func:`interpolate_nan` (runs on CPU, returns on ``x.device``)."""
    if not torch.isnan(x).any():
        return x
    return torch.from_numpy(interpolate_nan(x.detach().cpu().numpy())).to(x.device)
