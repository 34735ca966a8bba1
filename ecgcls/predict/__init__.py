"""Prediction on picture folders with bundled weights.

Names are imported on first use, so ``run_predict`` can start its worker processes before this process
imports torch (the bundles) and the two start-ups overlap.
"""
import importlib

_LAZY = {"BUNDLES": "ecgcls.predict.bundle", "BundledModel": "ecgcls.predict.bundle",
         "load_bundle": "ecgcls.predict.bundle", "make_bundle": "ecgcls.predict.bundle",
         "resample_nan": "ecgcls.data.transforms", "Predictor": "ecgcls.predict.engine",
         "ResumableCSV": "ecgcls.predict.engine", "run_predict": "ecgcls.predict.engine"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ecgcls.predict' has no attribute {name!r}")


__all__ = list(_LAZY)
