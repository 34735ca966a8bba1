"""The rhythm bundle's RR head as predict uses it: a page's RR-interval features in, its AFIB probability mixed
with the network's out (:class:`RRHead`). Fitting it is :mod:`ecgcls.predict.rhythm` (``ecgcls rhythm-head``),
which reads pictures like predict does and so sits above :mod:`ecgcls.predict.engine`; this part sits below it.
"""
from __future__ import annotations

import math

import numpy as np

from ecgcls.measure.rhythm import rr_features

#: the head's inputs: rr_features() transformed (log of the positive, skewed ones), in this order
HEAD_FEATURES: tuple[str, ...] = ("log_rr_cv", "log_rr_irregularity", "rr_irregular_frac", "log_hr_bpm")
#: weights of the network's logit tried on validation pages (1 - weight goes to the RR head's logit)
NET_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)


def head_inputs(feats: dict | None) -> np.ndarray:
    """:data:`HEAD_FEATURES` (4,) from a :func:`rr_features` dict; NaN where the RR features are NaN, and all NaN
    for None (a page whose RR features were not measured)."""
    if feats is None:
        return np.full(len(HEAD_FEATURES), np.nan)
    floor = 1e-3  # a perfectly regular strip has rr_irregularity 0: its log is floored, not -inf
    return np.array([math.log(max(feats["rr_cv"], floor)) if np.isfinite(feats["rr_cv"]) else np.nan,
                     math.log(max(feats["rr_irregularity"], floor)) if np.isfinite(feats["rr_irregularity"]) else np.nan,
                     feats["rr_irregular_frac"],
                     math.log(feats["hr_bpm"]) if np.isfinite(feats["hr_bpm"]) and feats["hr_bpm"] > 0 else np.nan])


def standardize(x: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(x - center) / scale of head inputs (N, 4); NaN inputs become 0 (the training mean), and whole rows NaN
    where the first input (``log_rr_cv``: the RR variation itself) is NaN."""
    x = np.atleast_2d(np.asarray(x, float))
    z = np.nan_to_num((x - center) / scale, nan=0.0)
    z[~np.isfinite(x[:, 0])] = np.nan
    return z


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class RRHead:
    """The RR head of a rhythm bundle (the ``rr_head`` dict of its JSON): ``p_rr = sigmoid(intercept +
    coef · (x - center) / scale)`` on :data:`HEAD_FEATURES`, mixed with the network's AFIB probability as
    ``sigmoid(net_weight · logit(p_net) + (1 - net_weight) · logit(p_rr))``."""

    def __init__(self, spec: dict) -> None:
        if tuple(spec.get("features", ())) != HEAD_FEATURES:
            raise ValueError(f"rr_head: features {spec.get('features')} are not this version's {HEAD_FEATURES}")
        self.spec = spec
        self.cls = spec.get("class", "AFIB")
        self.center = np.asarray(spec["center"], float)
        self.scale = np.asarray(spec["scale"], float)
        self.coef = np.asarray(spec["coef"], float)
        self.intercept = float(spec["intercept"])
        self.net_weight = float(spec["net_weight"])
        self.threshold = float(spec.get("threshold", 0.5))

    def p_rr(self, x: np.ndarray) -> np.ndarray:
        """Probability of the class from head inputs ``x`` (N, 4): NaN where the RR variation (``log_rr_cv``,
        two intervals or more) was not measured; another input not measured (e.g. no successive difference
        inside one window) counts as its training mean."""
        z = self.intercept + standardize(x, self.center, self.scale) @ self.coef
        return 1.0 / (1.0 + np.exp(-z))

    def mix(self, p_net: np.ndarray, x: np.ndarray, p_rr: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(probability, used_rr) per page: the mixed probability where the RR features were measured, else
        the network's own. ``p_rr``: :meth:`p_rr` of ``x`` where the caller has it already."""
        p_net = np.asarray(p_net, float)
        p_rr = self.p_rr(x) if p_rr is None else np.asarray(p_rr, float)
        ok = np.isfinite(p_rr)
        z = self.net_weight * _logit(p_net) + (1 - self.net_weight) * _logit(np.where(ok, p_rr, 0.5))
        return np.where(ok, 1.0 / (1.0 + np.exp(-z)), p_net), ok


def page_inputs(signal: np.ndarray, fs: float) -> np.ndarray:
    """Head inputs (4,) of one read page's signal (12, T) at ``fs`` Hz."""
    return head_inputs(rr_features(signal, fs))
