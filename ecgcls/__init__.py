"""ecgcls: classify cardiac conditions from pictures of 12-lead ECGs.

Sub-packages
------------
data      PTB-XL reading, label sets, splits, cached signal store, LightningDataModules.
render    Synthetic paper-ECG pictures with exact ground truth.
digitize  Picture -> 12-lead signals with validity masks.
models    Plain ``nn.Module`` models behind a registry (``ecgcls.models.create``).
kernels   Attention op: Triton kernel on CUDA, exact PyTorch fallback elsewhere.
train     LightningModules wrapping the models with losses and metrics.
predict   Batch prediction on picture folders.
"""
from ecgcls.types import LEADS, Record

__version__ = "0.1.0"
__all__ = ["LEADS", "Record", "__version__"]
