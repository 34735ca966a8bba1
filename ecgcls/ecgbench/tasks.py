"""ECGBench-style tasks built deterministically from a labelled picture set.

An *item* is one picture with its truth: PTB-XL superclasses (multi-hot), its statements (SCP codes with
descriptions) and, where the source signal is known, its measurements (``ecgcls.measure`` on the true signal).
Three tasks per item:

1. ``detect`` — abnormality detection: which of NORM, MI, STTC, CD, HYP (multi-label).
2. ``mcq`` — multiple choice: one of the record's statements among ``k − 1`` distractors, statements drawn from
   other records of the set that this record does not have (seeded by the item; chance = 1 / k).
3. ``report`` — a structured report: rhythm (SR / AFIB / other), rate, frontal axis category (normal / left /
   right), PR, QRS and QT intervals, and the superclasses — scored field by field by :mod:`ecgcls.ecgbench.score`.
   PTB-XL has no reference intervals, so the rate, axis and interval truth is :func:`ecgcls.measure.measure` on
   the record's true signal: the report task favours ecgcls (which measures the same way on what it reads) — read
   its score as "how well the picture was read", not as a neutral comparison.

Sources: ``render`` (PTB-XL test-fold records drawn by ecgcls's renderer, layouts × artifacts), ``eik``
(``eik-validation``: for measuring only), or a folder with a ``labels.csv`` (``file``, 0/1 class columns,
optionally ``scp_codes``).
"""
from __future__ import annotations

import ast
import json
import string
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ecgcls.data.ptbxl import SUPERCLASSES

LETTERS = string.ascii_uppercase


@dataclass
class Item:
    id: str
    picture: str
    labels: list[str]                       # superclasses
    statements: dict[str, str] = field(default_factory=dict)    # code -> description
    truth: dict = field(default_factory=dict)                   # report truth (rhythm, rate, axis, intervals)
    mcq: dict = field(default_factory=dict)                     # {"options": [...], "answer": "B", "codes": [...]}


def axis_category(deg: float | None) -> str | None:
    """Frontal QRS axis → 'normal' (−30…90°), 'left' (< −30°), 'right' (> 90°); None when not measured."""
    if deg is None or not np.isfinite(deg):
        return None
    return "left" if deg < -30 else "right" if deg > 90 else "normal"


def report_truth(codes: dict, labels: list[str], m: dict | None) -> dict:
    """The structured report's truth: rhythm from the statements, the rest from the measurements of the true
    signal (None where not measurable) and the superclasses."""
    rhythm = "AFIB" if "AFIB" in codes else "SR" if "SR" in codes else "other"
    g = (m or {}).get("global", {})

    def val(k):
        v = g.get(k)
        return None if v is None or not np.isfinite(v) else round(float(v), 1)

    return {"rhythm": rhythm, "rate_bpm": val("hr_bpm"), "axis": axis_category(g.get("qrs_axis_deg")),
            "pr_ms": val("pr_ms"), "qrs_ms": val("qrs_ms"), "qt_ms": val("qt_ms"), "diagnoses": sorted(labels)}


def make_mcq(item: Item, pool: dict[str, str], k: int, seed: int) -> dict:
    """One correct statement of the item and ``k − 1`` distractors from ``pool`` (code → description) that the
    item does not have; options shuffled; all seeded by (seed, item id)."""
    if not item.statements:
        return {}
    rng = np.random.default_rng([seed, *[ord(c) for c in item.id]])
    codes = sorted(item.statements)
    correct = codes[int(rng.integers(len(codes)))]
    others = sorted(c for c in pool if c not in item.statements)
    if len(others) < k - 1:
        return {}
    chosen = [correct, *rng.choice(others, size=k - 1, replace=False).tolist()]
    order = rng.permutation(k)
    opts = [chosen[i] for i in order]
    return {"codes": opts, "options": [pool.get(c, item.statements.get(c, c)) for c in opts],
            "answer": LETTERS[opts.index(correct)]}


def _ptbxl_items(root: Path, pictures: list[tuple[str, int]], measure_truth: bool = True) -> list[Item]:
    """Items for pictures of PTB-XL records: (picture path, ecg_id)."""
    from ecgcls.data.ptbxl import derive_labels, load_database, statements_table
    from ecgcls.data.store import read_wfdb
    from ecgcls.jsonsafe import json_safe
    from ecgcls.measure import measure

    db = load_database(root)
    lab = derive_labels(root, "superdiagnostic", db=db)
    st = statements_table(root)
    items, measured = [], {}
    for pic, ecg_id in pictures:
        codes = dict(db.at[ecg_id, "scp_codes"])
        labels = [c for c in SUPERCLASSES if ecg_id in lab.index and lab.at[ecg_id, c] == 1]
        if ecg_id not in measured:
            m = None
            if measure_truth:
                sig, fs = read_wfdb(root / db.at[ecg_id, "filename_hr"])
                m = json_safe(measure(sig, fs))
            measured[ecg_id] = m
        items.append(Item(id=Path(pic).stem, picture=str(pic), labels=labels,
                          statements={c: st.get(c, {}).get("description") or c for c in codes},
                          truth=report_truth(codes, labels, measured[ecg_id])))
    return items


def build_items(source: str, shared: Path, cache_dir: Path, n: int = 100, layouts: tuple[str, ...] = ("3x4+II",),
                artifacts: tuple[str, ...] = ("clean",), seed: int = 0, k: int = 4) -> list[Item]:
    """The items of a set (see module doc), with their multiple-choice questions."""
    from ecgcls.data.ptbxl import resolve_root

    if source in ("render", "eik"):
        root = resolve_root(archive=shared / "data" / "ptbxl-mini.tar.xz", cache_dir=cache_dir)
    if source == "eik":
        import pandas as pd

        folder = shared / "data" / "eik-validation"
        man = pd.read_csv(folder / "manifest.csv")
        pics = [(str(folder / r.image), int(r.ecg_id)) for r in man.itertuples()][:n]
        items = _ptbxl_items(root, pics)
    elif source == "render":
        items = _ptbxl_items(root, render_set(root, cache_dir, n, layouts, artifacts, seed))
    else:
        items = folder_items(Path(source))
    pool: dict[str, str] = {}
    for it in items:
        pool.update(it.statements)
    for it in items:
        it.mcq = make_mcq(it, pool, k, seed)
    return items


def render_set(root: Path, cache_dir: Path, n: int, layouts, artifacts, seed: int = 0) -> list[tuple[str, int]]:
    """``n`` PTB-XL test-fold records (folds 1–7 of the pack; a seeded sample) drawn once into the cache:
    (picture, ecg_id). ``artifacts``: presets or single artifacts; an unknown name raises ``ValueError``."""
    from ecgcls.data.pagestore import draw_pages
    from ecgcls.data.ptbxl import derive_labels, load_database, make_splits

    db = load_database(root)
    test = make_splits(db, derive_labels(root, "superdiagnostic", db=db).index,
                       {"train": [10], "val": [8, 9], "test": list(range(1, 8))})["test"]
    ids = sorted(np.random.default_rng(seed).permutation(test)[:n].tolist())  # a seeded sample, not the first n
    return draw_pages(ids, layouts, artifacts, root, cache_dir, Path(cache_dir).expanduser() / "ecgbench" / "render",
                      progress=False)


def folder_items(folder: Path) -> list[Item]:
    """Items from a user's folder: ``labels.csv`` with ``file``, 0/1 superclass columns and optionally
    ``scp_codes`` (a dict literal, for multiple choice) — no measurement truth (report fields from the
    statements only)."""
    import pandas as pd

    csv = folder / "labels.csv"
    if not csv.is_file():
        raise FileNotFoundError(f"{csv}: a labelled folder needs labels.csv (file, NORM, MI, STTC, CD, HYP, "
                                "[scp_codes])")
    df = pd.read_csv(csv)
    missing = [c for c in ("file", *SUPERCLASSES) if c not in df.columns]
    if missing:
        raise ValueError(f"{csv}: missing columns {missing}")
    items = []
    for r in df.itertuples():
        codes = ast.literal_eval(r.scp_codes) if "scp_codes" in df.columns and isinstance(r.scp_codes, str) else {}
        labels = [c for c in SUPERCLASSES if int(getattr(r, c)) == 1]
        pic = folder / r.file
        if not pic.is_file():
            raise FileNotFoundError(f"{csv}: {r.file} not found in {folder}")
        items.append(Item(id=Path(r.file).stem, picture=str(pic), labels=labels,
                          statements={c: c for c in codes}, truth=report_truth(codes, labels, None)))
    return items


def save_items(items: list[Item], path: Path) -> None:
    path.write_text(json.dumps([asdict(i) for i in items], indent=1))


def load_items(path: Path) -> list[Item]:
    return [Item(**d) for d in json.loads(path.read_text())]
