"""Package attributes imported on first use (PEP 562), so importing a package stays cheap."""
from __future__ import annotations

import importlib
from typing import Callable


def lazy_attributes(package: str, names: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that imports each of ``names`` (attribute → module) when first
    read; any other name raises ``AttributeError``."""

    def __getattr__(name: str):
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
