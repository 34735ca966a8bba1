"""Core data types shared by every stage of ecgcls."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Standard 12-lead order used everywhere in ecgcls (and by PTB-XL).
LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LEAD_INDEX: dict[str, int] = {name: i for i, name in enumerate(LEADS)}


def lead_index(name: str) -> int:
    """Index of a lead name in :data:`LEADS` (case-insensitive; ``-aVR`` maps to aVR)."""
    key = name.lstrip("-")
    for cand, i in LEAD_INDEX.items():
        if cand.lower() == key.lower():
            return i
    raise ValueError(f"unknown lead name {name!r}; expected one of {', '.join(LEADS)}")


def true_runs(ok: np.ndarray, min_len: int = 1) -> list[tuple[int, int]]:
    """[start, end) of the runs of True in the 1-D mask ``ok`` at least ``min_len`` samples long (a lead's valid
    stretches, a row's read columns)."""
    d = np.diff(np.concatenate([[0], np.asarray(ok, bool).astype(np.int8), [0]]))
    return [(int(s), int(e)) for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)) if e - s >= min_len]


@dataclass
class Record:
    """A 12-lead ECG on a common timeline.

    Attributes
    ----------
    signal : float32 array, shape (12, T)
        Voltage in mV, leads in :data:`LEADS` order; NaN where nothing is known.
        The validity mask is ``~np.isnan(signal)`` -- there is deliberately no second array.
    fs : float
        Sampling rate in Hz.
    id : str
        Identifier (e.g. PTB-XL ``ecg_id`` or a file name).
    labels : dict[str, int] | None
        Optional multi-label targets, class name -> 0/1.
    """

    signal: np.ndarray
    fs: float
    id: str = ""
    labels: dict[str, int] | None = None
    leads: tuple[str, ...] = field(default=LEADS)

    def __post_init__(self) -> None:
        sig = np.asarray(self.signal, dtype=np.float32)
        if sig.ndim != 2 or sig.shape[0] != len(self.leads):
            raise ValueError(
                f"Record {self.id!r}: signal must have shape ({len(self.leads)}, T), got {sig.shape}"
            )
        if self.fs <= 0:
            raise ValueError(f"Record {self.id!r}: fs must be positive, got {self.fs}")
        self.signal = sig

    @property
    def mask(self) -> np.ndarray:
        """Boolean (12, T): True where the signal is known."""
        return ~np.isnan(self.signal)

    @property
    def duration_s(self) -> float:
        return self.signal.shape[1] / self.fs
