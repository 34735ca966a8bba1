"""Evidence for each label: the criteria of ``rules.yaml`` checked against :func:`ecgcls.measure.measure`.

Criterion kinds (all in the data file, none in code):

- ``measure`` + ``op`` + ``value`` (or ``between: [lo, hi]``): a global measurement, e.g. ``qrs_ms >= 120``.
- ``lead_measure`` + ``op`` + ``value`` + ``min_contiguous``: at least that many leads of one contiguous group
  (``groups`` in the file) satisfy it, e.g. pathological Q waves in 2 contiguous leads; optional ``leads``
  restricts the leads considered; ``all_of`` combines two conditions on the same lead.

Each criterion comes back ``met``, ``not met`` or ``not measurable`` (the measurement is missing on this
page — a partly printed or badly read lead is never counted as evidence either way).
"""
from __future__ import annotations

import functools
import operator
from pathlib import Path

import numpy as np

RULES = Path(__file__).with_name("rules.yaml")
OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


@functools.lru_cache(maxsize=4)
def load_rules(path: str | Path = RULES) -> dict:
    """The rules file: ``groups`` (contiguous lead groups) and ``classes`` (class → criteria)."""
    import yaml

    rules = yaml.safe_load(Path(path).read_text())
    for cls, crits in rules["classes"].items():
        for c in crits:
            if not {"id", "text", "source"} <= set(c) or not ({"measure"} & set(c) or {"lead_measure", "all_of"} & set(c)):
                raise ValueError(f"{path}: criterion {c.get('id', '?')} of {cls} needs id, text, source and a measure")
    return rules


def _test(v: float, c: dict) -> bool:
    if "between" in c:
        lo, hi = c["between"]
        return lo <= v <= hi
    return OPS[c["op"]](v, c["value"])


def _lead_ok(lead_vals: dict, c: dict) -> bool | None:
    """Whether one lead satisfies the lead condition(s); None when not measurable on this lead."""
    conds = c.get("all_of") or [c]
    res = []
    for cond in conds:
        v = lead_vals.get(cond["lead_measure"])
        if v is None or not np.isfinite(v):
            return None
        res.append(_test(v, cond))
    return all(res)


def check(criterion: dict, m: dict, groups: dict) -> dict:
    """One criterion against measurements ``m`` → ``{id, text, source, status, value}``."""
    out = {k: criterion[k] for k in ("id", "text", "source")}
    if "measure" in criterion:
        v = m["global"].get(criterion["measure"])
        if v is None or not np.isfinite(v):
            return {**out, "status": "not measurable", "value": None}
        return {**out, "status": "met" if _test(v, criterion) else "not met", "value": round(float(v), 3)}
    allowed = set(criterion.get("leads") or [k for g in groups.values() for k in g])
    best, measurable, leads_met = 0, False, []
    for name, members in groups.items():
        members = [k for k in members if k in allowed]
        ok = [_lead_ok(m["leads"].get(k, {}), criterion) for k in members]
        measurable |= any(o is not None for o in ok)
        met = [k for k, o in zip(members, ok) if o]
        if len(met) > best:
            best, leads_met = len(met), met
    if not measurable:
        return {**out, "status": "not measurable", "value": None}
    need = int(criterion.get("min_contiguous", 1))
    return {**out, "status": "met" if best >= need else "not met", "value": leads_met}


def evidence(m: dict, labels, rules: dict | None = None) -> dict:
    """For each label (those with rules), each criterion's status; ``summary``: met / not met / not measurable
    counts per label."""
    rules = rules or load_rules()
    out = {}
    for label in labels:
        crits = rules["classes"].get(label)
        if crits is None:
            continue
        res = [check(c, m, rules["groups"]) for c in crits]
        out[label] = {"criteria": res, "met": sum(r["status"] == "met" for r in res),
                      "not_met": sum(r["status"] == "not met" for r in res),
                      "not_measurable": sum(r["status"] == "not measurable" for r in res)}
    return out
