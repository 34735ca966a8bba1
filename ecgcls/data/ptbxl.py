"""PTB-XL in its official folder layout: database, label sets, splits.

Works unchanged on the full PTB-XL 1.0.3 download and on the ``ptbxl-mini`` pack
(see ``shared/data/README.md``): both have ``ptbxl_database.csv``, ``scp_statements.csv``
and ``records100/`` / ``records500/``. The pack additionally ships ``superdiagnostic.csv``
for records whose ``scp_codes`` are empty.
"""
from __future__ import annotations

import ast
import logging
import tarfile
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SUPERCLASSES: tuple[str, ...] = ("NORM", "MI", "STTC", "CD", "HYP")
TASKS: tuple[str, ...] = ("superdiagnostic", "subdiagnostic", "rhythm", "form", "all")
DATABASE_CSV = "ptbxl_database.csv"
STATEMENTS_CSV = "scp_statements.csv"
SUPERDIAG_CSV = "superdiagnostic.csv"


def find_root(path: str | Path) -> Path:
    """Return the folder holding ``ptbxl_database.csv`` at or one level below ``path``."""
    path = Path(path).expanduser()
    if (path / DATABASE_CSV).is_file():
        return path
    if path.is_dir():
        hits = sorted(p.parent for p in path.glob(f"*/{DATABASE_CSV}"))
        if len(hits) == 1:
            return hits[0]
    raise FileNotFoundError(
        f"{path}: no {DATABASE_CSV} here or one folder below; point data.root at a PTB-XL "
        "download (the folder with ptbxl_database.csv and records100/ records500/)"
    )


def unpack_archive(archive: str | Path, cache_dir: str | Path) -> Path:
    """Unpack a PTB-XL ``.tar.xz`` pack into ``cache_dir`` once and return its PTB-XL root.

    A marker file is written after a complete extraction, so an interrupted unpack is redone.
    """
    archive = Path(archive).expanduser()
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: PTB-XL archive not found; set data.archive or data.root")
    dest = Path(cache_dir).expanduser() / archive.name.split(".")[0]
    marker = dest / ".unpacked"
    if not marker.is_file():
        dest.mkdir(parents=True, exist_ok=True)
        log.info("unpacking %s into %s", archive, dest)
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
        marker.write_text(str(archive.stat().st_mtime))
    return find_root(dest)


def resolve_root(root: str | Path | None = None, archive: str | Path | None = None,
                 cache_dir: str | Path = "~/.cache/ecgcls") -> Path:
    """PTB-XL root from an explicit ``root`` or, failing that, by unpacking ``archive``."""
    if root:
        return find_root(root)
    if archive:
        return unpack_archive(archive, cache_dir)
    raise ValueError("set data.root (a PTB-XL folder) or data.archive (a PTB-XL .tar.xz pack)")


def _parse_scp(value: object) -> dict[str, float]:
    if not isinstance(value, str) or not value.strip():
        return {}
    parsed = ast.literal_eval(value)
    if not isinstance(parsed, dict):
        raise ValueError(f"scp_codes {value!r} is not a dict")
    return {str(k): float(v) for k, v in parsed.items()}


def load_database(root: str | Path) -> pd.DataFrame:
    """``ptbxl_database.csv`` indexed by ``ecg_id`` with ``scp_codes`` parsed to dicts."""
    root = find_root(root)
    db = pd.read_csv(root / DATABASE_CSV, index_col="ecg_id")
    missing = {"strat_fold", "filename_lr", "filename_hr"} - set(db.columns)
    if missing:
        raise ValueError(f"{root / DATABASE_CSV}: missing columns {sorted(missing)}")
    db["scp_codes"] = [_parse_scp(v) for v in db.get("scp_codes", pd.Series(index=db.index, dtype=object))]
    if "patient_id" not in db.columns:
        db["patient_id"] = np.nan
    return db


def load_statements(root: str | Path) -> pd.DataFrame:
    """``scp_statements.csv`` indexed by statement code."""
    return pd.read_csv(find_root(root) / STATEMENTS_CSV, index_col=0)


def statements_table(root: str | Path) -> dict[str, dict]:
    """``scp_statements.csv`` as plain dicts: code → description, diagnostic / form / rhythm flags, diagnostic
    class and subclass (None where empty) — for JSON specs, report texts and question building."""
    st = load_statements(root)
    keep = [c for c in ("description", "diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass")
            if c in st.columns]
    return {str(code): {k: (None if v != v else v) for k, v in row.items()} for code, row in st[keep].iterrows()}


def class_names(statements: pd.DataFrame, task: str) -> list[str]:
    """The full, ordered class list of a label set, independent of which records are loaded."""
    if task == "superdiagnostic":
        return list(SUPERCLASSES)
    if task == "subdiagnostic":
        return sorted(statements.loc[statements.diagnostic == 1, "diagnostic_subclass"].dropna().unique())
    if task in ("rhythm", "form"):
        return sorted(statements.index[statements[task] == 1])
    if task == "all":
        return sorted(statements.index)
    raise ValueError(f"unknown label task {task!r}; choose one of {', '.join(TASKS)}")


def _codes_to_classes(codes: Mapping[str, float], statements: pd.DataFrame, task: str) -> set[str]:
    """Map one record's scp codes to classes the way the PTB-XL benchmark does.

    Every listed statement counts, whatever its likelihood (as in the benchmark's
    ``compute_label_aggregations``).
    """
    out: set[str] = set()
    for code in codes:
        if code not in statements.index:
            continue
        row = statements.loc[code]
        if task == "superdiagnostic" and row.diagnostic == 1 and isinstance(row.diagnostic_class, str):
            out.add(row.diagnostic_class)
        elif task == "subdiagnostic" and row.diagnostic == 1 and isinstance(row.diagnostic_subclass, str):
            out.add(row.diagnostic_subclass)
        elif task in ("rhythm", "form") and row[task] == 1:
            out.add(code)
        elif task == "all":
            out.add(code)
    return out


def derive_labels(root: str | Path, task: str = "superdiagnostic", db: pd.DataFrame | None = None,
                  min_count: int = 1) -> pd.DataFrame:
    """0/1 label matrix (index ``ecg_id``, one column per class) for a label set.

    Records without any label of the set are dropped and the count is logged. For records
    with empty ``scp_codes``, superdiagnostic labels come from ``superdiagnostic.csv`` when
    the root has one. Classes with fewer than ``min_count`` positives among the kept
    records are removed (the benchmark keeps classes with at least one).
    """
    root = find_root(root)
    db = load_database(root) if db is None else db
    statements = load_statements(root)
    classes = class_names(statements, task)
    rows: dict[int, set[str]] = {}
    for ecg_id, codes in db["scp_codes"].items():
        if codes:
            rows[int(ecg_id)] = _codes_to_classes(codes, statements, task)
    if task == "superdiagnostic" and (root / SUPERDIAG_CSV).is_file():
        extra = pd.read_csv(root / SUPERDIAG_CSV, index_col="ecg_id")
        for ecg_id, r in extra.iterrows():
            if int(ecg_id) not in rows and int(ecg_id) in db.index:
                rows[int(ecg_id)] = {c for c in SUPERCLASSES if r.get(c, 0) == 1}
    labels = pd.DataFrame(0, index=pd.Index(sorted(rows), name="ecg_id"), columns=classes, dtype=np.int8)
    for ecg_id, found in rows.items():
        for c in found:
            labels.at[ecg_id, c] = 1
    keep = labels.sum(axis=1) > 0
    dropped = int((~keep).sum()) + int(len(db) - len(rows))
    labels = drop_rare_classes(labels[keep], task, min_count)
    log.info("%s labels: kept %d records, dropped %d without a label in the set", task, len(labels), dropped)
    return labels


def drop_rare_classes(labels: pd.DataFrame, task: str, min_count: int) -> pd.DataFrame:
    """``labels`` without the classes that have fewer than ``min_count`` positives, and without the records left
    with no label at all."""
    counts = labels.sum(axis=0)
    rare = [c for c in labels.columns if counts[c] < min_count]
    if rare:
        log.info("%s: dropping %d classes with < %d positives: %s", task, len(rare), min_count, rare)
        labels = labels.drop(columns=rare)
        labels = labels[labels.sum(axis=1) > 0]
    return labels


def make_splits(db: pd.DataFrame, ids: Iterable[int], folds: Mapping[str, Sequence[int]],
                allow_empty: bool = False) -> dict[str, np.ndarray]:
    """Split ``ids`` by ``strat_fold``; raises if a fold is used twice or a patient spans splits, and (unless
    ``allow_empty``: one of several sources, see :mod:`ecgcls.data.sources`) if a split is empty.

    PTB-XL assigns whole patients to folds, so fold splits are patient-disjoint by design; this is
    checked on every record that carries a ``patient_id``.
    """
    ids = np.asarray(sorted(ids), dtype=np.int64)
    seen: dict[int, str] = {}
    for name, fs in folds.items():
        for f in fs:
            if int(f) in seen:
                raise ValueError(f"strat_fold {f} is in both {seen[int(f)]!r} and {name!r} splits")
            seen[int(f)] = name
    fold_of = db.loc[ids, "strat_fold"].astype(int).to_numpy()
    out = {name: ids[np.isin(fold_of, [int(f) for f in fs])] for name, fs in folds.items()}
    check_patients_disjoint(db, out)
    for name, split_ids in out.items():
        if len(split_ids) == 0 and not allow_empty:
            raise ValueError(f"split {name!r} (folds {list(folds[name])}) has no labelled records")
    return out


def check_patients_disjoint(db: pd.DataFrame, splits: Mapping[str, np.ndarray]) -> None:
    """Raise if a ``patient_id`` has records in two splits (records without one are not checked)."""
    owner: dict[float, str] = {}
    for name, split_ids in splits.items():
        for pid in db.loc[split_ids, "patient_id"].dropna().unique():
            if pid in owner and owner[pid] != name:
                raise ValueError(f"patient {pid:.0f} appears in both {owner[pid]!r} and {name!r} splits")
            owner[pid] = name
