"""Prediction on picture folders with bundled weights.

Names are imported on first use, so ``run_predict`` can start its worker processes before this process
imports torch (the bundles) and the two start-ups overlap.
"""
from ecgcls.lazy import lazy_attributes

_LAZY = {"BUNDLES": "ecgcls.predict.names", "BundledModel": "ecgcls.predict.bundle",
         "load_bundle": "ecgcls.predict.bundle", "make_bundle": "ecgcls.predict.bundle",
         "resample_nan": "ecgcls.data.transforms", "Predictor": "ecgcls.predict.engine",
         "ResumableCSV": "ecgcls.predict.engine", "run_predict": "ecgcls.predict.engine"}

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = list(_LAZY)
