"""PTB-XL data: label sets, fold splits, a cached signal store and LightningDataModules.

The data modules (which pull in Lightning and torch, ~3 s) are imported on first use, so tools that only read
signals — ``ecgcls render``/``export`` workers, the digitizer — start fast.
"""
from ecgcls.data.ptbxl import (SUPERCLASSES, TASKS, class_names, derive_labels, find_root, load_database,
                               load_statements, make_splits, resolve_root, unpack_archive)
from ecgcls.data.store import SignalStore, read_wfdb
from ecgcls.lazy import lazy_attributes

_LAZY = {"ImageDataset": "ecgcls.data.datamodule", "PTBXLDataModule": "ecgcls.data.datamodule",
         "PTBXLImageDataModule": "ecgcls.data.datamodule", "SignalDataset": "ecgcls.data.datamodule",
         "PictureFolderDataModule": "ecgcls.data.folder", "ExportedDataModule": "ecgcls.data.exported"}

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = ["ImageDataset", "PictureFolderDataModule", "PTBXLDataModule", "PTBXLImageDataModule", "SignalDataset",
           "ExportedDataModule", "SUPERCLASSES", "TASKS", "class_names", "derive_labels", "find_root",
           "load_database", "load_statements", "make_splits", "resolve_root", "unpack_archive", "SignalStore",
           "read_wfdb"]
