"""Train from a dataset written by ``ecgcls export`` (``python train.py data=exported data.root=DATASET``).

The export's ``index.parquet`` gives each record's signal (WFDB), pictures, labels (``labels_<task>``) and
``strat_fold``; splits are by fold, as for PTB-XL (folds are patient-disjoint there; an export of another archive
must carry patient-disjoint folds in ``strat_fold``). ``source='signal'`` serves the signals (resampled to ``fs``,
with the same masking transforms as :class:`~ecgcls.data.PTBXLDataModule`); ``source='picture'`` the exported
pictures (or, with ``stage='mask'``, their trace masks) prepared like the picture models' training pictures.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ecgcls.data.datamodule import ImageDataset, SignalDataset, SignalTransform, SplitDataModule
from ecgcls.data.ptbxl import SUPERCLASSES

log = logging.getLogger(__name__)


def read_index(root: str | Path) -> pd.DataFrame:
    """The finished rows of an export's ``index.parquet`` (error rows dropped, and counted in the log)."""
    path = Path(root).expanduser() / "index.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not an ecgcls export (run `ecgcls export --out {Path(root)}` first)")
    df = pd.read_parquet(path)
    bad = df["status"] != "ok"
    if bad.any():
        log.info("%s: %d of %d records are error rows (skipped)", path, int(bad.sum()), len(df))
    return df[~bad].reset_index(drop=True)


class ExportedSignals:
    """``get(i)``: row ``i``'s signal, float32 (12, n_samples) mV at ``fs`` (read from its WFDB files)."""

    def __init__(self, root: Path, index: pd.DataFrame, fs: int, n_samples: int) -> None:
        self.root, self.index, self.fs, self.n_samples = root, index, int(fs), int(n_samples)

    def get(self, i: int) -> np.ndarray:
        from ecgcls.data.store import read_wfdb
        from ecgcls.data.transforms import resample_nan

        sig, fs = read_wfdb(self.root / self.index.at[i, "signal"])
        return resample_nan(sig, fs, self.fs, self.n_samples).astype(np.float32)


class ExportedImages:
    """``get(i, variant, channel)``: row ``i``'s ``variant``-th picture prepared like the picture models' inputs
    (channel 0), or its trace mask (channel 1); ``variants``: pictures per record (the fewest any row has)."""

    def __init__(self, root: Path, index: pd.DataFrame, size: Sequence[int], preprocess: str = "ink") -> None:
        self.root, self.index, self.size, self.method = root, index, tuple(size), preprocess
        self.variants = max(1, int(index["pictures"].map(len).min())) if len(index) else 1

    def get(self, i: int, variant: int = 0, channel: int = 0) -> np.ndarray:
        import cv2

        from ecgcls.data.images import mask_image, preprocess
        from ecgcls.render import load_mask

        if channel == 1:
            m = load_mask(self.root / self.index.at[i, "masks"][variant])
            return mask_image((m & ((1 << 12) - 1)) != 0, self.size)
        path = self.root / self.index.at[i, "pictures"][variant]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{path}: cannot read the exported picture")
        return preprocess(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), self.size, self.method)

    def layout(self, i: int) -> str:
        return str(self.index.at[i, "layouts"][0])


class ExportedDataModule(SplitDataModule):
    """Splits, labels and loaders over an ``ecgcls export`` dataset (see module doc).

    Parameters
    ----------
    root : str
        The export folder (with ``index.parquet``).
    fs, n_samples : int
        Signals are resampled to ``fs`` Hz and cut / NaN-padded to ``n_samples``.
    task : str
        Label set: a ``labels_<task>`` column of the index (``superdiagnostic``, ``rhythm``).
    source : str
        ``signal`` or ``picture``; ``stage`` (``picture``/``mask``) for pictures.
    """

    def __init__(self, root: str, fs: int = 100, n_samples: int | None = None, task: str = "superdiagnostic",
                 source: str = "signal", stage: str = "picture", folds: Mapping[str, Sequence[int]] | None = None,
                 min_class_count: int = 1, image_size: Sequence[int] = (208, 272), preprocess: str = "ink",
                 batch_size: int = 64, num_workers: int = 0, pin_memory: bool = False,
                 train_transform: SignalTransform | None = None, eval_transform: SignalTransform | None = None,
                 eval_seed: int = 1234) -> None:
        super().__init__(batch_size, num_workers, pin_memory)
        if source not in ("signal", "picture"):
            raise ValueError(f"data.source must be 'signal' or 'picture', got {source!r}")
        self.root, self.fs, self.task, self.source, self.stage = Path(root).expanduser(), int(fs), task, source, stage
        self.n_samples = int(n_samples or 10 * self.fs)
        self.folds = {k: [int(f) for f in v] for k, v in (folds or {"train": range(1, 9), "val": [9], "test": [10]}).items()}
        self.min_class_count, self.image_size, self.preprocess = min_class_count, tuple(image_size), preprocess
        self.train_transform, self.eval_transform, self.eval_seed = train_transform, eval_transform, eval_seed

    def _setup_once(self) -> None:
        if self._prepared:
            return
        index = read_index(self.root)
        col = f"labels_{self.task}"
        if col not in index.columns:
            have = [c[len("labels_"):] for c in index.columns if c.startswith("labels_")]
            raise ValueError(f"{self.root}: the export has no {col!r} (label sets: {have})")
        lab = index[col].map(list)
        classes = list(SUPERCLASSES) if self.task == "superdiagnostic" else sorted({c for v in lab for c in v})
        y = np.array([[c in v for c in classes] for v in lab], np.float32).reshape(len(index), len(classes))
        keep_cls = y.sum(0) >= self.min_class_count
        classes, y = [c for c, k in zip(classes, keep_cls) if k], y[:, keep_cls]
        labelled = y.sum(1) > 0
        if index["strat_fold"].isna().any():
            raise ValueError(f"{self.root}: some records have no strat_fold; splits need patient-disjoint folds")
        self.index, self.targets, self.classes = index, y, classes
        fold = index["strat_fold"].to_numpy()
        self.splits = {k: np.flatnonzero(labelled & np.isin(fold, v)) for k, v in self.folds.items()}
        if any(len(v) == 0 for v in self.splits.values()):
            raise ValueError(f"{self.root}: empty split with folds {self.folds}: "
                             f"{ {k: len(v) for k, v in self.splits.items()} }")
        self.signals = ExportedSignals(self.root, index, self.fs, self.n_samples)
        self.images = ExportedImages(self.root, index, self.image_size, self.preprocess)
        log.info("export %s: %s", self.root, {k: len(v) for k, v in self.splits.items()})
        self._prepared = True

    def dataset(self, split: str, source: str | None = None):
        self._setup_once()
        rows = self.splits[split]
        if (source or self.source) == "picture":
            stage = self.stage if split == "train" or self.stage == "mask" and split == "val" else "picture"
            return ImageDataset(self.images, rows, self.targets[rows], stage=stage, train=split == "train")
        if split == "train":
            return SignalDataset(self.signals, rows, self.targets[rows], self.train_transform)
        return SignalDataset(self.signals, rows, self.targets[rows], self.eval_transform, eval_seed=self.eval_seed)

    def describe(self) -> dict:
        self._setup_once()
        return {"root": str(self.root), "fs": self.fs, "task": self.task, "source": self.source,
                "classes": self.classes, "folds": self.folds, "sizes": {k: int(len(v)) for k, v in self.splits.items()},
                "split_ids": {k: [str(self.index.at[int(i), "id"]) for i in v] for k, v in self.splits.items()}}
