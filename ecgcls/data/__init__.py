"""PTB-XL data: label sets, fold splits, a cached signal store and LightningDataModules."""
from ecgcls.data.datamodule import ImageDataset, PTBXLDataModule, PTBXLImageDataModule, SignalDataset
from ecgcls.data.folder import PictureFolderDataModule
from ecgcls.data.ptbxl import (SUPERCLASSES, TASKS, class_names, derive_labels, find_root, load_database,
                               load_statements, make_splits, resolve_root, unpack_archive)
from ecgcls.data.store import SignalStore, read_wfdb

__all__ = ["ImageDataset", "PictureFolderDataModule", "PTBXLDataModule", "PTBXLImageDataModule", "SignalDataset", "SUPERCLASSES", "TASKS", "class_names", "derive_labels",
           "find_root", "load_database", "load_statements", "make_splits", "resolve_root", "unpack_archive",
           "SignalStore", "read_wfdb"]
