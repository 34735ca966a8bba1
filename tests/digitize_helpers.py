"""Shared by the digitizer's tests (tests/test_digitize_*.py): two synthetic 12-lead records as fixtures, the SNR
of a reading against what its page printed, a cropped page, ecg-image-kit's drawing style."""
import dataclasses

import numpy as np
import pytest

from ecgcls.metrics import signal_snr

from test_render import synthetic_ecg

FS = 500
#: ecg-image-kit's look (the trace runs on from the pulse, names below, bold bars, a frame, a footer)
EIK_STYLE = dict(pulse="attached", label_pos="below", separator="bar", frame=True, footer=True, header=False)


@pytest.fixture(scope="module")
def sig():
    return synthetic_ecg(1)


@pytest.fixture(scope="module")
def sig3():
    return synthetic_ecg(3)


def _snr(page, d, sig):
    ref = np.where(page.layout.coverage(FS, sig.shape[1]), sig, np.nan)
    return signal_snr(ref, d.record.signal, FS)[0]


def crop_width(page, keep: float):
    """``page`` with its picture cut to its left ``keep`` of the width (a scan or photo that lost its right margin)."""
    return dataclasses.replace(page, image=np.ascontiguousarray(page.image[:, : int(page.image.shape[1] * keep)]))
