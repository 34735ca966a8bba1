"""Beats, wave boundaries and the measurements ECG machines print, from (possibly partly missing) leads.

Delineation is NeuroKit2's (``ecg_clean`` → ``ecg_peaks`` → ``ecg_delineate(method="prominence")``; its "dwt"
method put QRS onsets ~40 ms early on LUDB: QRS +65 ms, PR −41 ms), run on each run of
finite samples of a lead separately; ecgcls adds only the glue: per-beat sanity checks, a median beat per lead,
amplitudes against the PR-segment baseline, and the global values (the median over leads of each lead's
median beat-wise value, as machines report one global interval). All times are in ms, amplitudes in mV,
axes in degrees.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ecgcls.measure.rhythm import clean_and_peaks, rr_stats
from ecgcls.types import LEADS, true_runs

#: plausible ranges (ms) outside which a beat's interval is treated as a delineation failure, not a finding
PLAUSIBLE_MS = {"p_ms": (40, 200), "pr_ms": (60, 400), "qrs_ms": (40, 250), "qt_ms": (200, 700)}
FIDUCIALS = ("r", "p_on", "p_off", "qrs_on", "qrs_off", "t_off")


@dataclass
class LeadWaves:
    """Per-beat fiducials of one lead, in samples of the lead's own timeline (float; NaN where not found)."""

    fs: float
    r: np.ndarray
    p_on: np.ndarray
    p_off: np.ndarray
    qrs_on: np.ndarray
    qrs_off: np.ndarray
    t_off: np.ndarray
    run: np.ndarray  # index of the run of finite samples each beat belongs to (RR only within a run)

    @property
    def n_beats(self) -> int:
        return int(len(self.r))


def _as_float(v, n: int) -> np.ndarray:
    a = np.array([np.nan if x is None else float(x) for x in (v if v is not None else [])], dtype=float)
    return a[:n] if len(a) >= n else np.concatenate([a, np.full(n - len(a), np.nan)])


#: QRS offset refinement: from NeuroKit2's offset, move on to where the trace's slope has settled below this
#: fraction of the QRS's steepest slope (for 10 ms). NeuroKit2's "prominence" offsets sit ~22 ms before the
#: cardiologists' J points on LUDB; the fraction was chosen on LUDB records 1-100 only (records 101-200 are the
#: held-out half reported by bench/measure_ludb.py). 0 turns the refinement off.
QRS_OFF_SLOPE = 0.1


def _settle(x: np.ndarray, fs: float, on: np.ndarray, r: np.ndarray, off: np.ndarray, frac: float,
            hold_s: float = 0.01, max_s: float = 0.08) -> np.ndarray:
    """Each finite QRS offset moved forward to the first point where |slope| stays below ``frac`` of the
    steepest |slope| between QRS onset (or R − 60 ms) and the offset, for ``hold_s``; at most ``max_s`` later."""
    d = np.abs(np.gradient(x)) * fs
    hold, lim = max(1, int(hold_s * fs)), int(max_s * fs)
    out = off.copy()
    for i in range(len(off)):
        if not np.isfinite(off[i]):
            continue
        a = int(on[i]) if np.isfinite(on[i]) else max(0, int(r[i] - 0.06 * fs))
        b = int(off[i])
        if b <= a or b + hold >= len(x):
            continue
        thr = frac * d[a:b + 1].max()
        quiet = d[b:min(len(x), b + lim + hold)] < thr
        run = np.convolve(quiet.astype(int), np.ones(hold, int), "valid") == hold
        k = np.flatnonzero(run)
        out[i] = b + (k[0] if len(k) else lim)
    return out


def delineate(x: np.ndarray, fs: float, min_run_s: float = 2.0) -> LeadWaves:
    """Beats and wave boundaries of one lead ``x`` (T,) in mV sampled at ``fs`` Hz; NaN samples are gaps.

    Each run of finite samples at least ``min_run_s`` long is delineated on its own. A fiducial that breaks the
    order P on < P off ≤ QRS on < R < QRS off < T off is dropped (NaN), not guessed."""
    import neurokit2 as nk

    x = np.asarray(x, dtype=float)
    cols: dict[str, list] = {k: [] for k in (*FIDUCIALS, "run")}
    for k, (s, e) in enumerate(true_runs(np.isfinite(x), int(min_run_s * fs))):
        found = clean_and_peaks(x[s:e], fs)
        if found is None:
            continue
        clean, info = found
        r = np.asarray(info["ECG_R_Peaks"], dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _, w = nk.ecg_delineate(clean, info, sampling_rate=int(fs), method="prominence")
            except Exception:  # NeuroKit2 raises on too-short or flat runs: no beats from this run
                continue
        n = len(r)
        f = {"r": r, "p_on": _as_float(w.get("ECG_P_Onsets"), n), "p_off": _as_float(w.get("ECG_P_Offsets"), n),
             "qrs_on": _as_float(w.get("ECG_R_Onsets"), n), "qrs_off": _as_float(w.get("ECG_R_Offsets"), n),
             "t_off": _as_float(w.get("ECG_T_Offsets"), n)}
        if QRS_OFF_SLOPE:
            f["qrs_off"] = _settle(np.asarray(clean, float), fs, f["qrs_on"], r, f["qrs_off"], QRS_OFF_SLOPE)
        with np.errstate(invalid="ignore"):
            f["qrs_on"][~(f["qrs_on"] < r)] = np.nan
            f["qrs_off"][~(f["qrs_off"] > r)] = np.nan
            f["p_off"][~(f["p_off"] <= np.where(np.isnan(f["qrs_on"]), r, f["qrs_on"]))] = np.nan
            f["p_on"][~(f["p_on"] < np.where(np.isnan(f["p_off"]), r, f["p_off"]))] = np.nan
            f["t_off"][~(f["t_off"] > np.where(np.isnan(f["qrs_off"]), r, f["qrs_off"]))] = np.nan
        for key in FIDUCIALS:
            cols[key].append(f[key] + s)
        cols["run"].append(np.full(n, k))
    cat = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in cols.items()}
    return LeadWaves(fs=float(fs), run=cat.pop("run").astype(int), **cat)


def _median_ms(a: np.ndarray, fs: float, key: str) -> float:
    ms = a / fs * 1000.0
    lo, hi = PLAUSIBLE_MS[key]
    ms = ms[np.isfinite(ms) & (ms >= lo) & (ms <= hi)]
    return float(np.median(ms)) if len(ms) else float("nan")


def _lead(x: np.ndarray, w: LeadWaves) -> dict:
    """One lead's intervals (median over beats) and amplitudes on its median beat."""
    fs = w.fs
    out: dict = {"n_beats": w.n_beats,
                 "p_ms": _median_ms(w.p_off - w.p_on, fs, "p_ms"),
                 "pr_ms": _median_ms(w.qrs_on - w.p_on, fs, "pr_ms"),
                 "qrs_ms": _median_ms(w.qrs_off - w.qrs_on, fs, "qrs_ms"),
                 "qt_ms": _median_ms(w.t_off - w.qrs_on, fs, "qt_ms")}
    pre, post = int(0.35 * fs), int(0.6 * fs)
    beats = [int(r) for r in w.r if r - pre >= 0 and r + post <= len(x) and np.isfinite(x[int(r) - pre:int(r) + post]).all()]
    if not beats:  # (a 2.5-s column of a 3x4 page may hold a single whole beat)
        return out
    mb = np.median(np.stack([x[r - pre:r + post] for r in beats]), axis=0)  # R at index `pre`

    def rel(a: np.ndarray) -> float:  # median offset (samples) of a fiducial from R
        d = (a - w.r)[np.isfinite(a - w.r)]
        return float(np.median(d)) if len(d) else float("nan")

    q_on, q_off, t_off, p_on, p_off = (rel(getattr(w, k)) for k in ("qrs_on", "qrs_off", "t_off", "p_on", "p_off"))
    if not (np.isfinite(q_on) and np.isfinite(q_off)):
        return out
    i_on, i_off = int(pre + q_on), int(pre + q_off)
    if not (0 < i_on < pre < i_off < len(mb)):
        return out
    b0 = max(0, i_on - int(0.03 * fs))
    base = float(np.median(mb[b0:max(b0 + 1, i_on - int(0.005 * fs))]))  # PR segment, just before QRS onset
    qrs = mb[i_on:i_off + 1] - base
    k_r = int(np.argmax(qrs))
    out.update(r_mv=float(max(0.0, qrs.max())), s_mv=float(max(0.0, -qrs[k_r:].min())),
               qrs_area=float(qrs.sum() / fs))
    before = qrs[:k_r]
    neg = before < -0.02  # a Q wave: the first deflection of the QRS is negative
    if len(before) and neg[:max(1, int(0.01 * fs))].any():
        run = np.flatnonzero(~neg)
        end = int(run[run > int(np.argmax(neg))][0]) if (run > int(np.argmax(neg))).any() else len(before)
        out.update(q_ms=float(end / fs * 1000.0), q_mv=float(max(0.0, -before[:end].min())))
    else:
        out.update(q_ms=0.0, q_mv=0.0)
    j60 = i_off + int(0.06 * fs)
    if j60 < len(mb):
        out["st60_mv"] = float(mb[j60] - base)
    if np.isfinite(t_off) and i_off + int(0.08 * fs) < int(pre + t_off) <= len(mb):
        t = mb[i_off + int(0.08 * fs):int(pre + t_off)] - base
        out.update(t_mv=float(t[np.argmax(np.abs(t))]), t_area=float(t.sum() / fs))
    if np.isfinite(p_on) and np.isfinite(p_off) and 0 <= int(pre + p_on) < int(pre + p_off) <= i_on:
        p = mb[int(pre + p_on):int(pre + p_off)] - base
        out.update(p_mv=float(p[np.argmax(np.abs(p))]), p_area=float(p.sum() / fs))
    return out


def _axis(leads: dict, key: str) -> float:
    a, f = leads.get("I", {}).get(key), leads.get("aVF", {}).get(key)
    if a is None or f is None:
        return float("nan")
    return float(np.degrees(np.arctan2(f, a)))


def measure(signal: np.ndarray, fs: float, rhythm_leads: tuple[str, ...] = ("II", "V1", "V5", "I")) -> dict:
    """Global and per-lead measurements of a (12, T) record in mV (NaN where missing) sampled at ``fs`` Hz.

    Returns ``{"global": {...}, "leads": {lead: {...}}, "fiducials": {lead: {"r": [s, ...], "p_on": ...}}}``
    (fiducials in seconds on the record's timeline, None where not found); a value that cannot be measured is NaN (or absent),
    never filled in. Global intervals are the median over the leads that measured them."""
    signal = np.asarray(signal, dtype=float)
    if signal.ndim != 2 or signal.shape[0] != 12:
        raise ValueError(f"measure expects a (12, T) record, got {signal.shape}")
    waves = {lead: delineate(signal[i], fs) for i, lead in enumerate(LEADS)}
    leads = {lead: _lead(signal[i], waves[lead]) for i, lead in enumerate(LEADS)}
    g: dict = {}
    for key in ("p_ms", "pr_ms", "qrs_ms", "qt_ms"):
        v = [leads[k][key] for k in LEADS if np.isfinite(leads[k].get(key, np.nan))]
        g[key] = float(np.median(v)) if v else float("nan")
    # rhythm from the lead with the most beats (the rhythm strip, when the page has one)
    cand = sorted(LEADS, key=lambda k: (waves[k].n_beats, k in rhythm_leads), reverse=True)
    w = waves[cand[0]]
    rr = rr_stats([np.diff(w.r[w.run == k]) / fs * 1000.0 for k in np.unique(w.run)])
    g["rhythm_lead"] = cand[0] if rr["n_rr"] >= 2 else ""
    g.update({k: rr[k] for k in ("hr_bpm", "rr_ms", "rr_cv", "rr_irregularity")})
    rr_s = g["rr_ms"] / 1000.0
    g["qtc_bazett_ms"] = g["qt_ms"] / np.sqrt(rr_s) if np.isfinite(rr_s) else float("nan")
    g["qtc_fridericia_ms"] = g["qt_ms"] / np.cbrt(rr_s) if np.isfinite(rr_s) else float("nan")
    g["p_axis_deg"], g["qrs_axis_deg"], g["t_axis_deg"] = (_axis(leads, k) for k in ("p_area", "qrs_area", "t_area"))
    pm = [abs(leads[k]["p_mv"]) for k in ("II", "V1") if "p_mv" in leads[k]]
    g["p_max_mv"] = float(max(pm)) if pm else float("nan")

    def amp(lead: str, key: str) -> float:
        return float(leads[lead].get(key, np.nan))

    r56 = [v for v in (amp("V5", "r_mv"), amp("V6", "r_mv")) if np.isfinite(v)]  # the larger of those measured
    g["sokolow_lyon_mv"] = amp("V1", "s_mv") + (max(r56) if r56 else float("nan"))
    g["cornell_mv"] = amp("aVL", "r_mv") + amp("V3", "s_mv")
    g["r_avl_mv"] = amp("aVL", "r_mv")
    fid = {lead: {k: [None if not np.isfinite(v) else round(float(v) / fs, 4) for v in getattr(waves[lead], k)]
                  for k in FIDUCIALS} for lead in LEADS if waves[lead].n_beats}
    return {"global": g, "leads": leads, "fs": float(fs), "fiducials": fid}
