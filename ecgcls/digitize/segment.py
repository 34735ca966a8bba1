"""The learned ink map: the trace segmentation network (:mod:`ecgcls.models.traceseg`) run on a picture.

Pure function of the picture (and the bundled weights): RGB uint8 (H, W, 3) in, per-pixel probabilities
(len(CHANNELS), H, W) float32 out, at the picture's own resolution. The network sees the picture resized so its
long side is the bundle's ``long_side`` (px) — the size it was trained at — and its output is resized back.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import cv2
import numpy as np

#: bundled weights (safetensors) and their card (JSON beside them)
DEFAULT_TRACE_NET = Path(__file__).resolve().parents[1] / "weights" / "traceseg.safetensors"


@functools.lru_cache(maxsize=4)
def load_trace_net(path: str | Path | None = None):
    """(network in eval mode, bundle metadata) from ``traceseg.safetensors`` + ``traceseg.json``."""
    import torch
    from safetensors.torch import load_file

    from ecgcls.models import create

    path = Path(path or DEFAULT_TRACE_NET)
    card = path.with_suffix(".json")
    if not path.is_file() or not card.is_file():
        raise FileNotFoundError(f"{path}: trace network weights (and {card.name}) not found; train them with "
                                f"`python train.py experiment=trace_seg` or use ink='classic'")
    meta = json.loads(card.read_text())
    cfg = dict(meta["net"])
    net = create(cfg.pop("name", "traceseg"), **cfg)
    net.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    # NHWC convolutions run this network ~1.4-1.7x faster on CPU than NCHW (bench/results/channels_last.json): the
    # weights and the picture (see trace_probability) both channels-last; outputs equal to ~1e-5
    net.eval().to(memory_format=torch.channels_last)
    return net, meta


def trace_probability(image: np.ndarray, weights: str | Path | None = None, long_side: int | None = None
                      ) -> np.ndarray:
    """Probability of trace ink (channel 0) and calibration pulse (channel 1) for every pixel of ``image``.

    ``image``: RGB uint8 (H, W, 3). ``long_side``: px the network works at (default: the bundle's training
    size). Returns float32 (2, H, W) in [0, 1].
    """
    import torch

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"trace_probability: expected RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
    net, meta = load_trace_net(weights)
    h, w = image.shape[:2]
    side = int(long_side or meta.get("card", {}).get("data", {}).get("long_side", 1024))
    k = side / max(h, w)
    size = (max(16, int(round(w * k))), max(16, int(round(h * k))))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    x = (torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255.0).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        p = torch.sigmoid(net(x))[0].numpy()
    return np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in p]).astype(np.float32)
