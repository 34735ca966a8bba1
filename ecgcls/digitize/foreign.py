"""Truth for pictures drawn by other generators (ecg-image-kit), to score the digitizer on pages it was
never tuned on.

ecg-image-kit (``--store_config 2``) writes, per plotted lead, the sample range and the pixel of every
plotted sample; the validation set keeps that as an affine form ``[y, x] = A @ [k, v_mV, 1]``. Here that
becomes a reference :class:`~ecgcls.Record`-shaped array (12, T) in mV on the record's own timeline, with NaN
where the page printed nothing — exactly what :func:`ecgcls.metrics.signal_snr` compares a digitized page
with. Nothing here is used for training or for choosing thresholds.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgcls.types import LEADS, lead_index

#: ecg-image-kit layout tags (file-name suffix) → ecgcls layout names (what the page shows)
EIK_LAYOUTS = {"3x4pII": "3x4+II", "6x2pII": "6x2+II", "12x1pII": "12x1+II", "3x4pV1": "3x4+V1"}


@dataclass
class ForeignPage:
    """One picture from another generator and what it shows: ``ref`` (12, T) mV, NaN where not printed."""

    image_path: Path
    ref: np.ndarray
    fs: float
    layout: str
    record: str
    meta: dict


def load_eik_page(json_path: str | Path, ptbxl_root: str | Path, fs: float | None = None) -> ForeignPage:
    """Read an ecg-image-kit truth JSON (and the PTB-XL record it names) into a :class:`ForeignPage`.

    ``ptbxl_root``: the unpacked PTB-XL folder (``records500/...`` below it). ``fs``: resample the reference
    to this rate (Hz; default the record's own). The 10 s timeline of the output has ``10 * fs`` samples.
    """
    import wfdb
    from scipy.signal import resample_poly

    json_path = Path(json_path)
    j = json.loads(json_path.read_text())
    rec = wfdb.rdrecord(str(Path(ptbxl_root) / j["record"]))
    names = [n.upper() for n in rec.sig_name]
    fs0 = float(j.get("sampling_frequency", rec.fs))
    sig = np.asarray(rec.p_signal, np.float64)
    n0 = sig.shape[0]
    ref = np.full((12, n0), np.nan)
    for lead in j["leads"]:
        s, e = int(lead["start_sample"]), int(lead["end_sample"])
        src = names.index(lead["lead_name"].upper())
        ref[lead_index(lead["lead_name"]), s:e] = sig[s:e, src]
    fs = fs or fs0
    if fs != fs0:  # resample each printed run; NaN stays NaN
        up, down = int(round(fs)), int(round(fs0))
        n = int(round(n0 * fs / fs0))
        out = np.full((12, n), np.nan)
        for i in range(12):
            ok = np.isfinite(ref[i])
            if ok.any():
                full = resample_poly(np.nan_to_num(ref[i]), up, down)[:n]
                keep = resample_poly(ok.astype(float), up, down)[:n] > 0.5
                out[i, :len(full)] = np.where(keep, full, np.nan)
        ref = out
    stem = json_path.stem
    tag = stem.split("_", 1)[1] if "_" in stem else ""
    image = json_path.with_suffix(".jpg")
    if not image.exists():
        image = next((p for p in json_path.parent.glob(stem + ".*") if p.suffix.lower() != ".json"), image)
    meta = {k: v for k, v in j.items() if k != "leads"}
    return ForeignPage(image, ref.astype(np.float32), fs, EIK_LAYOUTS.get(tag, tag), j["record"], meta)


def eik_pages(root: str | Path, sets: tuple[str, ...] | None = None) -> list[Path]:
    """Truth JSONs under an ecg-image-kit validation folder (``clean/``, ``distorted/``, ``layouts/``...)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such validation folder")
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and (sets is None or p.name in sets))
    return [j for d in dirs for j in sorted(d.glob("*.json"))]


__all__ = ["ForeignPage", "load_eik_page", "eik_pages", "EIK_LAYOUTS", "LEADS"]
