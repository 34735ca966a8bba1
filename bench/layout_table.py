"""Per-layout robustness table from finished runs (their metrics.json), as markdown + JSON + PNG.

    python bench/layout_table.py patchecg=logs/runs/A cnn1d_zero=logs/runs/B ... \
        [--afib patchecg=logs/runs/R1 cnn1d_zero=logs/runs/R2 ...] [--name layout_table]

Each NAME=RUN_DIR is a run made with ``layout_eval=true`` (``python train.py model=...`` or ``eval.py``).
Rows: models; columns: the evaluation conditions (12x1, 3x4, 3x4+II, 6x2, cabrera, blackout30, blackout50,
and 'digitized' when the run scored digitized pictures), the spread (max - min) and the mean.
``--afib`` runs (``experiment=rhythm``) add a second table: AFIB AUROC per condition with its bootstrap
95 % interval and the number of AFIB records.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import OUT, write_json  # noqa: E402

from ecgcls import metrics as M  # noqa: E402


def _load(pairs: list[str]) -> dict[str, dict]:
    runs = {}
    for p in pairs:
        name, _, path = p.partition("=")
        if not path:
            raise SystemExit(f"expected NAME=RUN_DIR, got {p!r}")
        f = Path(path) / "metrics.json"
        if not f.is_file():
            raise SystemExit(f"{f} not found (did the run finish?)")
        m = json.loads(f.read_text())
        if "layouts" not in m:
            raise SystemExit(f"{f} has no per-layout report: run it with layout_eval=true (or eval.py)")
        runs[name] = m
    return runs


def macro_table(runs: dict[str, dict]) -> tuple[str, dict]:
    conds = list(next(iter(runs.values()))["layouts"]["conditions"])
    for m in runs.values():
        conds += [c for c in m["layouts"]["conditions"] if c not in conds]
    sim = [c for c in conds if c != "digitized"]
    lines = ["| model | " + " | ".join(conds) + " | spread* | mean* | min* |", "|---" * (len(conds) + 4) + "|"]
    out = {}
    for name, m in runs.items():
        c = m["layouts"]["conditions"]
        vals = {k: c[k]["macro_auroc"] for k in conds if k in c}
        s = [vals[k] for k in sim if k in vals]
        out[name] = {"conditions": vals, "spread": max(s) - min(s), "mean": sum(s) / len(s), "min": min(s),
                     "n_test": m["data"]["sizes"]["test"], "seed": m["seed"]}
        cells = [f"{vals[k]:.3f}" if k in vals else "–" for k in conds]
        lines.append(f"| {name} | " + " | ".join(cells) +
                     f" | {out[name]['spread']:.3f} | {out[name]['mean']:.3f} | {out[name]['min']:.3f} |")
    lines.append("\n*over the simulated conditions (digitized pictures excluded).")
    return "\n".join(lines), out


def afib_table(runs: dict[str, dict], cls: str = "AFIB") -> tuple[str, dict]:
    conds = list(next(iter(runs.values()))["layouts"]["conditions"])
    lines = ["| model | " + " | ".join(conds) + " |", "|---" * (len(conds) + 1) + "|"]
    out = {}
    for name, m in runs.items():
        c = m["layouts"]["conditions"]
        row, cells = {}, []
        for k in conds:
            a = c[k]["per_class"].get(cls)
            ci = (c[k].get("per_class_ci95") or {}).get(cls)
            row[k] = {"auroc": a, "ci95": ci, "positives": (c[k].get("positives") or {}).get(cls)}
            cells.append("–" if a is None else f"{a:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""))
        out[name] = row
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    pos = {r[k]["positives"] for r in out.values() for k in r}
    lines.append(f"\n{cls} AUROC [bootstrap 95 % interval]; {cls} records in the test split: {sorted(p for p in pos if p is not None)}.")
    return "\n".join(lines), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="NAME=RUN_DIR (superdiagnostic runs)")
    ap.add_argument("--afib", nargs="*", default=[], help="NAME=RUN_DIR (rhythm runs)")
    ap.add_argument("--name", default="layout_table")
    args = ap.parse_args()
    res: dict = {}
    md, res["superdiagnostic"] = macro_table(_load(args.runs))
    print("Superdiagnostic macro AUROC per layout (test split)\n" + md)
    M.plot_bars({f"{n}: spread {v['spread']:.3f}": v["mean"] for n, v in res["superdiagnostic"].items()},
                OUT / f"{args.name}.png", title="mean macro AUROC over layouts (label: spread)")
    if args.afib:
        md2, res["afib"] = afib_table(_load(args.afib))
        print("\nAFIB AUROC per layout (rhythm runs)\n" + md2)
        md += "\n\n" + md2
    OUT.mkdir(exist_ok=True)
    (OUT / f"{args.name}.md").write_text(md + "\n")
    write_json(args.name, res)


if __name__ == "__main__":
    main()
