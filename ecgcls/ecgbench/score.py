"""ECGBench's metrics on the answers: detection AUC (macro), macro F1 and Hamming loss; multiple-choice accuracy
(and chance); the report scored field by field by exact rules (no LLM judge). Malformed and failed answers are
counted; detection and multiple choice score them as wrong (no labels / no choice), as ECGBench does."""
from __future__ import annotations

import numpy as np
import torch

from ecgcls.data.ptbxl import SUPERCLASSES

#: report fields and how a value is judged right: exact match, or within a tolerance
REPORT_TOLERANCE = {"rate_bpm": 10.0, "pr_ms": 20.0, "qrs_ms": 20.0, "qt_ms": 40.0}
REPORT_EXACT = ("rhythm", "axis")


def detection(answers: list[dict], truth: list[list[str]]) -> dict:
    """AUC (macro over classes with both outcomes; from scores, or from 0/1 labels for systems that give no
    scores), macro F1 and Hamming loss (%, torchmetrics) over every item; malformed/failed = no label."""
    from torchmetrics.functional.classification import multilabel_f1_score, multilabel_hamming_distance

    from ecgcls.metrics import macro_auroc

    y = np.array([[c in t for c in SUPERCLASSES] for t in truth], np.float32)
    lab = np.array([[c in (a.get("labels") or []) for c in SUPERCLASSES] for a in answers], np.float32)
    sc = np.array([[float((a.get("scores") or {}).get(c) or 0.0) for c in SUPERCLASSES] for a in answers], np.float32)
    n = len(SUPERCLASSES)
    f1 = multilabel_f1_score(torch.from_numpy(lab), torch.from_numpy(y).int(), num_labels=n, average="macro")
    hl = multilabel_hamming_distance(torch.from_numpy(lab), torch.from_numpy(y).int(), num_labels=n, average="micro")
    bad = sum(1 for a in answers if "malformed" in a or "failed" in a)
    return {"n": len(answers), "auc": 100 * macro_auroc(sc, y), "f1": 100 * float(f1), "hamming_loss": 100 * float(hl),
            "malformed_or_failed": bad, "prevalence": {c: float(y[:, i].mean()) for i, c in enumerate(SUPERCLASSES)}}


def mcq(answers: list[dict], correct: list[str], k: int) -> dict:
    ok = [a.get("choice") == c for a, c in zip(answers, correct)]
    bad = sum(1 for a in answers if "malformed" in a or "failed" in a)
    return {"n": len(ok), "accuracy": 100 * float(np.mean(ok)) if ok else None, "chance": 100 / k,
            "malformed_or_failed": bad}


def report_field_ok(field: str, got, want) -> bool | None:
    """Whether one report field is right; None when the truth is unknown (not scored)."""
    if want is None:
        return None
    if field == "diagnoses":
        return None  # scored by Jaccard
    if got is None:
        return False
    if field in REPORT_TOLERANCE:
        return abs(float(got) - float(want)) <= REPORT_TOLERANCE[field]
    return str(got) == str(want)


def report(answers: list[dict], truths: list[dict]) -> dict:
    """Per field: share right (where the truth is known); diagnoses: mean Jaccard; score: the mean over an
    item's scored fields (Jaccard for diagnoses), averaged over items. Malformed / failed answers score 0."""
    fields = (*REPORT_EXACT, *REPORT_TOLERANCE)
    per = {f: [] for f in fields}
    jac, scores = [], []
    for a, t in zip(answers, truths):
        bad = "malformed" in a or "failed" in a
        got = {} if bad else a
        marks = []
        for f in fields:
            ok = report_field_ok(f, got.get(f), t.get(f))
            if ok is not None:
                per[f].append(ok)
                marks.append(float(ok))
        g, w = set(got.get("diagnoses") or []), set(t.get("diagnoses") or [])
        j = len(g & w) / len(g | w) if (g | w) else 1.0
        jac.append(j)
        marks.append(j)
        scores.append(float(np.mean(marks)))
    return {"n": len(answers), "score": 100 * float(np.mean(scores)) if scores else None,
            "fields": {f: (100 * float(np.mean(v)) if v else None) for f, v in per.items()},
            "diagnoses_jaccard": 100 * float(np.mean(jac)) if jac else None,
            "malformed_or_failed": sum(1 for a in answers if "malformed" in a or "failed" in a),
            "tolerances": REPORT_TOLERANCE}
