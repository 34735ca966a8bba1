"""LightningDataModule for PTB-XL signals (12 leads, 10 s) with multi-label targets."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Mapping, Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ecgcls.data.ptbxl import load_database, resolve_root
from ecgcls.data.sources import (Source, StoreUnion, make_source_splits, merge_databases, merge_labels,
                                 resolve_sources)
from ecgcls.data.store import SignalStore

log = logging.getLogger(__name__)

#: A signal transform: (signal float32 (12, T) in mV, rng) -> signal (NaN allowed where unknown).
SignalTransform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class SignalDataset(Dataset):
    """(signal, target) pairs from a :class:`SignalStore`.

    ``transform`` gets a fresh generator per item: in training it is drawn from torch's RNG
    (seeded per worker by Lightning, so re-drawn every epoch yet reproducible); in evaluation
    it is fixed by ``eval_seed`` and the item index so every evaluation sees the same inputs.
    """

    def __init__(self, store: SignalStore, ids: np.ndarray, targets: np.ndarray,
                 transform: SignalTransform | None = None, eval_seed: int | None = None,
                 digitized=None, digitized_prob: float = 0.0) -> None:
        if len(ids) != len(targets):
            raise ValueError(f"{len(ids)} ids but {len(targets)} target rows")
        self.store, self.ids, self.targets = store, np.asarray(ids), np.array(targets, dtype=np.float32)
        self.transform, self.eval_seed = transform, eval_seed
        self.digitized, self.digitized_prob = digitized, digitized_prob

    def __len__(self) -> int:
        return len(self.ids)

    def rng(self, idx: int) -> np.random.Generator:
        if self.eval_seed is not None:
            return np.random.default_rng([self.eval_seed, idx])
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = self.rng(idx)
        if self.digitized is not None and self.digitized_prob > 0 and rng.random() < self.digitized_prob:
            # the record as the digitizer read it from a rendered picture (its own layout and gaps)
            x = self.digitized.get(int(self.ids[idx]), int(rng.integers(self.digitized.variants)))
        else:
            x = self.store.get(int(self.ids[idx]))
            if self.transform is not None:
                x = self.transform(x, rng)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(self.targets[idx])


class SplitDataModule(L.LightningDataModule):
    """Train/val/test loaders over ``self.dataset(split)``; subclasses set ``batch_size``, ``num_workers``,
    ``pin_memory`` and implement ``_setup_once`` (idempotent, sets ``classes`` and ``splits``), ``dataset``
    and ``describe``."""

    def __init__(self, batch_size: int = 64, num_workers: int = 0, pin_memory: bool = False) -> None:
        super().__init__()
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.classes: list[str] = []
        self.splits: dict[str, np.ndarray] = {}
        self._prepared = False

    def prepare_data(self) -> None:
        self._setup_once()

    def setup(self, stage: str | None = None) -> None:
        self._setup_once()

    def _setup_once(self) -> None:
        raise NotImplementedError

    def dataset(self, split: str) -> Dataset:
        raise NotImplementedError

    def describe(self) -> dict:
        raise NotImplementedError

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(self.dataset(split), batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, pin_memory=self.pin_memory,
                          persistent_workers=self.num_workers > 0, drop_last=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def save_split(self, path: str | Path) -> None:
        """What the run used, with the exact members of each split (``split.json``)."""
        Path(path).write_text(json.dumps(self.describe(), indent=1))


class PTBXLDataModule(SplitDataModule):
    """PTB-XL signals split by ``strat_fold``, from one PTB-XL root or several read as one.

    Parameters
    ----------
    root, archive : str
        A PTB-XL folder, or a ``.tar.xz`` pack unpacked once into ``cache_dir`` (one source, split by ``folds``).
    sources : list of mappings
        Instead of ``root``/``archive``: several PTB-XL roots, each ``{name, root | archive, folds}`` with its own
        ``{split: [strat_fold, ...]}`` (see :mod:`ecgcls.data.sources`): a record belongs to the split its own
        source's folds give it; an ``ecg_id`` in two sources is an error.
    fs : int
        100 or 500 Hz.
    task : str
        Label set: superdiagnostic, subdiagnostic, rhythm, form or all.
    folds : mapping
        ``{"train": [...], "val": [...], "test": [...]}`` strat_fold numbers.
    train_transform, eval_transform : callable
        Optional signal transforms (e.g. layout / blackout simulation).
    """

    def __init__(self, root: str | None = None, archive: str | None = None, cache_dir: str = "~/.cache/ecgcls",
                 fs: int = 100, task: str = "superdiagnostic",
                 folds: Mapping[str, Sequence[int]] | None = None, min_class_count: int = 1,
                 batch_size: int = 64, num_workers: int = 0, pin_memory: bool = False,
                 train_transform: SignalTransform | None = None, eval_transform: SignalTransform | None = None,
                 eval_seed: int = 1234, limit_records: int | None = None, digitized: dict | None = None,
                 digitized_prob: float = 0.0, sources: Sequence[Mapping] | None = None) -> None:
        super().__init__(batch_size, num_workers, pin_memory)
        if sources and (root or archive):
            raise ValueError("set data.sources (several PTB-XL roots) or data.root / data.archive (one), not both: "
                             f"data.root={root!r}, data.archive={archive!r}")
        self.sources_cfg = [dict(s) for s in sources] if sources else None
        self.sources: list[Source] = []
        self.root, self.archive, self.cache_dir = root, archive, cache_dir
        self.fs, self.task, self.min_class_count = int(fs), task, min_class_count
        self.folds = {k: [int(f) for f in v] for k, v in (folds or {"train": range(1, 9), "val": [9], "test": [10]}).items()}
        self.train_transform, self.eval_transform, self.eval_seed = train_transform, eval_transform, eval_seed
        self.limit_records = limit_records
        self.digitized_cfg, self.digitized_prob = (dict(digitized) if digitized else None), float(digitized_prob)
        self.digitized = None

    def _resolve_sources(self) -> list[Source]:
        if self.sources_cfg:
            return resolve_sources(self.sources_cfg, self.cache_dir)
        return [Source("ptbxl", resolve_root(self.root, self.archive, self.cache_dir), self.folds)]

    def _union(self, make) -> object:
        """One store per source (``make(root)``), read as one where there are several."""
        stores = [make(s.root) for s in self.sources]
        return stores[0] if len(stores) == 1 else StoreUnion(stores)

    def _setup_once(self) -> None:
        if self._prepared:
            return
        self.sources = self._resolve_sources()
        dbs = [load_database(s.root) for s in self.sources]
        db = merge_databases(self.sources, dbs)
        labels = merge_labels(self.sources, self.task, dbs, min_count=self.min_class_count)
        self.store = self._union(lambda root: SignalStore(root, self.fs, self.cache_dir))
        if self.digitized_cfg is not None:
            from ecgcls.data.digitized import DigitizedStore

            self.digitized = self._union(lambda root: DigitizedStore(root, self.fs, self.cache_dir,
                                                                     **self.digitized_cfg))
        labels = labels[labels.index.isin(self.store.ids)]
        self.classes = list(labels.columns)
        splits = make_source_splits(db, labels.index, self.sources)
        if self.limit_records:
            splits = {k: v[: self.limit_records] for k, v in splits.items()}
        self.splits = splits
        self.labels = labels
        self.record_source = db.loc[labels.index, "source"]
        log.info("splits (%s): %s", "; ".join(f"{s.name} {s.folds}" for s in self.sources),
                 {k: len(v) for k, v in splits.items()})
        self._prepared = True

    def dataset(self, split: str, source: str = "mixed") -> SignalDataset:
        """A split's dataset. ``source``: 'mixed' (training mix of raw+masking and digitized signals),
        'digitized' (only digitized pictures; needs ``digitized``), or 'signal' (only raw + transform)."""
        self._setup_once()
        ids = self.splits[split]
        targets = self.labels.loc[ids].to_numpy(np.float32)
        prob = {"mixed": self.digitized_prob, "digitized": 1.0, "signal": 0.0}[source]
        if source == "digitized" and self.digitized is None:
            raise ValueError("source='digitized' needs data.digitized (a DigitizedStore spec)")
        if split == "train":
            return SignalDataset(self.store, ids, targets, self.train_transform, digitized=self.digitized,
                                 digitized_prob=prob)
        return SignalDataset(self.store, ids, targets, self.eval_transform, eval_seed=self.eval_seed,
                             digitized=self.digitized, digitized_prob=prob)

    def describe(self) -> dict:
        """What a run used: sources (root and folds of each), rate, label set, classes, split sizes in all and per
        source, and the exact members of each split (for metrics JSON and model cards)."""
        self._setup_once()
        per_source = {s.name: {k: int((self.record_source.loc[v] == s.name).sum()) for k, v in self.splits.items()}
                      for s in self.sources}
        out = {"root": str(self.sources[0].root) if len(self.sources) == 1 else [str(s.root) for s in self.sources],
               "sources": [s.describe() for s in self.sources], "fs": self.fs, "task": self.task,
               "classes": self.classes, "sizes": {k: int(len(v)) for k, v in self.splits.items()},
               "sizes_per_source": per_source,
               "split_ids": {k: [int(i) for i in v] for k, v in self.splits.items()}}
        # each split's strat_folds: as PTB-XL writes them for one source, per source where there are several
        out["folds"] = (self.sources[0].folds if len(self.sources) == 1 else
                        {k: {s.name: s.folds[k] for s in self.sources if k in s.folds} for k in self.splits})
        return out


class ImageDataset(Dataset):
    """(picture tensor (1, H, W), target) from an :class:`~ecgcls.data.images.ImageStore`.

    ``stage='mask'`` serves the rendered trace masks (curriculum stage 1), ``'picture'`` the grayscale
    inverted pictures with artifacts (stage 2 and evaluation)."""

    def __init__(self, images, ids: np.ndarray, targets: np.ndarray, stage: str = "picture", train: bool = False) -> None:
        if stage not in ("mask", "picture"):
            raise ValueError(f"image stage must be 'mask' or 'picture', got {stage!r}")
        self.images, self.ids, self.targets = images, np.asarray(ids), np.array(targets, dtype=np.float32)
        self.channel, self.train = (1 if stage == "mask" else 0), train

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, idx: int):
        from ecgcls.data.images import to_tensor

        v = int(torch.randint(0, self.images.variants, (1,)).item()) if self.train else 0
        return to_tensor(self.images.get(int(self.ids[idx]), v, self.channel)), torch.from_numpy(self.targets[idx])


class PTBXLImageDataModule(PTBXLDataModule):
    """PTB-XL records as rendered pictures (same labels and fold splits as :class:`PTBXLDataModule`)."""

    def __init__(self, *args, images: dict | None = None, stage: str = "picture", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.images_cfg, self.stage = dict(images or {}), stage
        self.images = None

    def _setup_once(self) -> None:
        if self._prepared:
            return
        super()._setup_once()
        from ecgcls.data.images import ImageStore

        self.images = self._union(lambda root: ImageStore(root, self.cache_dir, **self.images_cfg))
        kept = {k: v[np.isin(v, self.images.ids)] for k, v in self.splits.items()}
        if any(len(v) == 0 for v in kept.values()):
            raise ValueError(f"the image store {self.images.dir} has no pictures for some split: "
                             f"{ {k: len(v) for k, v in kept.items()} }")
        if any(len(kept[k]) < len(v) for k, v in self.splits.items()):
            log.info("pictures exist for %s of the split records", {k: len(v) for k, v in kept.items()})
        self.splits = kept

    def dataset(self, split: str, source: str = "mixed") -> ImageDataset:
        self._setup_once()
        ids = self.splits[split]
        targets = self.labels.loc[ids].to_numpy(np.float32)
        stage = self.stage if split == "train" or self.stage == "mask" and split == "val" else "picture"
        return ImageDataset(self.images, ids, targets, stage=stage, train=split == "train")
