"""Decode WFDB once into a memory-mapped ``.npy`` store for fast repeated training."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgcls.data.ptbxl import DATABASE_CSV, find_root, load_database
from ecgcls.types import LEADS

log = logging.getLogger(__name__)
STORE_VERSION = 1


def read_wfdb(path: str | Path, expect_fs: float | None = None) -> tuple[np.ndarray, float]:
    """Read one WFDB record (path without extension) -> (float32 (12, T) in mV, fs).

    Leads are reordered to :data:`ecgcls.LEADS`. Raises ``ValueError`` naming the file when the
    record is missing, unreadable, lacks a lead, or has an unexpected sampling rate.
    """
    import wfdb

    path = Path(path)
    if not path.with_suffix(".hea").is_file():
        raise FileNotFoundError(f"{path}.hea: WFDB header not found")
    try:
        sig, fields = wfdb.rdsamp(str(path))
    except Exception as exc:  # wfdb raises many types for corrupt files
        raise ValueError(f"{path}: cannot read WFDB record ({type(exc).__name__}: {exc})") from exc
    names = [n.strip() for n in fields["sig_name"]]
    lower = [n.lower() for n in names]
    try:
        order = [lower.index(lead.lower()) for lead in LEADS]
    except ValueError as exc:
        raise ValueError(f"{path}: leads {names} do not include all of {list(LEADS)}") from exc
    fs = float(fields["fs"])
    if expect_fs is not None and abs(fs - expect_fs) > 1e-6:
        raise ValueError(f"{path}: sampling rate {fs} Hz, expected {expect_fs} Hz")
    out = np.ascontiguousarray(sig[:, order].T, dtype=np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"{path}: record contains NaN or infinite samples")
    return out, fs


class SignalStore:
    """All records of a PTB-XL root at one sampling rate as one ``(N, 12, T)`` float32 memmap.

    The store lives in ``cache_dir/signals/<key>/`` where ``key`` hashes the root's absolute
    path, the sampling rate and the database file's size and mtime, so a different download
    or rate never reuses a stale store. Building is atomic: files are written under temporary
    names and renamed when complete.
    """

    def __init__(self, root: str | Path, fs: int = 100, cache_dir: str | Path = "~/.cache/ecgcls",
                 ids: list[int] | None = None, progress: bool = True) -> None:
        if fs not in (100, 500):
            raise ValueError(f"PTB-XL has 100 Hz and 500 Hz records; got fs={fs}")
        self.root = find_root(root)
        self.fs = fs
        db_file = self.root / DATABASE_CSV
        st = db_file.stat()
        key_src = f"{self.root.resolve()}|{fs}|{st.st_size}|{int(st.st_mtime)}|v{STORE_VERSION}"
        self.key = hashlib.sha1(key_src.encode()).hexdigest()[:16]
        self.dir = Path(cache_dir).expanduser() / "signals" / self.key
        self._ids_wanted = ids
        self._progress = progress
        if not (self.dir / "meta.json").is_file():
            self._build()
        self.ids = np.load(self.dir / "ids.npy")
        self.signals = np.load(self.dir / "signals.npy", mmap_mode="r")
        self._row = {int(i): r for r, i in enumerate(self.ids)}

    def _build(self) -> None:
        db = load_database(self.root)
        col = "filename_lr" if self.fs == 100 else "filename_hr"
        ids = sorted(int(i) for i in (self._ids_wanted if self._ids_wanted is not None else db.index))
        n_samples = 10 * self.fs
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f"signals.npy.tmp{os.getpid()}"
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(ids), 12, n_samples))
        for r, ecg_id in enumerate(tqdm(ids, desc=f"decoding PTB-XL {self.fs} Hz", disable=not self._progress)):
            fname = db.at[ecg_id, col]
            if not isinstance(fname, str):
                raise ValueError(f"{self.root / DATABASE_CSV}: ecg_id {ecg_id} has no {col}")
            sig, _ = read_wfdb(self.root / fname, expect_fs=self.fs)
            if sig.shape[1] != n_samples:
                raise ValueError(f"{self.root / fname}: {sig.shape[1]} samples, expected {n_samples}")
            arr[r] = sig
        arr.flush()
        del arr
        os.replace(tmp, self.dir / "signals.npy")
        np.save(self.dir / "ids.npy", np.asarray(ids, dtype=np.int64))
        (self.dir / "meta.json").write_text(json.dumps(
            {"root": str(self.root.resolve()), "fs": self.fs, "n": len(ids), "version": STORE_VERSION}))
        log.info("built signal store %s (%d records)", self.dir, len(ids))

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, ecg_id: int) -> bool:
        return int(ecg_id) in self._row

    def get(self, ecg_id: int) -> np.ndarray:
        """float32 (12, T) in mV for one ``ecg_id`` (a copy, safe to modify)."""
        try:
            return np.array(self.signals[self._row[int(ecg_id)]])
        except KeyError:
            raise KeyError(f"ecg_id {ecg_id} is not in the signal store {self.dir}") from None

    def frame(self) -> pd.Index:
        return pd.Index(self.ids, name="ecg_id")
