"""LightningModules that wrap ``ecgcls.models`` with losses, metrics and optimisers."""
from ecgcls.train.classifier import MultilabelClassifier, focal_loss

__all__ = ["MultilabelClassifier", "focal_loss"]
