"""RR-interval features of a (partly missing) 12-lead record: atrial fibrillation's "irregularly irregular"
ventricular rhythm in numbers, measured on whatever leads a page printed.

R peaks are NeuroKit2's (``ecg_clean`` → ``ecg_peaks``), found on each run of finite samples separately; RR
intervals and their successive differences are taken only within a run (a gap's two sides are not
neighbours). Times are in ms, rates in beats per minute; a value that cannot be measured is NaN.
"""
from __future__ import annotations

import warnings

import numpy as np

from ecgcls.types import true_runs

#: the features :func:`rr_features` returns, in this order (see its docstring for units)
RR_FEATURES: tuple[str, ...] = ("rr_irregularity", "rr_cv", "rr_irregular_frac", "hr_bpm", "n_rr")
#: leads preferred for R peaks (by index in I, II, III, aVR, aVL, aVF, V1-V6): II, V5, I, V1, aVF
RHYTHM_LEADS: tuple[int, ...] = (1, 10, 0, 6, 5)
#: RR intervals outside this range (ms) are a missed or an extra beat, not a rhythm
RR_PLAUSIBLE_MS = (250.0, 2500.0)
#: a successive RR difference counts as irregular above this fraction of the median RR (the evidence rule's 8 %)
IRREGULAR_FRAC = 0.08


def clean_and_peaks(seg: np.ndarray, fs: float) -> tuple[np.ndarray, dict] | None:
    """NeuroKit2's cleaned signal and peak info of one finite run ``seg`` (mV at ``fs`` Hz), or None where
    NeuroKit2 finds fewer than two beats or raises (too short or flat runs)."""
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            clean = nk.ecg_clean(seg, sampling_rate=int(fs))
            _, info = nk.ecg_peaks(clean, sampling_rate=int(fs))
        except Exception:  # NeuroKit2 raises on too-short or flat runs: no beats from this run
            return None
    if len(info["ECG_R_Peaks"]) < 2:
        return None
    return np.asarray(clean, float), info


def rr_stats(rr_runs: list[np.ndarray]) -> dict:
    """Rhythm values from RR intervals (ms) grouped by run: ``hr_bpm`` (60000 / median RR), ``rr_ms`` (median),
    ``rr_cv`` (std / mean), ``rr_irregularity`` (median |successive difference| / median RR),
    ``rr_irregular_frac`` (share of successive differences above :data:`IRREGULAR_FRAC` of the median RR) and
    ``n_rr`` (intervals used). Intervals outside :data:`RR_PLAUSIBLE_MS` are dropped and split their run."""
    lo, hi = RR_PLAUSIBLE_MS
    rr, drr = [], []
    for run in rr_runs:
        run = np.asarray(run, float)
        ok = (run > lo) & (run < hi)
        rr.append(run[ok])
        for s, e in true_runs(ok, 2):
            drr.append(np.abs(np.diff(run[s:e])))
    rr_all = np.concatenate(rr) if rr else np.zeros(0)
    d_all = np.concatenate(drr) if drr else np.zeros(0)
    nan = float("nan")
    out = dict(hr_bpm=nan, rr_ms=nan, rr_cv=nan, rr_irregularity=nan, rr_irregular_frac=nan, n_rr=float(len(rr_all)))
    if len(rr_all) >= 2:
        med = float(np.median(rr_all))
        out.update(hr_bpm=60000.0 / med, rr_ms=med, rr_cv=float(np.std(rr_all) / np.mean(rr_all)))
        if len(d_all):
            out.update(rr_irregularity=float(np.median(d_all) / med),
                       rr_irregular_frac=float(np.mean(d_all > IRREGULAR_FRAC * med)))
    return out


def rr_features(signal: np.ndarray, fs: float, min_run_s: float = 2.0, same_s: float = 0.1, max_leads: int = 3) -> dict:
    """:data:`RR_FEATURES` of a (12, T) record in mV (NaN where not printed or not read) sampled at ``fs`` Hz.

    A page prints leads in time windows (a 3×4 page: four 2.5-s columns of three leads, and maybe a 10-s
    rhythm strip). Runs of finite samples that start and end within ``same_s`` seconds of each other are one
    window; windows are taken longest first, and one mostly (≥ half) inside windows already taken adds nothing
    new and is skipped. In each window at most ``max_leads`` leads are read (:data:`RHYTHM_LEADS` first), the
    one whose count of RR intervals is their median count speaks for the window (a lead read badly, with a spike
    counted as a beat or a beat missed, is outvoted), and the RR intervals of all windows are pooled by
    :func:`rr_stats`. All NaN (``n_rr`` 0) when no window has two beats."""
    signal = np.asarray(signal, float)
    if signal.ndim != 2:
        raise ValueError(f"rr_features expects a (leads, T) record, got shape {signal.shape}")
    tol = same_s * fs
    groups: list[list[tuple[int, int, int]]] = []  # [(lead, start, end), ...] per window
    for i in range(signal.shape[0]):
        for s, e in true_runs(np.isfinite(signal[i]), int(min_run_s * fs)):
            g = next((g for g in groups if abs(g[0][1] - s) <= tol and abs(g[0][2] - e) <= tol), None)
            if g is None:
                groups.append([(i, s, e)])
            else:
                g.append((i, s, e))
    taken = np.zeros(signal.shape[1], bool)
    pooled: list[np.ndarray] = []
    for g in sorted(groups, key=lambda g: g[0][1] - g[0][2]):  # longest first
        s0, e0 = g[0][1], g[0][2]
        if taken[s0:e0].mean() >= 0.5:
            continue
        per = []
        preferred = sorted(g, key=lambda t: (RHYTHM_LEADS.index(t[0]) if t[0] in RHYTHM_LEADS else 99, t[0]))
        for i, s, e in preferred[:max_leads]:
            found = clean_and_peaks(signal[i, s:e], fs)
            if found is not None:
                per.append(np.diff(np.asarray(found[1]["ECG_R_Peaks"], float)) / fs * 1000.0)
        if not per:
            continue
        per.sort(key=len)
        pooled.append(per[(len(per) - 1) // 2])
        taken[s0:e0] = True
    st = rr_stats(pooled)
    return {k: st[k] for k in RR_FEATURES}
