"""Several PTB-XL roots read as one dataset, each record split by the rule of the source it came from.

The pack (``ptbxl-mini``) and ``ptbxl-extra`` both carry ``strat_fold`` 1–7, yet the pack's folds 1–7 are the test
set and every extra record is for training: a split by fold number over the merged table would silently move 1,707
training records into the test set. So each source names its own ``{split: [folds]}`` mapping; a source may feed
only some splits (the extra records: ``train``). A record present in two sources is an error, not a duplicate, and
patients are checked to stay inside one split across all sources.

The full PTB-XL download is one source with PTB-XL's recommended folds (``data=ptbxl``), so nothing here assumes
the pack.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ecgcls.data.ptbxl import check_patients_disjoint, derive_labels, drop_rare_classes, make_splits, resolve_root

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Source:
    """One PTB-XL root and how its folds map to splits (splits it does not name get none of its records)."""

    name: str
    root: Path
    folds: dict[str, list[int]] = field(default_factory=dict)

    def describe(self) -> dict:
        return {"name": self.name, "root": str(self.root), "folds": {k: list(v) for k, v in self.folds.items()}}


def _folds(name: str, folds: Mapping[str, Sequence[int]] | None) -> dict[str, list[int]]:
    if not folds:
        raise ValueError(f"data source {name!r}: give its folds, e.g. {{train: [10], val: [8, 9], test: [1, 2]}}")
    unknown = set(folds) - set(SPLITS)
    if unknown:
        raise ValueError(f"data source {name!r}: unknown split(s) {sorted(unknown)}; use {', '.join(SPLITS)}")
    return {k: [int(f) for f in v] for k, v in folds.items()}


def resolve_sources(specs: Sequence[Mapping[str, Any]], cache_dir: str | Path = "~/.cache/ecgcls") -> list[Source]:
    """Turn config entries ``{name, root | archive, folds}`` into :class:`Source` objects (archives unpacked once
    into ``cache_dir``). Raises on a missing name, a repeated name, a source that gives neither root nor archive,
    or the same root named twice."""
    if not specs:
        raise ValueError("data.sources is empty: name at least one PTB-XL root or archive")
    out: list[Source] = []
    for i, spec in enumerate(specs):
        spec = dict(spec)
        name = str(spec.get("name") or "")
        if not name:
            raise ValueError(f"data.sources[{i}] has no name")
        if any(s.name == name for s in out):
            raise ValueError(f"data.sources: the name {name!r} is used twice")
        unknown = set(spec) - {"name", "root", "archive", "folds"}
        if unknown:
            raise ValueError(f"data source {name!r}: unknown key(s) {sorted(unknown)} (name, root, archive, folds)")
        root = resolve_root(spec.get("root"), spec.get("archive"), cache_dir)
        for s in out:
            if s.root.resolve() == root.resolve():
                raise ValueError(f"data sources {s.name!r} and {name!r} are the same PTB-XL root {root}")
        out.append(Source(name, root, _folds(name, spec.get("folds"))))
    return out


def merge_databases(sources: Sequence[Source], dbs: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The sources' ``ptbxl_database.csv`` tables (``dbs``, in the sources' order) as one, indexed by ``ecg_id``,
    with a ``source`` column. An ``ecg_id`` in two sources raises ``ValueError`` naming both and the first few ids."""
    seen: dict[int, str] = {}
    for s, db in zip(sources, dbs):
        twice = [int(i) for i in db.index if int(i) in seen]
        if twice:
            raise ValueError(f"{len(twice)} record(s) are in both data sources {seen[twice[0]]!r} ({twice[0]} ...) "
                             f"and {s.name!r}: first ecg_ids {twice[:5]}; a record may come from one source only")
        seen.update({int(i): s.name for i in db.index})
    frames = [db.assign(source=s.name) for s, db in zip(sources, dbs)]
    return pd.concat(frames, axis=0, sort=False)


def merge_labels(sources: Sequence[Source], task: str, dbs: Sequence[pd.DataFrame], min_count: int = 1) -> pd.DataFrame:
    """0/1 labels of every source's records for one label set (:func:`derive_labels` per root, so a pack's
    ``superdiagnostic.csv`` fills its records without ``scp_codes``), then rare classes dropped over the union."""
    parts = [derive_labels(s.root, task, db=db, min_count=0) for s, db in zip(sources, dbs)]
    classes = list(dict.fromkeys(c for p in parts for c in p.columns))
    labels = pd.concat([p.reindex(columns=classes, fill_value=0) for p in parts], axis=0).astype(np.int8)
    labels.index.name = "ecg_id"
    return drop_rare_classes(labels, task, min_count)


def make_source_splits(db: pd.DataFrame, ids, sources: Sequence[Source]) -> dict[str, np.ndarray]:
    """Split ``ids`` source by source, each by its own folds, then join the splits.

    Raises if a patient's records land in two splits (checked across sources on ``patient_id``) or a split ends up
    empty over all sources."""
    ids = np.asarray(sorted(int(i) for i in ids), dtype=np.int64)
    src_of = db.loc[ids, "source"].to_numpy()
    parts: dict[str, list[np.ndarray]] = {}
    for s in sources:
        mine = ids[src_of == s.name]
        if len(mine) == 0:
            raise ValueError(f"data source {s.name!r} ({s.root}) has no labelled records for this label set")
        for name, split_ids in make_splits(db, mine, s.folds, allow_empty=True).items():
            parts.setdefault(name, []).append(split_ids)
    out = {name: np.sort(np.concatenate(v)) for name, v in parts.items()}
    check_patients_disjoint(db, out)
    for name in ("train", "val", "test"):
        if name in out and len(out[name]) == 0:
            raise ValueError(f"split {name!r} has no labelled records in any data source")
    return out


class StoreUnion:
    """Several per-root stores (signal, digitized or picture stores) read as one, by ``ecg_id``.

    ``get``/``layout`` go to the store holding the record; ``ids`` is every store's ids in order."""

    def __init__(self, stores: Sequence[Any]) -> None:
        if not stores:
            raise ValueError("StoreUnion needs at least one store")
        self.stores = list(stores)
        self._owner: dict[int, Any] = {}
        for st in self.stores:
            for i in st.ids:
                if int(i) in self._owner:
                    raise ValueError(f"ecg_id {int(i)} is in two stores ({self._owner[int(i)].dir}, {st.dir})")
                self._owner[int(i)] = st
        self.ids = np.concatenate([np.asarray(st.ids, dtype=np.int64) for st in self.stores])
        self.variants = getattr(self.stores[0], "variants", 1)
        if any(getattr(st, "variants", 1) != self.variants for st in self.stores):
            raise ValueError("the stores of a union must hold the same number of variants")

    def _store(self, ecg_id: int):
        try:
            return self._owner[int(ecg_id)]
        except KeyError:
            raise KeyError(f"ecg_id {ecg_id} is in none of the stores {[str(s.dir) for s in self.stores]}") from None

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, ecg_id: int) -> bool:
        return int(ecg_id) in self._owner

    def get(self, ecg_id: int, *args, **kwargs) -> np.ndarray:
        return self._store(ecg_id).get(ecg_id, *args, **kwargs)

    def layout(self, ecg_id: int, *args, **kwargs) -> str:
        return self._store(ecg_id).layout(ecg_id, *args, **kwargs)

    @property
    def dir(self) -> list[Path]:
        return [st.dir for st in self.stores]

    def __getattr__(self, name: str):
        """A setting every store shares (a picture store's ``size``, ``preprocess``, a signal store's ``fs``)."""
        if name.startswith("_") or name == "stores":
            raise AttributeError(name)
        values = [getattr(st, name) for st in self.stores]
        if any(v != values[0] for v in values[1:]):
            raise AttributeError(f"the stores of this union differ in {name!r}: {values}")
        return values[0]
