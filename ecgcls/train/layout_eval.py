"""Per-layout evaluation: the same held-out records under every print layout / blackout condition."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ecgcls import metrics as M
from ecgcls.data.masking import EVAL_CONDITIONS


@torch.no_grad()
def predict_split(module, dm, split: str, transform, batch_size: int = 128, source: str = "signal"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and targets of a datamodule split under an evaluation transform (or digitized pictures)."""
    old = dm.eval_transform
    dm.eval_transform = transform
    try:
        ds = dm.dataset(split, source=source)
    finally:
        dm.eval_transform = old
    module.eval()
    probs, targets = [], []
    for x, y in DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0):
        probs.append(torch.sigmoid(module(x.to(module.device))).float().cpu())
        targets.append(y)
    return torch.cat(probs).numpy(), torch.cat(targets).numpy()


def evaluate_layouts(module, dm, split: str = "test", conditions: Mapping | None = None,
                     classes: list[str] | None = None, predictions_to: str | Path | None = None) -> dict:
    """Macro AUROC (with its bootstrap interval) and per-class AUROC of ``module`` on ``split`` under each condition.

    Conditions default to :data:`ecgcls.data.masking.EVAL_CONDITIONS` at the datamodule's sampling rate.
    The AUROC spread (max − min over conditions) is reported as the robustness figure. ``predictions_to``: also
    save every condition's probabilities, the targets and the record ids there (``.npz``), so two runs can be
    compared record by record (paired bootstrap, ``bench/learning_curve.py``).
    """
    saved: dict[str, np.ndarray] = {}
    conds = dict(conditions or EVAL_CONDITIONS)
    for c in conds.values():
        if hasattr(c, "fs"):
            c.fs = dm.fs
    classes = classes or dm.classes
    out: dict = {"split": split, "conditions": {}}
    if getattr(dm, "digitized", None) is not None:
        conds["digitized"] = None  # the records as the digitizer read them from rendered pictures
    for name, cond in tqdm(conds.items(), desc="per-layout evaluation"):
        p, y = predict_split(module, dm, split, cond, source="digitized" if name == "digitized" else "signal")
        saved[f"probs/{name}"], saved["targets"] = p, y
        per = M.per_class_auroc(p, y)
        ci = M.bootstrap_auroc_ci(p, y)
        macro_ci = M.bootstrap_macro_auroc_ci(p, y)
        out["conditions"][name] = {
            "macro_auroc": float(np.nanmean(per)),
            "macro_ci95": [float(macro_ci[0]), float(macro_ci[1])],
            "per_class": {c: (None if np.isnan(a) else float(a)) for c, a in zip(classes, per)},
            "per_class_ci95": {c: (None if np.isnan(lo) else [float(lo), float(hi)]) for c, (lo, hi) in zip(classes, ci)},
            "positives": {c: int(n) for c, n in zip(classes, y.sum(0))}}
    vals = [v["macro_auroc"] for v in out["conditions"].values()]
    out["spread"] = float(max(vals) - min(vals))
    out["mean"] = float(np.mean(vals))
    if predictions_to is not None:
        np.savez_compressed(predictions_to, ids=np.asarray(dm.splits[split]), classes=np.asarray(classes), **saved)
    return out


def save_layout_report(report: dict, out_dir: str | Path, title: str) -> None:
    out_dir = Path(out_dir)
    M.plot_bars({k: v["macro_auroc"] for k, v in report["conditions"].items()}, out_dir / "layout_auroc.png",
                title=f"{title}: macro AUROC per layout (spread {report['spread']:.3f})")
    lines = ["| condition | macro AUROC |", "|---|---|"]
    lines += [f"| {k} | {v['macro_auroc']:.4f} |" for k, v in report["conditions"].items()]
    lines.append(f"| spread (max-min) | {report['spread']:.4f} |")
    (out_dir / "layout_auroc.md").write_text("\n".join(lines) + "\n")
