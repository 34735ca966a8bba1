"""``ecgcls export``: PTB-XL-layout records → an aligned dataset, one id per record, on Dask.

Dataset layout (``DATASET/``)::

    index.parquet          one row per record: id, status, error, ecg_id, patient_id, strat_fold, fs, scp_codes,
                           labels_<task>, signal, pictures, truths, masks, points, layouts, artifacts, features,
                           text, a few global measurements, sha256 (JSON: file → checksum)
    records/<id>/          <id>.hea/.dat (WFDB), page<k>.png|jpg + page<k>.json (truth) + page<k>_mask.npz|png +
                           page<k>_points.npz, features.json (global, per lead, per beat), report.txt, row.json
    errors/<id>.json       the error row of a record that failed (retried on the next run)
    scp_statements.csv     the statement table (labels and descriptions)
    export.json            the settings of the last run

Readable with ``pandas.read_parquet(DATASET / "index.parquet")``, polars, or Hugging Face
``datasets.load_dataset("parquet", data_files=".../index.parquet")``; ``python train.py data=exported
data.root=DATASET`` trains from it. A rerun skips finished records and redoes missing or partial ones.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from ecgcls.render.artifacts import ARTIFACTS, PRESETS, expand


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export records as an aligned dataset (signal, pictures, measurements, text)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ptbxl", required=True, help="PTB-XL root (folder with ptbxl_database.csv) or a .tar.xz pack")
    p.add_argument("--out", required=True, help="dataset folder (created; finished records are kept)")
    p.add_argument("--n", type=int, default=None, help="first N ecg_ids (default: all)")
    p.add_argument("--ids", type=int, nargs="*", help="explicit ecg_ids")
    p.add_argument("--fs", type=int, default=500, choices=[100, 500])
    p.add_argument("--pages", type=int, default=1, help="pictures per record")
    p.add_argument("--layout", nargs="*", default=["3x4+II"],
                   help="layouts to cycle through; 'random' (ecgcls's look) or 'randomized' (other generators')")
    p.add_argument("--artifacts", nargs="*", default=[], help=f"{', '.join([*ARTIFACTS, *PRESETS])}")
    p.add_argument("--dpi", type=float, default=200)
    p.add_argument("--jpeg", type=int, default=None, help="pictures as JPEG at this quality (default lossless PNG)")
    p.add_argument("--mask-format", default="npz", choices=["npz", "png"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port); default: a local "
                                                     "cluster on every core")
    p.add_argument("--workers", type=int, default=None, help="local cluster size (default: every core)")
    p.add_argument("--llm-endpoint", default=None, help="OpenAI-compatible endpoint to rewrite the text (off)")
    p.add_argument("--llm-model", default=None)
    p.add_argument("--cache-dir", default="~/.cache/ecgcls")
    p.set_defaults(func=run)


def finished(out: Path) -> dict[str, dict]:
    """Rows of the records whose folder is whole (``row.json`` present and every file it lists there); partial
    folders and a killed run's temporary folders are removed."""
    rec_dir = out / "records"
    done: dict[str, dict] = {}
    if not rec_dir.is_dir():
        return done
    for d in rec_dir.iterdir():
        if d.name.startswith(".tmp-"):
            shutil.rmtree(d, ignore_errors=True)
            continue
        row_file = d / "row.json"
        try:
            row = json.loads(row_file.read_text())
            if all((out / f).is_file() for f in json.loads(row["sha256"])):
                done[row["id"]] = row
                continue
        except (OSError, ValueError, KeyError):
            pass
        shutil.rmtree(d, ignore_errors=True)  # partial: redone
    return done


def write_index(out: Path, rows: list[dict] | None = None) -> Path:
    """``index.parquet`` from every finished record (``rows``: their rows when the caller has them, else read from
    the record folders) and every error row (written through a temporary name)."""
    import pandas as pd

    rows = list(finished(out).values()) if rows is None else list(rows)
    ok = {r["id"] for r in rows}
    for f in sorted((out / "errors").glob("*.json")) if (out / "errors").is_dir() else []:
        r = json.loads(f.read_text())
        if r["id"] not in ok:
            rows.append(r)
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values("id", kind="stable").reset_index(drop=True)
    tmp = out / ".index.parquet.tmp"
    df.to_parquet(tmp, index=False)
    os.replace(tmp, out / "index.parquet")
    return out / "index.parquet"


def run(args: argparse.Namespace) -> int:
    from ecgcls.data.ptbxl import derive_labels, load_database, resolve_root, statements_table
    from ecgcls.export.engine import run_tasks
    from ecgcls.export.record import export_record
    from ecgcls.jsonsafe import json_safe

    src = Path(args.ptbxl).expanduser()
    root = resolve_root(archive=src, cache_dir=args.cache_dir) if src.is_file() else resolve_root(root=src)
    db = load_database(root)
    ids = args.ids or [int(i) for i in db.index[: args.n]]
    missing = [i for i in ids if i not in db.index]
    if missing:
        raise ValueError(f"{root}: no ecg_id {missing[:5]} in ptbxl_database.csv")
    labels = {t: derive_labels(root, t, db=db) for t in ("superdiagnostic", "rhythm")}
    out = Path(args.out)
    (out / "records").mkdir(parents=True, exist_ok=True)
    (out / "errors").mkdir(exist_ok=True)
    statements = statements_table(root)
    shutil.copyfile(root / "scp_statements.csv", out / "scp_statements.csv")
    spec = {"out": str(out.resolve()), "root": str(root.resolve()), "fs": args.fs, "pages": args.pages,
            "layouts": list(args.layout), "artifacts": list(expand(args.artifacts)),
            "render": {} if args.layout in (["random"], ["randomized"]) else {"dpi": args.dpi},
            "seed": args.seed, "jpeg": args.jpeg, "png_level": 1, "mask_format": args.mask_format, "points": "npz",
            "statements": statements,
            "llm": {"endpoint": args.llm_endpoint, "model": args.llm_model} if args.llm_endpoint else None}
    (out / "export.json").write_text(json.dumps(json_safe({k: v for k, v in spec.items() if k != "statements"}),
                                                indent=1))
    done = finished(out)
    col = "filename_hr" if args.fs == 500 else "filename_lr"

    def rec(i: int) -> dict:
        r = db.loc[i]
        return {"id": f"{i:05d}", "ecg_id": i, "filename": r[col], "patient_id": r.get("patient_id"),
                "strat_fold": int(r["strat_fold"]), "scp_codes": dict(r["scp_codes"]),
                "labels": {t: [c for c in lab.columns if i in lab.index and lab.at[i, c] == 1]
                           for t, lab in labels.items()}}

    todo = [i for i in ids if f"{i:05d}" not in done]
    print(f"{len(ids)} records: {len(ids) - len(todo)} already exported, {len(todo)} to do")

    def on_row(row: dict) -> None:
        err = out / "errors" / f"{row['id']}.json"
        if row.get("status") == "ok":
            done[row["id"]] = json_safe(row)  # as its row.json holds it
            err.unlink(missing_ok=True)
        else:
            err.write_text(json.dumps(json_safe(row)))

    items = ((f"{i:05d}", spec, rec(i)) for i in todo)
    res = run_tasks(export_record, items, on_row, len(todo), args.scheduler, args.workers, "exporting")
    index = write_index(out, list(done.values()))  # (the folders were checked at the start; no second scan)
    rate = (res["ok"] + res["error"]) / res["seconds"] if res["seconds"] > 0 else 0.0
    print(f"exported {res['ok']} records, {res['error']} errors ({rate:.2f} records/s on {res['workers']} workers) "
          f"-> {index}")
    return 0 if res["error"] == 0 else 1
