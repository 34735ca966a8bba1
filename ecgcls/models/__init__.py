"""Models as plain ``nn.Module`` s behind a registry: ``ecgcls.models.create("cnn1d", num_classes=5)``."""
from ecgcls.models import cnn1d as _cnn1d  # noqa: F401  (registers)
from ecgcls.models import leadsep as _leadsep  # noqa: F401
from ecgcls.models import patchecg as _patchecg  # noqa: F401
from ecgcls.models import pic2dx as _pic2dx  # noqa: F401
from ecgcls.models import ppg2ecg as _ppg2ecg  # noqa: F401
from ecgcls.models import traceseg as _traceseg  # noqa: F401
from ecgcls.models.registry import create, list_models, register_model

__all__ = ["create", "list_models", "register_model"]
