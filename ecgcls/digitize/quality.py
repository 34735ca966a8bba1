"""Quality stage: how well was each lead read? A prediction of its SNR (dB) from what the digitizer can see.

Per printed lead, features of the reading itself (no truth needed): share of the printed samples read, how
rough the trace is (total variation and big steps per second: a path that followed noise, grid or a neighbour
zig-zags), its amplitude, whether its row had a calibration pulse, the page's lead-identity residual and, where
the lead was printed twice, how well the copies agree. A feature that cannot be measured (the identity residual of a
chest-lead page, which has no limb leads to check: no evidence either way) is left out: such a lead is predicted by
a sub-model fitted without that feature (``without``, stored with the model). A linear model maps them to the lead's SNR; it is fitted
on ecgcls's own randomized renders of training-fold records (``python bench/fit_quality.py``), never on
validation pictures, and stored as JSON beside the weights (``ecgcls/weights/quality_<ink>.json``). Without a
fitted model a fixed heuristic is used.

From the prediction: lead quality = predicted SNR / 20 dB in [0, 1]; page quality = its mean over printed
leads; leads predicted below ``drop_db`` become NaN (not wrong numbers); pages predicted below ``uncertain_db``
are 'uncertain' (thresholds chosen on validation renders, stored with the model).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from ecgcls.digitize.stages import Assessment, LayoutChoice, RowTrace, Scale
from ecgcls.types import LEADS

FEATURES = ("coverage", "log_tv", "step_rate", "log_std", "pulse", "identity", "dup", "has_dup", "gaps", "clutter")
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_MODEL = {"features": list(FEATURES), "intercept": 4.0,
                 "coef": [14.0, -1.0, -0.4, 0.0, 1.0, -6.0, -4.0, 0.0, -4.0, -2.0],
                 "feature_means": [0.9, 1.5, 0.5, -1.5, 0.8, 0.3, 0.2, 0.2, 0.1, 0.5],
                 "drop_db": -5.0, "uncertain_db": 6.0, "fitted": False}


@functools.lru_cache(maxsize=4)
def load_quality_model(method: str = "classic") -> dict:
    """The fitted model for an ink method (``ecgcls/weights/quality_<method>.json``), else the heuristic."""
    path = WEIGHTS_DIR / f"quality_{method}.json"
    if path.is_file():
        model = json.loads(path.read_text())
        if model.get("features") != list(FEATURES):
            raise ValueError(f"{path}: features {model.get('features')} differ from this version's {list(FEATURES)}; "
                             f"refit with bench/fit_quality.py")
        return model
    return dict(DEFAULT_MODEL)


def lead_features(choice: LayoutChoice, traces: list[RowTrace], scale: Scale, fs: float, n: int
                  ) -> dict[str, np.ndarray]:
    """Feature vector (len(FEATURES),) per printed lead, from the chosen layout's segments."""
    from ecgcls.digitize.layout import _residual

    lay = choice.layout
    cov = lay.coverage(fs, n)
    identity = float(np.clip(choice.scores.get(choice.name, 1.0), 0, 2)) \
        if np.isfinite(choice.identity.get(choice.name, np.nan)) else float("nan")  # no limb leads: unknown, not bad
    out = {}
    for i, lead in enumerate(LEADS):
        if not cov[i].any():
            continue
        x = choice.signal[i][cov[i]]
        ok = np.isfinite(x)
        coverage = float(ok.mean())
        segs = [(seg, sig) for seg, sig in zip(lay.segments, choice.segments) if seg.lead_idx == i and sig is not None]
        rows_with_pulse = [traces[seg.row].gain_mm_mv is not None for seg, _ in segs if seg.row < len(traces)]
        clutter = [traces[seg.row].clutter for seg, _ in segs if seg.row < len(traces)]
        if ok.sum() > 10:
            d = np.diff(x[ok])
            secs = ok.sum() / fs
            tv = float(np.abs(d).sum() / secs)
            steps = float((np.abs(d) > 0.25).sum() / secs)
            std = float(np.std(x[ok]))
            breaks = float((np.diff(ok.astype(int)) == -1).sum() / max(1.0, cov[i].sum() / fs))
        else:
            tv, steps, std, breaks = 0.0, 0.0, 0.0, 0.0
        dups = [r for a in range(len(segs)) for b in range(a + 1, len(segs))
                if (r := _residual(segs[a][1], segs[b][1])) is not None]
        out[lead] = np.array([coverage, np.log1p(tv), min(steps, 50.0) / 10.0, np.log(std + 1e-3),
                              float(np.mean(rows_with_pulse)) if rows_with_pulse else 0.0, identity,
                              float(np.clip(np.mean(dups), 0, 2)) if dups else 0.0, float(bool(dups)),
                              min(breaks, 10.0) / 10.0, float(np.mean(clutter)) if clutter else 0.0], np.float64)
    return out


def predict_lead_snr(features: dict[str, np.ndarray], model: dict) -> dict[str, float]:
    """Predicted SNR (dB) per lead from its features. A lead missing a feature (NaN) is predicted by the model's
    sub-model fitted without it (``model["without"][name]``) where there is one, else that feature takes the
    model's ``feature_means``."""
    means = np.asarray(model.get("feature_means", DEFAULT_MODEL["feature_means"]), float)
    out = {}
    for lead, f in features.items():
        f = np.asarray(f, float)
        m = model
        for j in np.flatnonzero(~np.isfinite(f)):
            m = model.get("without", {}).get(FEATURES[j], m)
        coef, b = np.asarray(m["coef"], float), float(m["intercept"])
        out[lead] = float(np.clip(b + np.where(np.isfinite(f), f, means) @ coef, -20.0, 40.0))
    return out


def assess(choice: LayoutChoice, traces: list[RowTrace], scale: Scale, fs: float, n: int,
           method: str = "classic") -> Assessment:
    """Per-lead and page quality, leads to drop and the page status (see the module docstring)."""
    model = load_quality_model(method)
    feats = lead_features(choice, traces, scale, fs, n)
    pred = predict_lead_snr(feats, model)
    lead_q = {lead: (float(np.clip(pred[lead] / 20.0, 0.0, 1.0)) if lead in pred else 0.0) for lead in LEADS}
    page_pred = float(np.mean(list(pred.values()))) if pred else -20.0
    quality = float(np.mean([lead_q[k] for k in pred])) if pred else 0.0
    dropped = [lead for lead, v in pred.items() if v < model["drop_db"]]
    status, reason = "ok", ""
    if page_pred < model["uncertain_db"]:
        status = "uncertain"
        worst = sorted(pred, key=pred.get)[:3]
        reason = (f"page read poorly: predicted SNR {page_pred:.1f} dB < {model['uncertain_db']:.1f} dB "
                  f"(weakest leads {', '.join(f'{k} {pred[k]:.0f} dB' for k in worst)}"
                  + (f"; {len(dropped)} leads dropped" if dropped else "") + ")")
    return Assessment(lead_q, pred, quality, status, reason, dropped, feats)


def probability_crossing(pred: np.ndarray, bad: np.ndarray, p: float = 0.5, ridge: float = 1e-3) -> float:
    """The predicted SNR (dB) at which a one-feature logistic fit of ``bad`` on ``pred`` reaches probability ``p``.

    Used to choose the page ``uncertain_db`` on validation renders: a page is 'uncertain' where it is at least
    ``p`` likely to have been read below the bad-page SNR (``bench/fit_quality.py`` uses 0.3: a page passed as 'ok'
    feeds a confident diagnosis, so the rule leans to flagging). One slope and one intercept fitted to every
    page, so a few pages moving do not move the threshold far (a cumulative-precision rule jumped by dB where
    a run of bad pages sat high). Fitted by Newton steps on the logistic log-likelihood with a small ``ridge``
    on the slope (separable data stays finite). Raises ValueError if ``bad`` is all one value or does not fall
    as ``pred`` rises.
    """
    x, y = np.asarray(pred, float), np.asarray(bad, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"pred and bad must be 1-D and the same length, got {x.shape} and {y.shape}")
    if y.min() == y.max():
        raise ValueError("bad is all one value: no crossing to find")
    mu, sd = x.mean(), x.std() + 1e-9
    X = np.c_[np.ones_like(x), (x - mu) / sd]
    w = np.zeros(2)
    for _ in range(100):
        q = 1.0 / (1.0 + np.exp(-X @ w))
        grad = X.T @ (q - y) + np.array([0.0, ridge * w[1]])
        hess = (X * (q * (1 - q))[:, None]).T @ X + np.diag([1e-9, ridge])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    if w[1] >= 0:
        raise ValueError("the bad share does not fall as the prediction rises: the quality model ranks nothing")
    return float(mu + sd * (np.log(p / (1 - p)) - w[0]) / w[1])
