"""How ``model=both`` weighs its two paths on one page.

The signal path (PatchECG on the digitized leads) is only as good as the reading; the picture path (the CNN
ensemble) does not depend on it. The digitizer predicts each page's SNR from the reading itself
(:mod:`ecgcls.digitize.quality`, fitted on own renders), so the signal path's weight follows that prediction:

    w_signal = max_weight · clip((snr − zero_db) / (full_db − zero_db), 0, 1)

and the picture path gets ``1 − w_signal``: a page at ≤ 0 dB (or with no prediction: the digitizer refused it) is
the picture path alone. The defaults (``max_weight`` 0.75 from 6 dB up) were chosen on rendered and read
validation-fold pages (own look and randomized, 232 pages) by ``ecgcls calibrate cnn1d patchecg pic2dx rhythm``
(macro AUROC 0.915 there, vs 0.873 picture path alone and 0.913 signal path alone; bench/results/calibration.json),
never on test or ecg-image-kit pictures.
"""
from __future__ import annotations

import math


def signal_weight(snr_db: float, full_db: float = 6.0, zero_db: float = 0.0, max_weight: float = 0.75) -> float:
    """Weight in [0, ``max_weight``] of the signal path for a page whose predicted mean lead SNR is ``snr_db``
    (dB; NaN → 0)."""
    if full_db <= zero_db:
        raise ValueError(f"signal_weight: full_db ({full_db}) must exceed zero_db ({zero_db})")
    if not 0.0 <= max_weight <= 1.0:
        raise ValueError(f"signal_weight: max_weight must be in [0, 1], got {max_weight}")
    if snr_db is None or math.isnan(snr_db):
        return 0.0
    return max_weight * min(1.0, max(0.0, (snr_db - zero_db) / (full_db - zero_db)))
