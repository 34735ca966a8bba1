"""Classification metrics (via torchmetrics) and plots.

All functions take ``probs`` and ``targets`` as (N, C) arrays/tensors in [0, 1] and {0, 1}.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torchmetrics.functional.classification import (binary_auroc, binary_calibration_error, binary_f1_score,
                                                    binary_roc, multilabel_auroc)


def _t(x) -> torch.Tensor:
    return x.detach().float().cpu() if isinstance(x, torch.Tensor) else torch.tensor(np.asarray(x, dtype=np.float32))


def per_class_auroc(probs, targets) -> np.ndarray:
    """AUROC per class; NaN for a class whose targets are all one value (undefined)."""
    p, y = _t(probs), _t(targets).int()
    out = np.full(p.shape[1], np.nan)
    for c in range(p.shape[1]):
        if 0 < int(y[:, c].sum()) < len(y):
            out[c] = float(binary_auroc(p[:, c], y[:, c]))
    return out


def macro_auroc(probs, targets) -> float:
    """Mean AUROC over the classes where it is defined (NaN if none)."""
    per = per_class_auroc(probs, targets)
    return float(np.nanmean(per)) if np.isfinite(per).any() else float("nan")


def _rank_auroc(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUROC of each row pair ``p[i], y[i]`` (ties count ½); NaN where a row has one class only."""
    from scipy.stats import rankdata

    r = rankdata(p, axis=-1)
    pos = y.sum(-1)
    neg = y.shape[-1] - pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((r * y).sum(-1) - pos * (pos + 1) / 2) / (pos * neg)
    return np.where((pos > 0) & (neg > 0), auc, np.nan)


def bootstrap_auroc_ci(probs, targets, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> np.ndarray:
    """Percentile bootstrap interval of each class's AUROC: ``(C, 2)`` array of (low, high), NaN if undefined.

    Records are resampled with replacement (``n_boot`` times, fixed ``seed``); resamples with a single
    class are skipped. Meant for small positive counts (e.g. 7 AFIB records), where the point AUROC
    alone says little.
    """
    per = _bootstrap_aurocs(probs, targets, n_boot, seed)
    out = np.full((per.shape[1], 2), np.nan)
    a = (1 - level) / 2
    for c in range(per.shape[1]):
        aucs = per[np.isfinite(per[:, c]), c]
        if len(aucs) >= n_boot // 2:
            out[c] = np.quantile(aucs, [a, 1 - a])
    return out


def _bootstrap_aurocs(probs, targets, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, C)`` AUROC of each class on ``n_boot`` resamples of the records (with replacement, fixed
    ``seed``); NaN where a resample has one value of a class only."""
    p, y = np.asarray(probs, dtype=np.float64), np.asarray(targets).astype(np.int64)
    if p.shape != y.shape or p.ndim != 2:
        raise ValueError(f"probs {p.shape} and targets {y.shape} must both be (N, C)")
    idx = np.random.default_rng(seed).integers(0, len(p), size=(n_boot, len(p)))
    return np.stack([_rank_auroc(p[idx, c], y[idx, c]) for c in range(p.shape[1])], 1)


def bootstrap_macro_auroc_ci(probs, targets, n_boot: int = 1000, level: float = 0.95, seed: int = 0
                             ) -> tuple[float, float]:
    """Percentile bootstrap interval of the macro AUROC over records: (low, high), NaN if fewer than half the
    resamples could be scored.

    The macro is taken over the classes whose AUROC is defined on all ``(N, C)`` records, and a resample is
    scored only where each of them still has a positive and a negative (else it would average other classes).
    On 50 pages with one or two positives in some class the interval is wide; a target stated to two decimals
    needs it beside the point value.
    """
    per = _bootstrap_aurocs(probs, targets, n_boot, seed)
    y = np.asarray(targets)
    keep = [c for c in range(y.shape[1]) if 0 < y[:, c].sum() < len(y)]
    if not keep:
        return float("nan"), float("nan")
    per = per[:, keep]
    ok = np.isfinite(per).all(1)
    if ok.sum() < n_boot // 2:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = np.quantile(per[ok].mean(1), [a, 1 - a])
    return float(lo), float(hi)


def bootstrap_macro_auroc_diff_ci(probs_a, probs_b, targets, n_boot: int = 1000, level: float = 0.95,
                                  seed: int = 0) -> tuple[float, float, float]:
    """Paired bootstrap of ``macro AUROC(b) − macro AUROC(a)`` on the same records: (difference, low, high).

    Both models are scored on the same resamples (same ``seed``), so what the records have in common cancels; an
    interval that holds 0 says the two cannot be told apart on this set."""
    y = np.asarray(targets)
    keep = [c for c in range(y.shape[1]) if 0 < y[:, c].sum() < len(y)]
    if not keep:
        return float("nan"), float("nan"), float("nan")
    diff = macro_auroc(np.asarray(probs_b)[:, keep], y[:, keep]) - macro_auroc(np.asarray(probs_a)[:, keep], y[:, keep])
    a_ = _bootstrap_aurocs(probs_a, y, n_boot, seed)[:, keep]
    b_ = _bootstrap_aurocs(probs_b, y, n_boot, seed)[:, keep]
    ok = np.isfinite(a_).all(1) & np.isfinite(b_).all(1)
    if ok.sum() < n_boot // 2:
        return float(diff), float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = np.quantile(b_[ok].mean(1) - a_[ok].mean(1), [a, 1 - a])
    return float(diff), float(lo), float(hi)


def choose_thresholds(probs, targets, grid: Sequence[float] | None = None) -> np.ndarray:
    """Per-class decision thresholds maximising F1 (choose them on validation data, never test)."""
    p, y = _t(probs), _t(targets).int()
    grid = np.linspace(0.02, 0.98, 49) if grid is None else np.asarray(grid)
    out = np.full(p.shape[1], 0.5)
    for c in range(p.shape[1]):
        if int(y[:, c].sum()) == 0:
            continue
        f1 = [float(binary_f1_score(p[:, c], y[:, c], threshold=float(t))) for t in grid]
        out[c] = float(grid[int(np.argmax(f1))])
    return out


def ece(probs, targets, n_bins: int = 10) -> float:
    """Expected calibration error (L1, ``n_bins`` equal-width bins) over every (record, class) probability of a
    multilabel output (N, C), as torchmetrics' binary calibration error of the flattened pairs."""
    p, y = _t(probs).flatten(), _t(targets).int().flatten()
    return float(binary_calibration_error(p, y, n_bins=n_bins, norm="l1"))


def reliability(probs, targets, n_bins: int = 10) -> dict:
    """Per-bin mean predicted probability, observed frequency and count (the points of a reliability diagram)."""
    p, y = _t(probs).flatten().numpy(), _t(targets).flatten().numpy()
    idx = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    out = {"mean_p": [], "freq": [], "n": []}
    for b in range(n_bins):
        m = idx == b
        out["mean_p"].append(float(p[m].mean()) if m.any() else None)
        out["freq"].append(float(y[m].mean()) if m.any() else None)
        out["n"].append(int(m.sum()))
    return out


def fit_temperature(logits, targets, max_iter: int = 200) -> float:
    """The temperature T > 0 minimising the binary cross-entropy of ``sigmoid(logits / T)`` (one T for all
    classes; Guo et al. 2017). Fit it on validation outputs, never on test."""
    z, y = _t(logits), _t(targets)
    if z.shape != y.shape or z.ndim != 2:
        raise ValueError(f"fit_temperature: logits {tuple(z.shape)} and targets {tuple(y.shape)} must both be (N, C)")
    log_t = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z / log_t.exp(), y)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return float(log_t.detach().exp())


def plot_reliability(curves: dict[str, tuple], path: str | Path, n_bins: int = 10,
                     title: str = "reliability") -> Path:
    """Reliability diagram: for each name → (probs, targets), observed frequency against mean predicted
    probability per bin, with its ECE in the legend; saved as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    for name, (p, y) in curves.items():
        r = reliability(p, y, n_bins)
        pts = [(a, b) for a, b in zip(r["mean_p"], r["freq"]) if a is not None]
        ax.plot(*zip(*pts), "o-", ms=3, lw=1.2, label=f"{name} (ECE {ece(p, y, n_bins):.3f})")
    return _finish_diagonal(fig, ax, path, "upper left", xlabel="mean predicted probability",
                            ylabel="observed frequency", title=title, xlim=(0, 1), ylim=(0, 1))


def _finish_diagonal(fig, ax, path: str | Path, legend_loc: str, **labels) -> Path:
    """Dotted diagonal, axes labels, legend; save the figure as a PNG and close it."""
    import matplotlib.pyplot as plt

    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(**labels)
    ax.legend(loc=legend_loc, fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def report(probs, targets, classes: Sequence[str], thresholds: Sequence[float] | None = None) -> dict:
    """Macro / per-class AUROC and F1 at the given thresholds, as a JSON-able dict."""
    p, y = _t(probs), _t(targets).int()
    thr = np.full(p.shape[1], 0.5) if thresholds is None else np.asarray(thresholds, dtype=float)
    auc = per_class_auroc(p, y)
    f1 = np.array([float(binary_f1_score(p[:, c], y[:, c], threshold=float(thr[c]))) for c in range(p.shape[1])])
    return {
        "n": int(len(p)),
        "macro_auroc": float(np.nanmean(auc)) if np.isfinite(auc).any() else None,
        "macro_f1": float(f1.mean()),
        "ece": ece(p, y),
        "per_class": {c: {"auroc": (None if np.isnan(auc[i]) else float(auc[i])), "f1": float(f1[i]),
                          "threshold": float(thr[i]), "positives": int(y[:, i].sum())}
                      for i, c in enumerate(classes)},
    }


def plot_roc(probs, targets, classes: Sequence[str], path: str | Path, title: str = "ROC") -> Path:
    """Save one ROC curve per class (with its AUROC in the legend) as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p, y = _t(probs), _t(targets).int()
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=120)
    for c, name in enumerate(classes):
        if not 0 < int(y[:, c].sum()) < len(y):
            continue
        fpr, tpr, _ = binary_roc(p[:, c], y[:, c])
        ax.plot(fpr.numpy(), tpr.numpy(), lw=1.4, label=f"{name} ({float(binary_auroc(p[:, c], y[:, c])):.3f})")
    return _finish_diagonal(fig, ax, path, "lower right", xlabel="false positive rate", ylabel="true positive rate",
                            title=title, xlim=(0, 1), ylim=(0, 1.01))


def plot_bars(values: dict[str, float], path: str | Path, title: str, ylabel: str = "macro AUROC") -> Path:
    """A labelled bar chart (e.g. per-layout AUROC) saved as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(values) + 2), 3.5), dpi=120)
    names, vals = list(values), [values[k] for k in values]
    bars = ax.bar(names, vals, color="#4477aa")
    for b, v in zip(bars, vals):
        ax.text(b.get_x() + b.get_width() / 2, v, f"{v:.3f}", ha="center", va="bottom", fontsize=7)
    ax.set(ylabel=ylabel, title=title, ylim=(min(0.5, min(vals) - 0.05), 1.0))
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def lead_snr(ref: np.ndarray, est: np.ndarray, fs: float, max_shift_s: float = 0.5, max_offset_mv: float = 1.0
             ) -> float:
    """PhysioNet Challenge 2024 signal SNR (dB) of one lead.

    The estimate is aligned to the reference by the time shift (within ±``max_shift_s``) and vertical
    offset (within ±``max_offset_mv``) that maximise the SNR; then
    ``SNR = 10·log10(Σ ref² / Σ (ref − est)²)`` over the samples both have. A missing estimate
    (nothing overlaps) scores 0 dB.
    """
    ref = np.asarray(ref, np.float64)
    est = np.asarray(est, np.float64)
    n = len(ref)
    max_shift = int(round(max_shift_s * fs))
    r_ok, e_ok = np.isfinite(ref), np.isfinite(est)
    if not r_ok.any() or not e_ok.any():
        return 0.0
    r0 = np.where(r_ok, ref - np.nanmean(ref), 0.0)
    e0 = np.where(e_ok, est - np.nanmean(est), 0.0)
    m = 1 << int(np.ceil(np.log2(2 * n)))
    xc = np.fft.irfft(np.fft.rfft(r0, m) * np.conj(np.fft.rfft(e0, m)), m)
    lags = np.r_[0:max_shift + 1, -max_shift:0]
    coarse = lags[int(np.argmax(xc[lags % m]))]
    best = 0.0
    found = False
    for s in range(coarse - 3, coarse + 4):
        if abs(s) > max_shift:
            continue
        # est shifted by s samples: est_s[i] = est[i - s]
        if s >= 0:
            a, b = ref[s:], est[:n - s]
        else:
            a, b = ref[:n + s], est[-s:]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 2:
            continue
        off = float(np.clip(np.mean(a[ok] - b[ok]), -max_offset_mv, max_offset_mv))
        err = a[ok] - (b[ok] + off)
        p_sig, p_err = float(np.sum(a[ok] ** 2)), float(np.sum(err ** 2))
        snr = 10 * np.log10(p_sig / p_err) if p_err > 0 else 100.0
        if not found or snr > best:
            best, found = snr, True
    return float(best) if found else 0.0


def signal_snr(ref: np.ndarray, est: np.ndarray, fs: float, **kw) -> tuple[float, np.ndarray]:
    """Mean Challenge-2024 SNR (dB) over leads with a reference, and the per-lead values.

    ``ref`` / ``est`` are (leads, T) in mV; NaN marks samples that do not exist. Leads the estimate misses
    score 0 dB.
    """
    ref, est = np.asarray(ref), np.asarray(est)
    if ref.shape != est.shape:
        raise ValueError(f"signal_snr: shapes differ, {ref.shape} vs {est.shape}")
    per = np.array([lead_snr(r, e, fs, **kw) if np.isfinite(r).any() else np.nan for r, e in zip(ref, est)])
    return float(np.nanmean(per)), per


__all__ = ["lead_snr", "signal_snr", "per_class_auroc", "macro_auroc", "bootstrap_auroc_ci", "bootstrap_macro_auroc_ci",
           "choose_thresholds", "report", "plot_roc", "plot_bars",
           "multilabel_auroc"]


# ---------------------------------------------------------------------------------------------------------------
# Signal reconstruction (PPG -> ECG): per window, on normalised units

def reconstruction_errors(true: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """Per-window RMSE, PRD (%) and Pearson r of ``pred`` against ``true`` (both (n, L), same units).

    PRD = 100·sqrt(Σ(x − x̂)² / Σx²) on the windows as given (for [0, 1]-normalised windows, as the PPG → ECG
    literature reports it); r is NaN for a flat window."""
    true, pred = np.asarray(true, np.float64), np.asarray(pred, np.float64)
    err = true - pred
    rmse = np.sqrt((err ** 2).mean(-1))
    prd = 100.0 * np.sqrt((err ** 2).sum(-1) / np.maximum((true ** 2).sum(-1), 1e-12))
    tc, pc = true - true.mean(-1, keepdims=True), pred - pred.mean(-1, keepdims=True)
    den = np.sqrt((tc ** 2).sum(-1) * (pc ** 2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, (tc * pc).sum(-1) / den, np.nan)
    return {"rmse": rmse, "prd": prd, "pearson_r": r}


#: the clinical features of one ECG window compared by :func:`clinical_errors` (units: ms, or the signal's units)
CLINICAL = ("qrs_area", "pr_ms", "rt_ms", "rt_amplitude")


def ecg_window_features(x: np.ndarray, fs: float) -> dict[str, float]:
    """Median over beats of QRS area (signal units · s, against the level at QRS onset), PR interval (P onset →
    QRS onset, ms), RT interval (R peak → T end, ms) and RT amplitude (R peak minus T-wave peak, signal units) of
    one ECG window, delineated exactly as :mod:`ecgcls.measure` does (NeuroKit2); NaN where not measurable."""
    from ecgcls.measure.waves import delineate

    w = delineate(np.asarray(x, float), fs, min_run_s=min(2.0, len(x) / fs))
    vals: dict[str, list[float]] = {k: [] for k in CLINICAL}
    for i in range(w.n_beats):
        r, on, off, p_on, t_off = (w.r[i], w.qrs_on[i], w.qrs_off[i], w.p_on[i], w.t_off[i])
        if np.isfinite(on) and np.isfinite(off):
            a, b = int(on), int(off)
            vals["qrs_area"].append(float((x[a:b + 1] - x[a]).sum() / fs))
        if np.isfinite(on) and np.isfinite(p_on):
            vals["pr_ms"].append(float((on - p_on) / fs * 1000))
        if np.isfinite(t_off):
            vals["rt_ms"].append(float((t_off - r) / fs * 1000))
            if np.isfinite(off) and int(t_off) > int(off) + 1:
                seg = x[int(off) + 1:int(t_off)]
                vals["rt_amplitude"].append(float(x[int(r)] - seg.max()))
    return {k: (float(np.median(v)) if v else float("nan")) for k, v in vals.items()}


def clinical_errors(true: np.ndarray, pred: np.ndarray, fs: float) -> dict[str, dict]:
    """Per clinical feature (:data:`CLINICAL`): mean |difference| between the reconstructed and the true windows,
    over the windows where both could be measured, and that share."""
    ft = [ecg_window_features(t, fs) for t in true]
    fp = [ecg_window_features(p, fs) for p in pred]
    out = {}
    for k in CLINICAL:
        d = np.array([a[k] - b[k] for a, b in zip(fp, ft)], float)
        ok = np.isfinite(d)
        out[k] = {"mae": float(np.abs(d[ok]).mean()) if ok.any() else None, "measured_share": float(ok.mean())}
    return out
