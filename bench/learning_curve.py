"""What more training records buy: training runs that differ only in their data, scored on the same test records.

Reads finished ``train.py`` run folders (``metrics.json`` and ``layout_predictions.npz``, written when
``layout_eval=true``), and writes, per print-layout condition of the per-layout evaluation (``12x1`` is the true
12-lead signal, unmasked), each run's macro AUROC with its 95 % bootstrap interval, and the paired bootstrap
interval of each run's difference from the first run (same resamples of the same records). Also a PNG.

    python bench/learning_curve.py --runs pack=logs/runs/lc_cnn1d_pack pack+extra=logs/runs/lc_cnn1d_pack_extra \\
        --out bench/results/learning_curve_cnn1d

The runs must share the test records (checked) — e.g. ``data=ptbxl_mini`` against the default ``ptbxl_pack_extra``.
``--bundles NAME=BUNDLE`` adds a weights bundle (e.g. today's ``cnn1d``) scored the same way on the pack's test folds
(its uncalibrated logits: AUROC does not depend on the temperature).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np

from ecgcls import metrics as M


def load_run(folder: Path) -> dict:
    m = json.loads((folder / "metrics.json").read_text())
    npz = folder / "layout_predictions.npz"
    if not npz.is_file():
        raise FileNotFoundError(f"{npz}: rerun with layout_eval=true (this bench needs the per-layout predictions)")
    z = np.load(npz)
    probs = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("probs/")}
    return {"metrics": m, "ids": z["ids"], "targets": z["targets"], "classes": [str(c) for c in z["classes"]],
            "probs": probs}


def bundle_run(bundle: str, folder: Path) -> dict:
    """Score a weights bundle under every per-layout condition on the pack's test folds (as ``train.py`` scores a
    run: same masks, same ``eval_seed``) and load it like a run."""
    import torch

    from ecgcls.data import PTBXLDataModule
    from ecgcls.data.masking import EVAL_CONDITIONS
    from ecgcls.predict.bundle import load_bundle
    from ecgcls.train.layout_eval import evaluate_layouts

    model = load_bundle(bundle)
    card = model.card.get("data", {})

    class Logits(torch.nn.Module):  # evaluate_layouts applies the sigmoid
        device = torch.device("cpu")

        def forward(self, x):
            return model.logits(x)

    cache = os.environ.get("ECGCLS_CACHE", "~/.cache/ecgcls")
    shared = Path(os.environ.get("ECGCLS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    dm = PTBXLDataModule(archive=str(shared / "data" / "ptbxl-mini.tar.xz"), cache_dir=cache, fs=model.fs,
                         folds={"train": [10], "val": [8, 9], "test": [1, 2, 3, 4, 5, 6, 7]})
    dm.setup()
    if dm.classes != model.classes:
        raise ValueError(f"bundle {bundle}: classes {model.classes}, the test split's {dm.classes}")
    folder.mkdir(parents=True, exist_ok=True)
    report = evaluate_layouts(Logits(), dm, "test", conditions=dict(EVAL_CONDITIONS),
                              predictions_to=folder / "layout_predictions.npz")
    metrics = {"command": f"bundle {bundle}: {model.card.get('command', '')}".strip(), "seed": model.card.get("seed"),
               "fit_seconds": model.card.get("fit_seconds"), "best_checkpoint": model.card.get("checkpoint"),
               "data": {"sizes": card.get("sizes", {"train": None}), "sizes_per_source": None}, "layouts": report}
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return load_run(folder)


def compare(runs: dict[str, dict], n_boot: int = 1000) -> dict:
    names = list(runs)
    base = runs[names[0]]
    for n in names[1:]:
        if not np.array_equal(runs[n]["ids"], base["ids"]) or runs[n]["classes"] != base["classes"]:
            raise ValueError(f"runs {names[0]!r} and {n!r} were not tested on the same records and classes")
    y = base["targets"]
    conditions = [c for c in base["probs"] if all(c in r["probs"] for r in runs.values())]
    out: dict = {"test_records": int(len(y)), "classes": base["classes"],
                 "positives": {c: int(v) for c, v in zip(base["classes"], y.sum(0))}, "runs": {}, "n_boot": n_boot}
    for n, r in runs.items():
        m = r["metrics"]
        row = {"command": m.get("command"), "train_records": m["data"]["sizes"]["train"],
               "sizes_per_source": m["data"].get("sizes_per_source"), "seed": m["seed"],
               "fit_seconds": m.get("fit_seconds"), "best_checkpoint": m.get("best_checkpoint"), "conditions": {}}
        for c in conditions:
            p = r["probs"][c]
            lo, hi = M.bootstrap_macro_auroc_ci(p, y, n_boot=n_boot)
            cond = {"macro_auroc": M.macro_auroc(p, y), "ci95": [lo, hi],
                    "per_class": dict(zip(base["classes"], map(float, M.per_class_auroc(p, y))))}
            if n != names[0]:
                d, dlo, dhi = M.bootstrap_macro_auroc_diff_ci(base["probs"][c], p, y, n_boot=n_boot)
                cond[f"minus_{names[0]}"] = {"diff": d, "ci95": [dlo, dhi]}
            row["conditions"][c] = cond
        out["runs"][n] = row
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    runs = result["runs"]
    conds = list(next(iter(runs.values()))["conditions"])
    width = 0.8 / len(runs)
    for k, (name, r) in enumerate(runs.items()):
        v = np.array([r["conditions"][c]["macro_auroc"] for c in conds])
        lo = np.array([r["conditions"][c]["ci95"][0] for c in conds])
        hi = np.array([r["conditions"][c]["ci95"][1] for c in conds])
        x = np.arange(len(conds)) + (k - (len(runs) - 1) / 2) * width
        ax.bar(x, v, width, label=f"{name} ({r['train_records']} training records)")
        ax.errorbar(x, v, yerr=[v - lo, hi - v], fmt="none", ecolor="k", capsize=2, lw=0.8)
    ax.set_xticks(np.arange(len(conds)), conds, rotation=30)
    ax.set_ylim(0.75, 1.0)
    ax.set_ylabel("test macro AUROC (95 % bootstrap)")
    ax.set_title(f"{result['test_records']} test records; 12x1 = true 12-lead signals")
    ax.legend(loc="upper center", ncol=len(runs), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict, command: str) -> str:
    runs = result["runs"]
    names = list(runs)
    lines = [command, "", f"Test records: {result['test_records']}; positives {result['positives']}.", ""]
    for n, r in runs.items():
        lines.append(f"- **{n}**: {r['train_records']} training records {r['sizes_per_source']}, seed {r['seed']}, "
                     f"fit {r['fit_seconds']} s — `{r['command']}`")
    head = "| condition | " + " | ".join(names) + " | " + " | ".join(f"{n} − {names[0]}" for n in names[1:]) + " |"
    lines += ["", head, "|" + "---|" * (1 + 2 * len(names) - 1)]
    for c in next(iter(runs.values()))["conditions"]:
        cells = []
        for n in names:
            q = runs[n]["conditions"][c]
            cells.append(f"{q['macro_auroc']:.3f} ({q['ci95'][0]:.3f}–{q['ci95'][1]:.3f})")
        for n in names[1:]:
            d = runs[n]["conditions"][c][f"minus_{names[0]}"]
            cells.append(f"{d['diff']:+.3f} ({d['ci95'][0]:+.3f} to {d['ci95'][1]:+.3f})")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", required=True, help="NAME=RUN_FOLDER, the baseline first")
    ap.add_argument("--out", required=True, help="output stem: writes STEM.json, STEM.md and STEM.png")
    ap.add_argument("--bundles", nargs="*", default=[], help="NAME=BUNDLE (a bundled name or .json), after the runs")
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args(argv)
    runs = {}
    for spec in args.runs:
        name, sep, folder = spec.partition("=")
        if not sep:
            ap.error(f"--runs takes NAME=RUN_FOLDER, got {spec!r}")
        runs[name] = load_run(Path(folder))
    for spec in args.bundles:
        name, sep, bundle = spec.partition("=")
        if not sep:
            ap.error(f"--bundles takes NAME=BUNDLE, got {spec!r}")
        runs[name] = bundle_run(bundle, Path("bench/out/learning_curve") / name)
    command = "python bench/learning_curve.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    result = {"command": command, **compare(runs, args.n_boot)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    out.with_suffix(".md").write_text(markdown(result, command))
    plot(result, out.with_suffix(".png"))
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
