"""One conversion to plain JSON for everything ecgcls writes (bundle cards, reports, measurements)."""
from __future__ import annotations

import math


def json_safe(x):
    """A plain-Python copy of ``x`` that ``json.dumps`` writes as valid JSON: mappings (dicts, OmegaConf
    DictConfig) → dicts with string keys, sequences (lists, tuples, OmegaConf ListConfig) → lists, numpy scalars
    → Python numbers, NaN/inf → None."""
    if hasattr(x, "items"):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) or type(x).__name__ == "ListConfig":
        return [json_safe(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
