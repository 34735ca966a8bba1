"""Signal transforms on (leads, T) arrays with NaN for missing samples: filling and resampling."""
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


FILL_MODES = ("none", "zero", "interp")


def fill_missing(x: torch.Tensor, mode: str) -> torch.Tensor:
    """Fill NaN samples for models that cannot take them: 'zero', 'interp' (linear), or 'none' (unchanged)."""
    if mode == "zero":
        return torch.nan_to_num(x, nan=0.0)
    if mode == "interp":
        return interpolate_nan_torch(x)
    if mode == "none":
        return x
    raise ValueError(f"unknown fill mode {mode!r}; choose from {', '.join(FILL_MODES)}")


def resample_nan(sig: np.ndarray, fs_in: float, fs_out: float, n_out: int) -> np.ndarray:
    """Resample (leads, T) with NaN gaps to ``fs_out`` and ``n_out`` samples (cut or NaN-padded);
    samples whose source was NaN stay NaN."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    known = np.isfinite(sig)
    if fs_in == fs_out:
        out = sig
    else:
        ratio = Fraction(float(fs_out) / float(fs_in)).limit_denominator(1000)  # (non-integer rates too)
        out = resample_poly(interpolate_nan(sig), ratio.numerator, ratio.denominator, axis=1).astype(np.float32)
        idx = np.clip(np.round(np.arange(out.shape[1]) * fs_in / fs_out).astype(int), 0, sig.shape[1] - 1)
        out[~known[:, idx]] = np.nan
    res = np.full((sig.shape[0], n_out), np.nan, np.float32)
    n = min(n_out, out.shape[1])
    res[:, :n] = out[:, :n]
    return res
