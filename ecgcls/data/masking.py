"""Masked training strategy: make clean 12-lead signals look like what a digitized picture gives.

Every call draws (with the given ``numpy.random.Generator``) a print layout — which window of each lead
is visible, from the same :data:`ecgcls.geometry.LAYOUTS` table the renderer draws with — then random
blackouts (one contiguous block per lead, 0–80 % in 10 % steps, as in PatchECG), whole-lead drops and
patch drops. Hidden samples become NaN; the model sees only what is left.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ecgcls.geometry import get_layout, grid_layout

#: simulated layouts; the names of the renderer's layouts plus two PatchECG variants
_EXTRA = {
    "3x4+II+V1": grid_layout("3x4+II+V1", [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"],
                                           ["III", "aVF", "V3", "V6"]], rhythm=["II", "V1"]),
    "6x2+II": grid_layout("6x2+II", [["I", "V1"], ["II", "V2"], ["III", "V3"], ["aVR", "V4"], ["aVL", "V5"],
                                     ["aVF", "V6"]], rhythm=["II"]),
}
SIM_LAYOUTS = ("12x1", "3x4", "3x4+II", "3x4+II+V1", "6x2", "6x2+II", "cabrera")


def layout_coverage(name: str, fs: float, n_samples: int) -> np.ndarray:
    """Bool (12, n_samples) of what layout ``name`` prints of a 10 s record."""
    lay = _EXTRA[name] if name in _EXTRA else get_layout(name)
    return lay.coverage(fs, n_samples)


def blackout(x: np.ndarray, rng: np.random.Generator, max_frac: float = 0.8, step: float = 0.1,
             lead_prob: float = 1.0) -> np.ndarray:
    """Per lead (with probability ``lead_prob``), NaN one contiguous block covering a random multiple of
    ``step`` up to ``max_frac`` of the lead, at a random start."""
    x = x.copy()
    n = x.shape[1]
    steps = np.arange(0, max_frac + 1e-9, step)
    for lead in range(x.shape[0]):
        if rng.random() >= lead_prob:
            continue
        w = int(round(rng.choice(steps) * n))
        if w:
            s = int(rng.integers(0, n - w + 1))
            x[lead, s:s + w] = np.nan
    return x


@dataclass
class LayoutMasker:
    """Callable ``(signal (12, T) mV, rng) -> signal with NaN`` used as a dataset transform.

    Parameters
    ----------
    layouts : names from :data:`SIM_LAYOUTS` to draw from (uniformly, or with ``probs``).
    fs : sampling rate (Hz) of the signals.
    blackout_prob : chance that a record gets PatchECG blackouts (per lead block, 0–``blackout_max``).
    lead_drop_prob : chance per lead to lose it entirely (unreadable lead).
    patch_drop_prob, patch_len : chance per ``patch_len``-sample patch to be NaN'd (digitizer gaps).
    min_visible : keep at least this many samples visible in total (redraw otherwise).
    """

    layouts: Sequence[str] = SIM_LAYOUTS
    fs: float = 100.0
    probs: Sequence[float] | None = None
    blackout_prob: float = 0.5
    blackout_max: float = 0.8
    lead_drop_prob: float = 0.05
    patch_drop_prob: float = 0.05
    patch_len: int = 64
    min_visible: int = 100
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in self.layouts:
            if name not in SIM_LAYOUTS:
                raise ValueError(f"unknown simulated layout {name!r}; choose from {', '.join(SIM_LAYOUTS)}")
        self.layouts = list(self.layouts)

    def coverage(self, name: str, n: int) -> np.ndarray:
        key = (name, n)
        if key not in self._cache:
            self._cache[key] = layout_coverage(name, self.fs, n)
        return self._cache[key]

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for _ in range(10):
            name = self.layouts[int(rng.choice(len(self.layouts), p=self.probs))]
            y = np.where(self.coverage(name, x.shape[1]), x, np.nan).astype(np.float32)
            if rng.random() < self.blackout_prob:
                y = blackout(y, rng, self.blackout_max)
            if self.lead_drop_prob:
                y[rng.random(12) < self.lead_drop_prob] = np.nan
            if self.patch_drop_prob:
                n_p = -(-y.shape[1] // self.patch_len)
                drop = rng.random((12, n_p)) < self.patch_drop_prob
                y[np.repeat(drop, self.patch_len, axis=1)[:, : y.shape[1]]] = np.nan
            if np.isfinite(y).sum() >= self.min_visible:
                return y
        return np.where(self.coverage("12x1", x.shape[1]), x, np.nan).astype(np.float32)


@dataclass
class FixedCondition:
    """Deterministic evaluation condition: one layout, optionally with ``blackout_frac`` of every lead hidden
    (one block per lead at a random start) — e.g. ``FixedCondition("12x1", blackout_frac=0.3)``."""

    layout: str = "12x1"
    fs: float = 100.0
    blackout_frac: float = 0.0

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        y = np.where(layout_coverage(self.layout, self.fs, x.shape[1]), x, np.nan).astype(np.float32)
        if self.blackout_frac:
            n = y.shape[1]
            w = int(round(self.blackout_frac * n))
            for lead in range(12):
                s = int(rng.integers(0, n - w + 1))
                y[lead, s:s + w] = np.nan
        return y


#: the per-layout evaluation table's conditions
EVAL_CONDITIONS: dict[str, FixedCondition] = {
    "12x1": FixedCondition("12x1"),
    "3x4": FixedCondition("3x4"),
    "3x4+II": FixedCondition("3x4+II"),
    "6x2": FixedCondition("6x2"),
    "cabrera": FixedCondition("cabrera"),
    "blackout30": FixedCondition("12x1", blackout_frac=0.3),
    "blackout50": FixedCondition("12x1", blackout_frac=0.5),
}
