"""Worker processes for page-by-page work (reading pictures, drawing pages), kept free of heavy imports so a
caller can start them before it imports torch itself and the two start-ups overlap."""
from __future__ import annotations

import importlib
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence


def _init_worker(warm: Sequence[str] = ()) -> None:
    """One torch/OpenCV thread per worker (one page per process: the cores are shared out by processes), then
    import ``warm`` (module names) so the first task does not pay for them."""
    import torch

    torch.set_num_threads(1)
    import cv2

    cv2.setNumThreads(1)
    for name in warm:
        importlib.import_module(name)


def worker_pool(workers: int | None = None, warm: Sequence[str] = ()) -> ProcessPoolExecutor:
    """Worker processes started fresh ('spawn'), not forked, one torch thread each: a child forked after the
    parent ran torch can hang in OpenMP when it runs torch itself (e.g. the trace network of ``ink=auto``).
    ``warm``: modules each worker imports as it starts. Processes start when work is first submitted (see
    :func:`start_workers`)."""
    import multiprocessing as mp

    return ProcessPoolExecutor(workers or os.cpu_count(), mp_context=mp.get_context("spawn"),
                               initializer=_init_worker, initargs=(tuple(warm),))


def start_workers(ex: ProcessPoolExecutor, n: int) -> None:
    """Start ``n`` of ``ex``'s processes now (a spawning pool starts one per submitted task, on demand), so
    their start-up runs while the caller does its own."""
    for _ in range(n):
        ex.submit(os.getpid)
