"""Wall-clock time of ``predict.py`` as a user runs it: a fresh interpreter per run, from the command's start to
its exit (Hydra, imports, loading the bundles, starting the worker processes, reading, classifying, writing
preds.csv), nothing warmed up beforehand.

    python bench/predict_cli.py [--input examples] [--n 0] [--model cnn1d] [--repeat 5] [--against DIR]

``--input``: a folder of pictures (default: the bundled examples); ``--n N`` instead draws the pack's first N
records as 200-DPI PNGs (as bench/predict.py does). ``--against DIR``: another checkout of ecgcls (e.g. a
``git worktree`` of an older commit) timed on the same pictures, its runs interleaved with this one's (this
machine's speed drifts between minutes, so a before/after is only fair run for run); both use this Python.
Each checkout first runs once untimed (its bytecode caches). Reports the median and every run's seconds and
checks that both checkouts wrote the same preds.csv. Writes bench/out/<name>.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import REPO, write_json, write_predict_pictures  # noqa: E402


def run_cli(repo: Path, pictures: Path, output: Path, model: str, workers: int) -> float:
    """Seconds of one ``predict.py`` run in ``repo`` (raises with its stderr when it fails)."""
    cmd = [sys.executable, str(repo / "predict.py"), f"input={pictures}", f"output={output}", f"model={model}",
           f"workers={workers}", "overwrite=true", f"hydra.run.dir={output.parent / 'hydra'}"]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    sec = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return sec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", default=str(REPO / "examples"), help="folder of pictures")
    ap.add_argument("--n", type=int, default=0, help="draw N pictures instead of --input")
    ap.add_argument("--model", default="cnn1d")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--against", default="", help="another checkout timed on the same pictures, interleaved")
    ap.add_argument("--name", default="predict_cli", help="output name under bench/out")
    args = ap.parse_args()
    repos = {"this": REPO} | ({"against": Path(args.against).resolve()} if args.against else {})
    with tempfile.TemporaryDirectory() as tmp:
        pictures = Path(args.input).resolve()
        if args.n:
            pictures = Path(tmp) / "pictures"
            pictures.mkdir()
            write_predict_pictures(pictures, args.n)
        n_pics = sum(1 for p in pictures.iterdir() if p.is_file() and p.suffix.lower() != ".md")
        secs: dict[str, list[float]] = {k: [] for k in repos}
        outs = {k: Path(tmp) / f"preds_{k}.csv" for k in repos}
        for k, repo in repos.items():  # untimed: a checkout's first run writes its bytecode caches
            run_cli(repo, pictures, outs[k], args.model, args.workers)
        for r in range(args.repeat):
            for k, repo in (repos.items() if r % 2 == 0 else reversed(repos.items())):  # alternate who goes first
                secs[k].append(run_cli(repo, pictures, outs[k], args.model, args.workers))
                print(f"run {r + 1}: {k} {secs[k][-1]:.2f} s", flush=True)
        same = len({o.read_text() for o in outs.values()}) == 1
    res = {"timed": "wall clock of `python predict.py input=<folder> output=<csv> model=<model> workers=<w> "
                    "overwrite=true hydra.run.dir=<tmp>` in a fresh interpreter, start to exit (nothing warmed up "
                    "in the process; one untimed run per checkout before the timed ones, so its bytecode caches "
                    "exist)",
           "input": str(args.input) if not args.n else f"the pack's first {args.n} records, 200-DPI PNGs",
           "pictures": n_pics, "model": args.model, "workers": args.workers, "cpu_count": os.cpu_count(),
           "repeat": args.repeat, "same_preds_csv": same,
           "checkouts": {k: {"path": str(repos[k]), "median_s": round(statistics.median(v), 2),
                             "runs_s": [round(x, 2) for x in v]} for k, v in secs.items()}}
    for k, v in res["checkouts"].items():
        print(f"{k} ({v['path']}): median {v['median_s']:.2f} s for {n_pics} pictures; runs {v['runs_s']}")
    if len(repos) > 1:
        print(f"preds.csv the same: {same}")
    write_json(args.name, res)


if __name__ == "__main__":
    main()
