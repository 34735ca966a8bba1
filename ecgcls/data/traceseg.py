"""Pictures and exact trace/pulse masks for training the trace segmentation network.

Pages are drawn by the renderer with :meth:`~ecgcls.render.RenderConfig.randomized` (conventions of other
machines and generators, 75–600 DPI, every artifact) from the records of the chosen folds only, then resized
so the picture's long side is ``long_side`` × a random factor (the network sees pictures at about the size the
digitizer feeds it), and cut into random crops. Drawing is the slow part, so a pool of pages is drawn once
(in parallel) and every epoch takes fresh crops and flips from it.
"""
from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ecgcls.data.ptbxl import load_database, make_splits, resolve_root
from ecgcls.data.store import SignalStore
from ecgcls.render import CAL_BIT, RenderConfig, render

log = logging.getLogger(__name__)

#: bump when the renderer's randomized pages change, so cached page pools are drawn again
POOL_VERSION = 2


def page_to_sample(image: np.ndarray, mask: np.ndarray, long_side: float) -> tuple[np.ndarray, np.ndarray]:
    """Resize a rendered picture (RGB uint8) and its bitmask (uint16) so the long side is ``long_side`` px.

    Returns the picture (H, W, 3) uint8 and targets (2, H, W) uint8: trace ink of any lead, calibration pulse.
    A thin stroke that covers a fair part of a smaller pixel stays a target (area share ≥ 0.25).
    """
    h, w = image.shape[:2]
    k = float(long_side) / max(h, w)
    size = (max(8, int(round(w * k))), max(8, int(round(h * k))))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    img = cv2.resize(image, size, interpolation=interp)
    planes = [((mask & np.uint16((1 << 12) - 1)) != 0), ((mask >> CAL_BIT) & 1) == 1]
    tgt = np.stack([cv2.resize(p.astype(np.float32), size, interpolation=interp) >= 0.25 for p in planes])
    return img, tgt.astype(np.uint8)


def _draw(args) -> tuple[np.ndarray, np.ndarray]:
    signal, fs, seed, long_side, jitter, dpi = args
    cv2.setNumThreads(1)
    rng = np.random.default_rng(seed)
    cfg = RenderConfig.randomized(rng, dpi=dpi)
    page = render(signal, fs, cfg, rng=rng)
    return page_to_sample(page.image, page.mask, long_side * float(rng.uniform(*jitter)))


def draw_pages(signals: Sequence[np.ndarray], fs: float, seed: int, long_side: float, jitter=(0.6, 1.3),
               dpi=(75.0, 300.0), workers: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """Draw one randomized page per signal (seeded by ``seed`` and position), in ``workers`` processes."""
    args = [(s, fs, [seed, i], long_side, tuple(jitter), tuple(dpi)) for i, s in enumerate(signals)]
    return map_drawing(_draw, args, workers, chunksize=4)


def map_drawing(fn, args: list, workers: int, chunksize: int = 4) -> list:
    """``[fn(a) for a in args]`` with a progress bar, in ``workers`` processes when more than one."""
    from tqdm.auto import tqdm

    if workers <= 1:
        return [fn(a) for a in tqdm(args, desc="drawing pages")]
    with ProcessPoolExecutor(workers) as ex:
        return list(tqdm(ex.map(fn, args, chunksize=chunksize), total=len(args), desc="drawing pages"))


class CropDataset(Dataset):
    """Random (train) or fixed (eval) square crops of a page pool, as float (3, c, c) and (2, c, c) tensors."""

    def __init__(self, pages: list, crop: int, per_page: int, train: bool, seed: int = 0) -> None:
        self.pages, self.crop, self.per_page, self.train, self.seed = pages, int(crop), int(per_page), train, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.pages) * self.per_page

    def __getitem__(self, idx: int):
        img, tgt = self.pages[idx % len(self.pages)]
        rng = np.random.default_rng([self.seed, self.epoch if self.train else 0, idx])
        h, w = img.shape[:2]
        c = self.crop
        if h < c or w < c:  # small pictures: pad with their own border colour
            ph, pw = max(0, c - h), max(0, c - w)
            img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
            tgt = np.pad(tgt, ((0, 0), (0, ph), (0, pw)))
            h, w = img.shape[:2]
        # half the crops centred on ink, so thin traces are not drowned by paper
        ys, xs = np.nonzero(tgt[0, ::8, ::8])
        if rng.random() < 0.5 and len(ys):
            j = int(rng.integers(len(ys)))
            y0 = int(np.clip(ys[j] * 8 - c // 2 + rng.integers(-c // 4, c // 4 + 1), 0, h - c))
            x0 = int(np.clip(xs[j] * 8 - c // 2 + rng.integers(-c // 4, c // 4 + 1), 0, w - c))
        else:
            y0, x0 = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        im = img[y0:y0 + c, x0:x0 + c]
        tg = tgt[:, y0:y0 + c, x0:x0 + c]
        if self.train and rng.random() < 0.5:  # segmentation does not care about left/right
            im, tg = im[:, ::-1], tg[:, :, ::-1]
        x = torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1).float() / 255.0
        return x, torch.from_numpy(np.ascontiguousarray(tg)).float()


class TraceSegDataModule(L.LightningDataModule):
    """Randomized rendered pages of the train/val folds' records, cut into crops.

    Parameters: ``n_pages`` per split (``{"train": 600, "val": 60}``), ``long_side`` (px, the size the
    digitizer resizes a picture to), ``jitter`` (range of factors on it), ``dpi`` (render DPI range), ``crop``,
    ``crops_per_page`` per epoch, ``render_workers`` processes for drawing.
    """

    def __init__(self, root: str | None = None, archive: str | None = None, cache_dir: str = "~/.cache/ecgcls",
                 fs: int = 500, folds: Mapping[str, Sequence[int]] | None = None,
                 n_pages: Mapping[str, int] | None = None, long_side: int = 1024,
                 jitter: Sequence[float] = (0.6, 1.3), dpi: Sequence[float] = (75.0, 300.0), crop: int = 256,
                 crops_per_page: int = 8, batch_size: int = 16, num_workers: int = 0, render_workers: int = 2,
                 seed: int = 0) -> None:
        super().__init__()
        self.root, self.archive, self.cache_dir, self.fs = root, archive, cache_dir, int(fs)
        self.folds = {k: [int(f) for f in v] for k, v in (folds or {"train": [10], "val": [8, 9]}).items()}
        self.n_pages = dict(n_pages or {"train": 600, "val": 60})
        self.long_side, self.jitter, self.dpi = long_side, tuple(jitter), tuple(dpi)
        self.crop, self.crops_per_page = crop, crops_per_page
        self.batch_size, self.num_workers, self.render_workers, self.seed = batch_size, num_workers, render_workers, seed
        self.pages: dict[str, list] = {}
        self.ids: dict[str, list[int]] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.pages:
            return
        root = resolve_root(self.root, self.archive, self.cache_dir)
        db = load_database(root)
        store = SignalStore(root, self.fs, self.cache_dir)
        splits = make_splits(db, store.ids, self.folds)
        for k, split in enumerate(("train", "val")):
            ids = np.random.default_rng([self.seed, k]).permutation(splits[split])[: self.n_pages[split]]
            self.ids[split] = [int(i) for i in ids]
            # drawing is the slow part: keep the pool in the cache, keyed by everything that decides it
            key = hashlib.sha1(json.dumps([store.key, self.ids[split], self.seed, k, *self._pool_key()]
                                          ).encode()).hexdigest()[:16]
            path = Path(self.cache_dir).expanduser() / self.pool_name / f"{split}_{key}.pt"
            if path.is_file():
                self.pages[split] = torch.load(path, weights_only=False)
                log.info("%s: %d pages from %s", split, len(self.pages[split]), path)
                continue
            sigs = [np.nan_to_num(store.get(int(i))) for i in ids]
            self.pages[split] = self._draw_pool(sigs, self.seed * 1000 + k)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(self.pages[split], tmp)
            tmp.rename(path)
            log.info("%s: %d pages drawn, cached in %s", split, len(self.pages[split]), path)

    #: cache folder of the drawn pools (under ``cache_dir``)
    pool_name = "traceseg"

    def _pool_key(self) -> list:
        """Everything besides the records and seed that decides a drawn pool."""
        return [self.long_side, self.jitter, self.dpi, POOL_VERSION]

    def _draw_pool(self, signals: list, seed: int) -> list:
        return draw_pages(signals, self.fs, seed, self.long_side, self.jitter, self.dpi, self.render_workers)

    def describe(self) -> dict:
        return {"folds": self.folds, "n_pages": {k: len(v) for k, v in self.pages.items()},
                "long_side": self.long_side, "jitter": list(self.jitter), "dpi": list(self.dpi), "crop": self.crop,
                "fs": self.fs, "record_ids": self.ids}

    def _dataset(self, split: str) -> Dataset:
        if split == "train":
            return CropDataset(self.pages["train"], self.crop, self.crops_per_page, True, self.seed)
        return CropDataset(self.pages["val"], self.crop, 4, False, self.seed + 1)

    def train_dataloader(self) -> DataLoader:
        ds = self._dataset("train")
        ds.epoch = self.trainer.current_epoch if self.trainer is not None else 0
        return DataLoader(ds, self.batch_size, shuffle=True, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._dataset("val"), self.batch_size, num_workers=self.num_workers)
