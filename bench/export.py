"""``ecgcls export`` at scale on this machine: records/s with 1 and all Dask workers, bytes per record, and a
kill-and-resume check.

    python bench/export.py [--n 120]

Each run is the CLI as a user runs it (a subprocess, Dask local cluster, PTB-XL pack at 500 Hz, one 3x4+II
picture per record, measurements and text): records/s over the whole wall time (interpreter start-up included)
and over the command's own run (from its Dask cluster's start, as it prints). Kill-and-resume: start an export, SIGKILL its whole process group mid-run, run
it again, then check that the index has every id exactly once, that every file an index row names exists, and
that every checksum matches. Writes bench/out/export.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import REPO, write_json  # noqa: E402

PACK = Path(os.environ.get("ECGCLS_SHARED", REPO.parent / "shared")) / "data" / "ptbxl-mini.tar.xz"


def export(out: Path, n: int, workers: int, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ecgcls.cli", "export", "--ptbxl", str(PACK), "--out", str(out),
                             "--n", str(n), "--workers", str(workers)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def check(out: Path, n: int) -> dict:
    import pandas as pd

    idx = pd.read_parquet(out / "index.parquet")
    ids = list(idx["id"])
    bad_files, bad_sums = 0, 0
    for _, row in idx[idx["status"] == "ok"].iterrows():
        for rel, digest in json.loads(row["sha256"]).items():
            p = out / rel
            if not p.is_file():
                bad_files += 1
            elif hashlib.sha256(p.read_bytes()).hexdigest() != digest:
                bad_sums += 1
    return {"rows": len(ids), "unique_ids": len(set(ids)), "expected": n, "missing_files": bad_files,
            "checksum_mismatches": bad_sums, "errors": int((idx["status"] != "ok").sum()),
            "leftover_tmp": len(list((out / "records").glob(".tmp-*")))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=120)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    res = {"cpu_count": cores, "records": args.n, "source": "PTB-XL pack, 500 Hz, one 3x4+II PNG per record",
           "timed": "`ecgcls export --n N --workers W` as a subprocess: wall = interpreter start-up included; run = "
                    "from the Dask cluster's start (the command's own summary)", "runs": {}}
    tmp = Path(tempfile.mkdtemp())
    try:
        for w in sorted({1, cores}):
            out = tmp / f"w{w}"
            t = time.perf_counter()
            p = export(out, args.n, w)
            stdout, stderr = p.communicate()
            wall = time.perf_counter() - t
            if p.returncode not in (0, 1):
                raise SystemExit(stderr[-2000:])
            m = re.search(r"\(([\d.]+) records/s on (\d+) workers\)", stdout)
            size = sum(f.stat().st_size for f in (out / "records").rglob("*") if f.is_file()) / args.n
            row = {"workers": w, "wall_s": round(wall, 1), "records_per_s_wall": round(args.n / wall, 2),
                   "records_per_s_run": float(m.group(1)) if m else None, "bytes_per_record_kib": round(size / 1024),
                   **check(out, args.n)}
            res["runs"][f"{w} worker(s)"] = row
            print(f"{w} worker(s): {args.n} records in {wall:.1f} s wall ({row['records_per_s_wall']} records/s; "
                  f"{row['records_per_s_run']} records/s from cluster start), {row['bytes_per_record_kib']} KiB/record")
        # kill mid-run, then resume
        out = tmp / "killed"
        p = export(out, args.n, cores, start_new_session=True)
        while not (out / "records").is_dir() or len([d for d in (out / "records").iterdir()
                                                       if not d.name.startswith(".")]) < args.n // 3:
            time.sleep(0.2)
            if p.poll() is not None:
                raise SystemExit("the export finished before it could be killed; use a larger --n")
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        done_at_kill = len([d for d in (out / "records").iterdir() if not d.name.startswith(".")])
        tmp_at_kill = len(list((out / "records").glob(".tmp-*")))
        p = export(out, args.n, cores)
        stdout, _ = p.communicate()
        again = re.search(r"(\d+) already exported, (\d+) to do", stdout)
        res["kill_and_resume"] = {"records_done_at_kill": done_at_kill, "tmp_folders_at_kill": tmp_at_kill,
                                  "rerun_skipped": int(again.group(1)) if again else None,
                                  "rerun_did": int(again.group(2)) if again else None, **check(out, args.n)}
        print("kill and resume:", res["kill_and_resume"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_json("export", res)


if __name__ == "__main__":
    main()
