"""Aligned multimodal dataset export (signal, pictures with truth, measurements, text under one id) on Dask.

    ecgcls export --ptbxl ROOT --out DATASET [--n N] [--layout ...] [--artifacts ...] [--scheduler ADDRESS]

See :mod:`ecgcls.export.cli` for the dataset layout, :mod:`ecgcls.export.engine` for how records run.
"""
from ecgcls.export.engine import run_tasks
from ecgcls.export.record import export_record
from ecgcls.export.text import interpretation

__all__ = ["export_record", "interpretation", "run_tasks"]
