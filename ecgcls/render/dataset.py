"""Render pages on the fly inside a torch Dataset (safe in DataLoader workers)."""
from __future__ import annotations

from typing import Callable

import numpy as np
from torch.utils.data import Dataset

from ecgcls.render.page import RenderConfig, RenderedPage, render


class RenderDataset(Dataset):
    """Item ``i`` = ``render(signal_i, fs, config_i, rng_i)`` passed through ``transform``.

    ``configs`` is a fixed :class:`RenderConfig` or a function ``rng -> RenderConfig`` (e.g.
    ``RenderConfig.random``). The page of item ``i`` at epoch ``e`` is seeded by ``(seed, e, i)``,
    so it is reproducible, differs between epochs (call :meth:`set_epoch`), and does not depend
    on which worker draws it.
    """

    def __init__(self, signals: Callable[[int], np.ndarray], n: int, fs: float,
                 configs: RenderConfig | Callable[[np.random.Generator], RenderConfig],
                 transform: Callable[[RenderedPage, int], object] | None = None, seed: int = 0,
                 ids: list | None = None) -> None:
        self.signals, self.n, self.fs, self.configs = signals, n, fs, configs
        self.transform, self.seed, self.epoch = transform, seed, 0
        self.ids = ids

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def page(self, i: int) -> RenderedPage:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        cfg = self.configs(rng) if callable(self.configs) else self.configs
        rid = str(self.ids[i]) if self.ids is not None else str(i)
        return render(self.signals(i), self.fs, cfg, rng=rng, record_id=rid)

    def __getitem__(self, i: int):
        page = self.page(i)
        return self.transform(page, i) if self.transform else page
