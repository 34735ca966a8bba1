"""ECGBench-style evaluation of ecgcls's models and any OpenAI-compatible vision endpoint (``ecgcls bench``)."""
from ecgcls.ecgbench.tasks import Item, build_items

__all__ = ["Item", "build_items"]
