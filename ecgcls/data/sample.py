"""A PTB-XL record shipped inside the package, for examples, notebooks and smoke tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgcls.types import Record

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ptbxl_00161.npz"


def load_sample_record() -> Record:
    """PTB-XL ecg_id 161 (strat_fold 5, a held-out test fold; superdiagnostic MI), 12 x 10 s at 500 Hz, mV."""
    z = np.load(SAMPLE)
    return Record(z["signal"], float(z["fs"]), id=f"ptbxl-{int(z['ecg_id'])}", labels={str(z["superdiagnostic"]): 1})
