"""Run one function per record on Dask: a local cluster on every core by default, or an existing cluster.

Each task returns a row (a dict with at least ``id`` and ``status``); a task that raises becomes an error row
(``status='error'``, ``error``, ``traceback``) and the run goes on. Tasks are submitted through a bounded window
(a few per worker), so a 800k-record run never holds 800k futures. Progress is a tqdm bar with records/s.
"""
from __future__ import annotations

import os
import time
import traceback
from typing import Callable, Iterable

from tqdm.auto import tqdm


def error_row(item_id, exc: BaseException) -> dict:
    """The row of a task that failed: its reason and the last frames of the traceback (summary, not a dump)."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return {"id": item_id, "status": "error", "error": f"{type(exc).__name__}: {exc}",
            "traceback": " | ".join(f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in frames)}


def guarded(fn: Callable, item_id, *args) -> dict:
    """``fn(*args)``, or its error row: a failing record never stops the run."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 — any failure of one record is that record's error row
        return error_row(item_id, exc)


def _worker_init() -> None:
    """One thread per worker process for the numeric libraries (the cluster parallelises over records)."""
    import cv2

    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def client_for(scheduler: str | None = None, workers: int | None = None):
    """A Dask client: ``scheduler`` ('tcp://host:port') joins an existing cluster; otherwise a local cluster of
    ``workers`` processes (default: every core), one thread each, no dashboard."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
    else:
        n = int(workers or os.cpu_count() or 1)
        client = Client(LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                     silence_logs=40))
    client.run(_worker_init)
    return client


def run_tasks(fn: Callable, items: Iterable[tuple], on_row: Callable[[dict], None], total: int,
              scheduler: str | None = None, workers: int | None = None, desc: str = "records",
              window: int = 4) -> dict:
    """Run ``fn(*args)`` for every ``(id, *args)`` in ``items`` on Dask; ``on_row(row)`` in this process as each
    finishes (in completion order). ``fn`` returns one row, or a list of rows when a task does a chunk of records
    (``total`` counts rows). Returns counts and the elapsed time."""
    from dask.distributed import as_completed

    client = client_for(scheduler, workers)
    n_workers = max(1, len(client.scheduler_info().get("workers", {})) or int(workers or os.cpu_count() or 1))
    counts = {"ok": 0, "error": 0}
    first_done, first_n = None, 0
    it = iter(items)
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc=desc, unit="rec")
    try:
        def submit() -> object | None:
            nxt = next(it, None)
            if nxt is None:
                return None
            return client.submit(guarded, fn, nxt[0], *nxt[1:], pure=False)

        first = [f for f in (submit() for _ in range(window * n_workers)) if f is not None]
        pending = as_completed(first)
        for fut in pending:
            res = fut.result()
            fut.release()
            for row in res if isinstance(res, list) else [res]:  # a task may do a chunk of records
                on_row(row)
                counts["ok" if row.get("status") == "ok" else "error"] += 1
                bar.update(1)
            if first_done is None:
                first_done, first_n = time.perf_counter(), counts["ok"] + counts["error"]
            done = counts["ok"] + counts["error"]
            bar.set_postfix(rec_s=f"{done / (time.perf_counter() - t0):.2f}", errors=counts["error"])
            nxt = submit()
            if nxt is not None:
                pending.add(nxt)
    finally:
        bar.close()
        client.close()
        cluster = getattr(client, "cluster", None)
        if cluster is not None and not scheduler:
            cluster.close()
    end = time.perf_counter()
    n = counts["ok"] + counts["error"]
    # steady rate: from the first finished task on (leaves out cluster start-up and each worker's imports)
    steady = (n - first_n) / (end - first_done) if first_done and n > first_n and end > first_done else float("nan")
    return {**counts, "seconds": end - t0, "workers": n_workers, "steady_per_s": steady}
