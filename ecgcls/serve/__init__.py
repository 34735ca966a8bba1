"""``ecgcls serve``: a local web page and JSON API for ECG pictures (see :mod:`ecgcls.serve.app`)."""
from ecgcls.serve.app import Service, create_app, serving

__all__ = ["Service", "create_app", "serving"]
