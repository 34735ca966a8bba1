"""Prediction on picture folders with bundled weights."""
from ecgcls.predict.bundle import BUNDLES, BundledModel, load_bundle, make_bundle
from ecgcls.predict.engine import ResumableCSV, resample_nan, run_predict

__all__ = ["BUNDLES", "BundledModel", "load_bundle", "make_bundle", "ResumableCSV", "resample_nan", "run_predict"]
