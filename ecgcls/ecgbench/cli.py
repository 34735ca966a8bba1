"""``ecgcls bench``: ECGBench-style tasks on a labelled picture set, answered by ecgcls's models and any
OpenAI-compatible vision endpoint, scored with ECGBench's metrics.

    ecgcls bench --set render|eik|DIR [--n 100] --system ecgcls:both [--system openai:MODEL@URL] \\
                 [--tasks detect mcq report] [--out bench/out/ecgbench_<set>] [--budget 1000]

Answers are cached per system and picture under ``OUT/answers/`` (a rerun resumes, and re-scores); the key of
an endpoint comes from ``--api-key-env`` (default ``OPENAI_API_KEY``). Writes ``OUT/results.json``,
``OUT/results.md`` (the table: set, n, chance, with ECGBench's published rows beside it, named as figures on
their own data) and one plot per task.
"""
from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import numpy as np

#: published figures (their own data, not a same-data comparison): ECGBench / PULSE paper
PUBLISHED = {"PULSE-7B (published, PTB-XL super, ECGBench)": {"detect": {"auc": 82.4, "f1": 74.8, "hamming_loss": 11.0}},
             "GPT-4o (published, PTB-XL super, ECGBench)": {"detect": {"auc": 55.6}},
             "PULSE-7B (published, CSN multiple choice)": {"mcq": {"accuracy": 85.2}}}


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="ECGBench-style tasks: ecgcls's models vs any vision-language endpoint",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", required=True, help="render (own renders of test records), eik, or a labelled folder")
    p.add_argument("--n", type=int, default=100, help="records (render) or pictures (eik)")
    p.add_argument("--layouts", nargs="*", default=["3x4+II"])
    p.add_argument("--artifacts", nargs="*", default=["clean"])
    p.add_argument("--system", action="append", default=None,
                   help="ecgcls:MODEL (cnn1d, patchecg, pic2dx, both) or openai:MODEL@URL; repeatable")
    p.add_argument("--tasks", nargs="*", default=["detect", "mcq", "report"], choices=["detect", "mcq", "report"])
    p.add_argument("--k", type=int, default=4, help="options per multiple-choice question")
    p.add_argument("--out", default=None)
    p.add_argument("--budget", type=int, default=1000, help="most requests to an endpoint in this run")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--api-key-env", default="OPENAI_API_KEY")
    p.add_argument("--prompts", default=None, help="a prompts YAML (default: ecgcls/ecgbench/prompts.yaml)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default="~/.cache/ecgcls")
    p.set_defaults(func=run)


def make_system(spec: str, args, statements: dict):
    from ecgcls.ecgbench.systems import PROMPTS, EcgclsSystem, OpenAISystem

    kind, _, rest = spec.partition(":")
    if kind == "ecgcls":
        return EcgclsSystem(rest or "both", statements)
    if kind == "openai" and "@" in rest:
        model, url = rest.split("@", 1)
        return OpenAISystem(url, model, args.prompts or PROMPTS, api_key_env=args.api_key_env,
                            timeout_s=args.timeout, retries=args.retries, budget=args.budget)
    raise ValueError(f"--system {spec!r}: use ecgcls:MODEL or openai:MODEL@URL")


def answer_all(system, items, tasks: list[str], cache: Path) -> list[dict]:
    """Each item's answers, from the cache or asked (and cached); a spent budget leaves the rest as failed."""
    from tqdm.auto import tqdm

    from ecgcls.ecgbench.systems import BudgetExhausted

    cache.mkdir(parents=True, exist_ok=True)
    out, spent = [], ""
    for it in tqdm(items, desc=system.name, unit="pic"):
        f = cache / f"{it.id}.json"
        got = json.loads(f.read_text()) if f.is_file() else {}
        # asked again: what is missing, and what failed last time (timeouts, budget); malformed replies stay
        need = [t for t in tasks if (t not in got or "failed" in got[t]) and not (t == "mcq" and not it.mcq)]
        if need and not spent:
            try:
                got.update(system.answer(it, need))
            except BudgetExhausted as exc:
                spent = str(exc)
                got.update(getattr(exc, "partial", {}))
            tmp = f.with_suffix(".tmp")
            tmp.write_text(json.dumps(got))
            os.replace(tmp, f)
        for t in need:
            if t not in got or "failed" in got[t]:
                got[t] = {"failed": spent or got.get(t, {}).get("failed") or "not answered"}
        out.append(got)
    return out


def run(args: argparse.Namespace) -> int:
    from ecgcls.ecgbench import score
    from ecgcls.ecgbench.tasks import build_items, save_items

    shared = Path(os.environ.get("ECGCLS_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
    cache_dir = Path(args.cache_dir).expanduser()
    name = args.set if args.set in ("render", "eik") else Path(args.set).name
    out = Path(args.out or f"bench/out/ecgbench_{name}")
    out.mkdir(parents=True, exist_ok=True)
    items = build_items(args.set, shared, cache_dir, args.n, tuple(args.layouts), tuple(args.artifacts), args.seed,
                        args.k)
    save_items(items, out / "tasks.json")
    statements = {}
    if args.set in ("render", "eik"):
        from ecgcls.data.ptbxl import resolve_root, statements_table

        statements = statements_table(resolve_root(archive=shared / "data" / "ptbxl-mini.tar.xz", cache_dir=cache_dir))
    res: dict = {"set": args.set if args.set in ("render", "eik") else str(args.set), "n": len(items),
                 "layouts": args.layouts if args.set == "render" else None,
                 "artifacts": args.artifacts if args.set == "render" else None, "k": args.k,
                 "mcq_items": sum(1 for i in items if i.mcq), "systems": {}, "published": PUBLISHED,
                 "note": "eik-validation is for measuring only" if args.set == "eik" else ""}
    for spec in args.system or ["ecgcls:both"]:
        system = make_system(spec, args, statements)
        answers = answer_all(system, items, args.tasks, out / "answers" / re.sub(r"[^A-Za-z0-9_.-]", "_", spec))
        r: dict = {}
        if "detect" in args.tasks:
            r["detect"] = score.detection([a.get("detect", {}) for a in answers], [i.labels for i in items])
        if "mcq" in args.tasks:
            q = [(a.get("mcq", {}), i.mcq["answer"]) for a, i in zip(answers, items) if i.mcq]
            r["mcq"] = score.mcq([x for x, _ in q], [c for _, c in q], args.k)
        if "report" in args.tasks:
            r["report"] = score.report([a.get("report", {}) for a in answers], [i.truth for i in items])
        res["systems"][system.name] = r
        if hasattr(system, "client"):
            r["requests"] = system.client.used
    (out / "results.json").write_text(json.dumps(res, indent=1))
    (out / "results.md").write_text(table(res))
    plots(res, out)
    print(table(res))
    return 0


def _f(v, d=1) -> str:
    return "—" if v is None else f"{v:.{d}f}"


def table(res: dict) -> str:
    """The results as markdown: one row per system (ours and published), per-task columns."""
    lines = [f"# ECGBench-style results — set `{res['set']}`, n = {res['n']} pictures "
             f"({res['mcq_items']} with a multiple-choice question, {res['k']} options: chance "
             f"{100 / res['k']:.1f} %)", "",
             "| system | detect AUC | detect F1 | Hamming loss | MCQ accuracy | report score | malformed/failed |",
             "|---|---|---|---|---|---|---|"]
    for name, r in res["systems"].items():
        d, q, p = r.get("detect", {}), r.get("mcq", {}), r.get("report", {})
        bad = sum(x.get("malformed_or_failed", 0) for x in (d, q, p))
        lines.append(f"| {name} | {_f(d.get('auc'))} | {_f(d.get('f1'))} | {_f(d.get('hamming_loss'))} | "
                     f"{_f(q.get('accuracy'))} | {_f(p.get('score'))} | {bad} |")
    for name, r in res["published"].items():
        d, q = r.get("detect", {}), r.get("mcq", {})
        lines.append(f"| {name} | {_f(d.get('auc'))} | {_f(d.get('f1'))} | {_f(d.get('hamming_loss'))} | "
                     f"{_f(q.get('accuracy'))} | — | — |")
    lines += ["", "Published rows are the papers' own figures on their own data and protocol (not a same-data "
              "comparison). Report score: mean over fields (rhythm, axis category exact; rate ±10 bpm, PR ±20, "
              "QRS ±20, QT ±40 ms; diagnoses Jaccard) of an item's known fields, averaged over items."]
    return "\n".join(lines) + "\n"


def plots(res: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for task, keys in (("detect", ("auc", "f1")), ("mcq", ("accuracy",)), ("report", ("score",))):
        names = [n for n, r in res["systems"].items() if task in r]
        if not names:
            continue
        fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(names) * len(keys), 3.2))
        w = 0.8 / len(keys)
        for j, k in enumerate(keys):
            vals = [res["systems"][n][task].get(k) or 0 for n in names]
            ax.bar(np.arange(len(names)) + j * w, vals, w, label=k)
        if task == "mcq":
            ax.axhline(100 / res["k"], color="gray", ls="--", label="chance")
        ax.set_xticks(np.arange(len(names)) + w * (len(keys) - 1) / 2, names, fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_title(f"{task} — set {res['set']}, n={res['n']}", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / f"{task}.png", dpi=90)
        plt.close(fig)

