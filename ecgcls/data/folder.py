"""Real pictures (scans, photos, PDF pages) from a folder, with labels in a CSV: the Pic2Diagnosis image
classifiers trained or tested on a user's own printouts.

The labels CSV (default ``<root>/labels.csv``) has one row per picture:

- ``file``: the picture's path relative to ``root`` (PNG, JPEG, TIFF, BMP, GIF, WebP or PDF; a PDF gives its
  first page);
- one column per class with 0/1 (``classes`` picks them; by default every column that is not reserved);
- the split: a ``split`` column (``train`` / ``val`` / ``test``), or a ``fold`` column (integers) with
  ``folds`` mapping split names to fold numbers;
- optionally ``patient_id``: a patient's pictures must all lie in one split (checked, so nothing leaks).

Every picture is read and preprocessed once (:func:`ecgcls.data.images.preprocess`, the same function as at
predict time) and kept in memory as uint8 (224x288: 65 kB each). Problems (missing files, unreadable
pictures, labels other than 0/1, an empty split) raise one error that lists every offending row.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ecgcls.data.datamodule import SplitDataModule

log = logging.getLogger(__name__)

RESERVED = ("file", "split", "fold", "patient_id")
SPLITS = ("train", "val", "test")


class FolderPictures(Dataset):
    """(picture tensor (1, H, W), target (C,)) from preprocessed uint8 pictures held in memory."""

    def __init__(self, pictures: np.ndarray, targets: np.ndarray, files: Sequence[str]) -> None:
        if len(pictures) != len(targets) or len(files) != len(targets):
            raise ValueError(f"{len(pictures)} pictures, {len(targets)} target rows, {len(files)} files")
        self.pictures, self.targets, self.files = pictures, np.asarray(targets, np.float32), list(files)

    def __len__(self) -> int:
        return len(self.pictures)

    def __getitem__(self, idx: int):
        from ecgcls.data.images import to_tensor

        return to_tensor(self.pictures[idx]), torch.from_numpy(self.targets[idx])


def read_labels(csv_path: str | Path, classes: Sequence[str] | None = None,
                folds: Mapping[str, Sequence[int]] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The labels CSV → (table with a ``split`` column, class names). Raises ValueError naming the problem."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: labels CSV not found (columns: file, one 0/1 column per class, "
                                f"split or fold)")
    df = pd.read_csv(csv_path)
    if "file" not in df.columns:
        raise ValueError(f"{csv_path}: no 'file' column (columns: {', '.join(map(str, df.columns))})")
    classes = list(classes) if classes else [c for c in df.columns if c not in RESERVED]
    missing = [c for c in classes if c not in df.columns]
    if missing or not classes:
        raise ValueError(f"{csv_path}: class columns {missing or '(none)'} missing; columns: {', '.join(df.columns)}")
    bad = [f"row {i + 2} ({df['file'].iat[i]}): {c}={df[c].iat[i]}" for c in classes
           for i in np.flatnonzero(~df[c].isin([0, 1]).to_numpy())]
    if bad:
        raise ValueError(f"{csv_path}: labels must be 0 or 1; {len(bad)} bad cells, e.g. " + "; ".join(bad[:5]))
    if df["file"].duplicated().any():
        raise ValueError(f"{csv_path}: files listed twice: {sorted(set(df['file'][df['file'].duplicated()]))[:5]}")
    df = df.copy()
    if "split" in df.columns:
        unknown = sorted(set(df["split"].astype(str)) - set(SPLITS))
        if unknown:
            raise ValueError(f"{csv_path}: split must be one of {SPLITS}, found {unknown}")
        df["split"] = df["split"].astype(str)
    elif "fold" in df.columns:
        if not folds:
            raise ValueError(f"{csv_path}: a 'fold' column needs data.folds (e.g. {{train: [1, 2, 3], val: [4], "
                             f"test: [5]}})")
        of = {int(f): s for s, fs in folds.items() for f in fs}
        df["split"] = df["fold"].map(lambda f: of.get(int(f), ""))
        df = df[df["split"] != ""]
    else:
        raise ValueError(f"{csv_path}: needs a 'split' column (train/val/test) or a 'fold' column with data.folds")
    if "patient_id" in df.columns:
        n_splits = df.groupby("patient_id")["split"].nunique()
        leaky = n_splits[n_splits > 1].index.tolist()
        if leaky:
            raise ValueError(f"{csv_path}: patients in more than one split (test leakage): {leaky[:5]}")
    return df.reset_index(drop=True), classes


def load_pictures(root: Path, files: Sequence[str], size: tuple[int, int], method: str,
                  progress: bool = True) -> np.ndarray:
    """Read and preprocess every picture: uint8 (N, H, W). Raises ValueError listing every file that failed."""
    from ecgcls.data.images import preprocess
    from ecgcls.digitize.io import ImageError, load_image

    out = np.zeros((len(files), *size), np.uint8)
    errors = []
    for i, f in enumerate(tqdm(files, desc="reading pictures", unit="pic", disable=not progress)):
        try:
            out[i] = preprocess(load_image(root / f), size, method)
        except (ImageError, ValueError, OSError) as exc:
            errors.append(str(exc) if str(root / f) in str(exc) else f"{root / f}: {exc}")
    if errors:
        raise ValueError(f"{len(errors)} of {len(files)} pictures under {root} could not be used:\n  "
                         + "\n  ".join(errors[:20]) + ("\n  ..." if len(errors) > 20 else ""))
    return out


class PictureFolderDataModule(SplitDataModule):
    """A folder of labelled pictures for the image classifiers (``data=picture_folder``).

    Parameters
    ----------
    root : str
        Folder the ``file`` column is relative to.
    labels_csv : str, optional
        The labels table (default ``<root>/labels.csv``); format in the module docstring.
    classes : list of str, optional
        Class columns to use, in order (default: every non-reserved column). To fine-tune a bundled model,
        give its classes in its order.
    folds : mapping, optional
        ``{"train": [...], "val": [...], "test": [...]}`` when the CSV has a ``fold`` column.
    size : (H, W)
        Preprocessed picture size; must match the model's (a bundle's ``image_size``).
    preprocess : str
        ``"ink"`` or ``"gray"`` (:func:`ecgcls.data.images.preprocess`).
    """

    def __init__(self, root: str, labels_csv: str | None = None, classes: Sequence[str] | None = None,
                 folds: Mapping[str, Sequence[int]] | None = None, size: Sequence[int] = (224, 288),
                 preprocess: str = "ink", batch_size: int = 32, num_workers: int = 0, pin_memory: bool = False,
                 stage: str = "picture", **_ignored) -> None:
        super().__init__(batch_size, num_workers, pin_memory)
        if root is None:
            raise ValueError("data.root must point at the folder of pictures")
        self.root = Path(root).expanduser()
        self.labels_csv = Path(labels_csv).expanduser() if labels_csv else self.root / "labels.csv"
        self.classes_cfg = list(classes) if classes else None
        self.folds = {k: [int(f) for f in v] for k, v in folds.items()} if folds else None
        self.size, self.preprocess = (int(size[0]), int(size[1])), preprocess
        self.stage = stage
        self.train_transform = self.eval_transform = None  # signal transforms do not apply to pictures

    def _setup_once(self) -> None:
        if self._prepared:
            return
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: picture folder not found")
        df, self.classes = read_labels(self.labels_csv, self.classes_cfg, self.folds)
        empty = [s for s in SPLITS if not (df["split"] == s).any()]
        if empty:
            raise ValueError(f"{self.labels_csv}: no pictures in split(s) {empty}; every split needs some")
        self.table = df
        self.pictures = load_pictures(self.root, df["file"].tolist(), self.size, self.preprocess)
        self.targets = df[self.classes].to_numpy(np.float32)
        self.splits = {s: np.flatnonzero(df["split"].to_numpy() == s) for s in SPLITS}
        log.info("pictures per split: %s; classes %s", {k: len(v) for k, v in self.splits.items()}, self.classes)
        self._prepared = True

    def dataset(self, split: str, source: str = "picture") -> FolderPictures:
        self._setup_once()
        if self.stage == "mask":
            raise ValueError("real pictures have no trace masks: run the curriculum's mask stage on rendered "
                             "pictures (data=ptbxl_images), then fine-tune on this folder")
        idx = self.splits[split]
        return FolderPictures(self.pictures[idx], self.targets[idx], self.table["file"].iloc[idx].tolist())

    def describe(self) -> dict:
        self._setup_once()
        files = self.table["file"].to_numpy()
        return {"root": str(self.root), "labels_csv": str(self.labels_csv), "classes": self.classes,
                "size": list(self.size), "preprocess": self.preprocess,
                "sizes": {k: int(len(v)) for k, v in self.splits.items()},
                "split_ids": {k: [str(f) for f in files[v]] for k, v in self.splits.items()}}
