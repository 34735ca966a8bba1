"""Prediction on picture folders with bundled weights."""
from ecgcls.predict.bundle import BUNDLES, BundledModel, load_bundle, make_bundle
from ecgcls.data.transforms import resample_nan
from ecgcls.predict.engine import Predictor, ResumableCSV, run_predict

__all__ = ["BUNDLES", "BundledModel", "load_bundle", "make_bundle", "Predictor", "ResumableCSV", "resample_nan",
           "run_predict"]
