"""PTB-XL data: label sets, fold splits, a cached signal store and LightningDataModules.

The data modules (which pull in Lightning and torch, ~3 s) are imported on first use, so tools that only read
signals — ``ecgcls render``/``export`` workers, the digitizer — start fast.
"""
import importlib

from ecgcls.data.ptbxl import (SUPERCLASSES, TASKS, class_names, derive_labels, find_root, load_database,
                               load_statements, make_splits, resolve_root, unpack_archive)
from ecgcls.data.store import SignalStore, read_wfdb

_LAZY = {"ImageDataset": "ecgcls.data.datamodule", "PTBXLDataModule": "ecgcls.data.datamodule",
         "PTBXLImageDataModule": "ecgcls.data.datamodule", "SignalDataset": "ecgcls.data.datamodule",
         "PictureFolderDataModule": "ecgcls.data.folder", "ExportedDataModule": "ecgcls.data.exported"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ecgcls.data' has no attribute {name!r}")


__all__ = ["ImageDataset", "PictureFolderDataModule", "PTBXLDataModule", "PTBXLImageDataModule", "SignalDataset",
           "ExportedDataModule", "SUPERCLASSES", "TASKS", "class_names", "derive_labels", "find_root",
           "load_database", "load_statements", "make_splits", "resolve_root", "unpack_archive", "SignalStore",
           "read_wfdb"]
