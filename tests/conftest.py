"""Shared fixtures: the PTB-XL pack unpacked once into a cache, tiny synthetic PTB-XL roots."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

# Without a GPU, Triton kernels run in the interpreter on CPU tensors (set before any kernel is defined).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGCLS_SHARED", REPO.parent / "shared"))
PACK = SHARED / "data" / "ptbxl-mini.tar.xz"
CACHE = Path(os.environ.get("ECGCLS_CACHE", Path.home() / ".cache" / "ecgcls"))


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE


@pytest.fixture(scope="session")
def ptbxl_root(cache_dir) -> Path:
    """The shared PTB-XL pack, unpacked once into the cache."""
    if not PACK.is_file():
        pytest.skip(f"{PACK} not found (set ECGCLS_SHARED to the folder holding data/ptbxl-mini.tar.xz)")
    from ecgcls.data import unpack_archive

    return unpack_archive(PACK, cache_dir)


def make_tiny_ptbxl(root: Path, n: int = 6, fs_list=(100,), seed: int = 0, first_id: int = 1) -> Path:
    """Write a tiny PTB-XL-layout root with synthetic signals (for store/error tests): ecg_ids ``first_id`` ...
    ``first_id + n - 1``, patient ``100 + ecg_id``, strat_fold ``1 + ecg_id % 3``."""
    import wfdb

    from ecgcls import LEADS

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(first_id, first_id + n):
        row = {"ecg_id": i, "patient_id": float(100 + i), "strat_fold": 1 + (i % 3),
               "scp_codes": "{'NORM': 100.0}" if i % 2 else "{'IMI': 50.0}"}
        for fs, tag, col in ((100, "lr", "filename_lr"), (500, "hr", "filename_hr")):
            rel = f"records{fs}/00000/{i:05d}_{tag}"
            row[col] = rel
            if fs in fs_list:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                sig = rng.normal(0, 0.3, (10 * fs, 12))
                wfdb.wrsamp(f"{i:05d}_{tag}", fs=fs, units=["mV"] * 12, sig_name=list(LEADS), p_signal=sig,
                            fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12,
                            write_dir=str((root / rel).parent))
        rows.append(row)
    pd.DataFrame(rows).to_csv(root / "ptbxl_database.csv", index=False)
    st = pd.DataFrame({"description": ["normal ECG", "inferior MI"], "diagnostic": [1.0, 1.0], "form": [np.nan, np.nan],
                       "rhythm": [np.nan, np.nan], "diagnostic_class": ["NORM", "MI"],
                       "diagnostic_subclass": ["NORM", "IMI"]}, index=pd.Index(["NORM", "IMI"]))
    st.to_csv(root / "scp_statements.csv")
    return root


@pytest.fixture()
def tiny_ptbxl(tmp_path) -> Path:
    return make_tiny_ptbxl(tmp_path / "tiny")


EXTRA = SHARED / "data" / "ptbxl-extra.tar.xz"


@pytest.fixture(scope="session")
def extra_archive(cache_dir) -> Path:
    """The shared ptbxl-extra archive (1,707 training-only records), unpacked once into the cache."""
    if not EXTRA.is_file():
        pytest.skip(f"{EXTRA} not found (set ECGCLS_SHARED to the folder holding data/ptbxl-extra.tar.xz)")
    from ecgcls.data import unpack_archive

    unpack_archive(EXTRA, cache_dir)
    return EXTRA
