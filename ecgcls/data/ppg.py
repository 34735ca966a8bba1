"""Aligned PPG / ECG windows from BIDMC (fingertip PLETH and ECG lead II, 125 Hz), split by subject.

Windows are cut at the same sample in both signals (``length`` samples every ``hop``), and each is normalised on
its own to [0, 1] (min-max; the metrics are reported in these units). ``align='pat'`` first removes each
subject's delay between the ECG's R peaks and the PPG's systolic peaks (:func:`pulse_delay`): in BIDMC it ranges
from ~0.1 to ~0.65 s between subjects — more than pulse-arrival physiology explains, largely the recording chain —
so without it no timing is shared across subjects. It uses the subject's own ECG, as the PPG → ECG literature
does: an oracle on timing only (``align='none'`` is the protocol without it). A window is dropped when either signal is
flat or has gaps there. Splits are **subject-independent**: ``fold`` k of ``n_folds`` tests on every
``n_folds``-th subject (sorted ids, starting at k), validates on ``n_val`` other subjects and trains on the rest;
``protocol='within'`` instead puts the first ``1 − test_share`` of every subject's recording in training and the
rest in test (windows of one subject on both sides: the optimistic protocol many published figures use).
"""
from __future__ import annotations

import logging
import tarfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ecgcls.data.datamodule import SplitDataModule

log = logging.getLogger(__name__)
FS = 125.0


def unpack_bidmc(archive: str | Path, cache_dir: str | Path) -> Path:
    """The BIDMC pack unpacked once into ``cache_dir`` → the folder holding ``RECORDS`` and the WFDB files."""
    archive = Path(archive).expanduser()
    out = Path(cache_dir).expanduser() / "bidmc"
    root = out / "bidmc-ppg-ecg"
    if not (root / "RECORDS").is_file():
        if not archive.is_file():
            raise FileNotFoundError(f"{archive}: BIDMC pack not found")
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tf:
            tf.extractall(out, filter="data")
    return root


def read_subject(root: Path, name: str, ppg: str = "PLETH", ecg: str = "II") -> tuple[np.ndarray, np.ndarray, float]:
    """(ppg, ecg, fs) of one BIDMC record; raises naming the record when a channel is missing."""
    import wfdb

    sig, f = wfdb.rdsamp(str(root / name))
    names = [n.strip().rstrip(",") for n in f["sig_name"]]
    for want in (ppg, ecg):
        if want not in names:
            raise ValueError(f"{root / name}: no {want!r} channel (has {names})")
    return sig[:, names.index(ppg)].astype(np.float32), sig[:, names.index(ecg)].astype(np.float32), float(f["fs"])


def pulse_delay(ppg: np.ndarray, ecg: np.ndarray, fs: float) -> int:
    """Median delay (samples) from each ECG R peak to the next PPG systolic peak (NeuroKit2 peak detectors),
    within one beat; 0 when too few beats are found."""
    import neurokit2 as nk

    try:
        _, info = nk.ecg_peaks(nk.ecg_clean(ecg, sampling_rate=int(fs)), sampling_rate=int(fs))
        r = np.asarray(info["ECG_R_Peaks"])
        pk = np.asarray(nk.ppg_findpeaks(nk.ppg_clean(ppg, sampling_rate=int(fs)), sampling_rate=int(fs))["PPG_Peaks"])
    except Exception:  # noqa: BLE001 — NeuroKit2 raises on flat or too-short signals
        return 0
    if len(r) < 3 or len(pk) < 3:
        return 0
    j = np.searchsorted(pk, r)
    ok = j < len(pk)
    d = pk[j[ok]] - r[ok]
    rr = np.median(np.diff(r))
    d = d[(d >= 0) & (d < rr)]
    return int(np.median(d)) if len(d) else 0


def minmax(x: np.ndarray) -> np.ndarray:
    """Per-window min-max to [0, 1] along the last axis."""
    lo, hi = x.min(-1, keepdims=True), x.max(-1, keepdims=True)
    return (x - lo) / np.maximum(hi - lo, 1e-8)


def windows(ppg: np.ndarray, ecg: np.ndarray, length: int, hop: int, min_range: float = 1e-3
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aligned normalised windows (n, length) of PPG and ECG and their start samples; windows with NaN or a flat
    signal are dropped."""
    starts = np.arange(0, len(ppg) - length + 1, hop)
    idx = starts[:, None] + np.arange(length)
    p, e = ppg[idx], ecg[idx]
    ok = (np.isfinite(p).all(1) & np.isfinite(e).all(1) & (np.ptp(p, 1) > min_range) & (np.ptp(e, 1) > min_range))
    return minmax(p[ok]), minmax(e[ok]), starts[ok]


def subject_folds(subjects: list[str], n_folds: int, fold: int, n_val: int, seed: int = 0) -> dict[str, list[str]]:
    """Subject-independent split: test = ``sorted(subjects)[fold::n_folds]``; ``n_val`` of the others (seeded)
    validate; the rest train."""
    subjects = sorted(subjects)
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in 0..{n_folds - 1}, got {fold}")
    test = subjects[fold::n_folds]
    rest = [s for s in subjects if s not in test]
    val = sorted(np.random.default_rng([seed, fold]).choice(rest, size=n_val, replace=False).tolist())
    return {"train": [s for s in rest if s not in val], "val": val, "test": test}


class PPGECGDataModule(SplitDataModule):
    """BIDMC windows for PPG → ECG (see module doc). Batches are ``(ppg (B, L), ecg (B, L), subject index (B,))``;
    ``self.subjects`` names the indices."""

    def __init__(self, archive: str, cache_dir: str = "~/.cache/ecgcls", length: int = 512, hop: int = 64,
                 eval_hop: int | None = None, protocol: str = "subject", n_folds: int = 5, fold: int = 0,
                 n_val: int = 3, test_share: float = 0.2, batch_size: int = 64, num_workers: int = 0,
                 seed: int = 0, limit_subjects: int | None = None, align: str = "pat") -> None:
        super().__init__(batch_size, num_workers)
        if protocol not in ("subject", "within"):
            raise ValueError(f"data.protocol must be 'subject' or 'within', got {protocol!r}")
        if align not in ("pat", "none"):
            raise ValueError(f"data.align must be 'pat' or 'none', got {align!r}")
        self.align = align
        self.archive, self.cache_dir, self.length, self.hop = archive, cache_dir, int(length), int(hop)
        self.eval_hop = int(eval_hop or length)
        self.protocol, self.n_folds, self.fold, self.n_val = protocol, int(n_folds), int(fold), int(n_val)
        self.test_share, self.seed = test_share, seed
        self.limit_subjects = limit_subjects

    def _setup_once(self) -> None:
        if self._prepared:
            return
        root = unpack_bidmc(self.archive, self.cache_dir)
        names = (root / "RECORDS").read_text().split()[: self.limit_subjects]
        self.subjects = names
        data, self.delays = {}, {}
        for n in names:
            p, e, fs = read_subject(root, n)
            if abs(fs - FS) > 1e-6:
                raise ValueError(f"{root / n}: {fs} Hz, expected {FS}")
            if self.align == "pat":  # the PPG moved earlier by the subject's R -> PPG-peak delay
                d = pulse_delay(p, e, fs)
                self.delays[n] = d
                p, e = p[d:], e[:len(e) - d] if d else e
            data[n] = (p, e)
        self.fs = FS
        if self.protocol == "subject":
            self.split_subjects = subject_folds(names, self.n_folds, self.fold, self.n_val, self.seed)
            parts = {k: {s: data[s] for s in v} for k, v in self.split_subjects.items()}
        else:  # within-subject: a time split of every recording (train | gap of one window | test)
            parts = {"train": {}, "val": {}, "test": {}}
            for s, (p, e) in data.items():
                cut = int(len(p) * (1 - self.test_share))
                vcut = int(cut * 0.9)
                parts["train"][s] = (p[:vcut], e[:vcut])
                parts["val"][s] = (p[vcut + self.length:cut], e[vcut + self.length:cut])
                parts["test"][s] = (p[cut + self.length:], e[cut + self.length:])
            self.split_subjects = {k: sorted(v) for k, v in parts.items()}
        self.tensors = {}
        for split, subj in parts.items():
            hop = self.hop if split == "train" else self.eval_hop
            xs, ys, ss = [], [], []
            for s, (p, e) in subj.items():
                x, y, _ = windows(p, e, self.length, hop)
                xs.append(x), ys.append(y), ss.append(np.full(len(x), names.index(s)))
            self.tensors[split] = TensorDataset(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)),
                                                torch.from_numpy(np.concatenate(ss)))
        log.info("BIDMC %s protocol, fold %d: %s windows", self.protocol, self.fold,
                 {k: len(v) for k, v in self.tensors.items()})
        self._prepared = True

    def dataset(self, split: str) -> TensorDataset:
        self._setup_once()
        return self.tensors[split]

    def describe(self) -> dict:
        self._setup_once()
        return {"protocol": self.protocol, "align": self.align,
                "delays_ms": {k: round(v / self.fs * 1000) for k, v in self.delays.items()},
                "fold": self.fold, "n_folds": self.n_folds, "fs": self.fs,
                "length": self.length, "hop": self.hop, "eval_hop": self.eval_hop,
                "subjects": self.split_subjects, "windows": {k: len(v) for k, v in self.tensors.items()}}
