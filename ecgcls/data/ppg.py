"""Aligned PPG / ECG windows from BIDMC (fingertip PLETH and ECG lead II, 125 Hz), split by subject.

Windows are cut at the same sample in both signals (``length`` samples every ``hop``), and each is normalised on
its own to [0, 1] (min-max; the metrics are reported in these units). A window is dropped when either signal is
flat or has gaps there. Splits are **subject-independent**: ``fold`` k of ``n_folds`` tests on every
``n_folds``-th subject (sorted ids, starting at k), validates on ``n_val`` other subjects and trains on the rest;
``protocol='within'`` instead puts the first ``1 − test_share`` of every subject's recording in training and the
rest in test (windows of one subject on both sides: the optimistic protocol many published figures use).
"""
from __future__ import annotations

import logging
import tarfile
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

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


class PPGECGDataModule(L.LightningDataModule):
    """BIDMC windows for PPG → ECG (see module doc). Batches are ``(ppg (B, L), ecg (B, L), subject index (B,))``;
    ``self.subjects`` names the indices."""

    def __init__(self, archive: str, cache_dir: str = "~/.cache/ecgcls", length: int = 512, hop: int = 64,
                 eval_hop: int | None = None, protocol: str = "subject", n_folds: int = 5, fold: int = 0,
                 n_val: int = 3, test_share: float = 0.2, batch_size: int = 64, num_workers: int = 0,
                 seed: int = 0, limit_subjects: int | None = None) -> None:
        super().__init__()
        if protocol not in ("subject", "within"):
            raise ValueError(f"data.protocol must be 'subject' or 'within', got {protocol!r}")
        self.archive, self.cache_dir, self.length, self.hop = archive, cache_dir, int(length), int(hop)
        self.eval_hop = int(eval_hop or length)
        self.protocol, self.n_folds, self.fold, self.n_val = protocol, int(n_folds), int(fold), int(n_val)
        self.test_share, self.batch_size, self.num_workers, self.seed = test_share, batch_size, num_workers, seed
        self.limit_subjects = limit_subjects
        self._done = False

    def setup(self, stage: str | None = None) -> None:
        if self._done:
            return
        root = unpack_bidmc(self.archive, self.cache_dir)
        names = (root / "RECORDS").read_text().split()[: self.limit_subjects]
        self.subjects = names
        data = {}
        for n in names:
            p, e, fs = read_subject(root, n)
            if abs(fs - FS) > 1e-6:
                raise ValueError(f"{root / n}: {fs} Hz, expected {FS}")
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
        self._done = True

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        return DataLoader(self.tensors[split], batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def describe(self) -> dict:
        self.setup()
        return {"protocol": self.protocol, "fold": self.fold, "n_folds": self.n_folds, "fs": self.fs,
                "length": self.length, "hop": self.hop, "eval_hop": self.eval_hop,
                "subjects": self.split_subjects, "windows": {k: len(v) for k, v in self.tensors.items()}}
