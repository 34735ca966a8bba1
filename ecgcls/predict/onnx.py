"""ONNX export of a bundled model, checked against PyTorch with onnxruntime.

The exported graph takes the model's prepared input (signals with gaps already filled as the bundle says — for
PatchECG, signals with NaN where nothing was read, its mask —, or the normalised picture tensor) and returns
calibrated probabilities, with a dynamic batch axis. A network with a ``forward_dense`` method (PatchECG, whose
token count varies with what was read) is exported through it: every patch a token, missing ones masked.
``ecgcls bundle CKPT --out OUT --onnx`` (or :func:`export_onnx` on an existing bundle).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn


class _Exported(nn.Module):
    def __init__(self, bundled) -> None:
        super().__init__()
        self.net, self.temperature = bundled.net, float(bundled.temperature)
        self.fn = getattr(self.net, "forward_dense", self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fn(x) / self.temperature)


def export_onnx(bundle: str | Path, out: str | Path | None = None, atol: float = 1e-4) -> tuple[Path, float]:
    """Write ``<bundle>.onnx`` (or ``out``) and return (path, max |onnxruntime − PyTorch|) on a random batch of 3.
    Raises ValueError when they disagree by more than ``atol``."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ValueError(f"ONNX export needs onnx, onnxscript and onnxruntime (pip install 'ecgcls[onnx]'): {exc}") from None
    from ecgcls.data.transforms import fill_missing
    from ecgcls.predict.bundle import load_bundle

    m = load_bundle(bundle)
    out = Path(out) if out else Path(m.source).with_suffix(".onnx")
    shape = (3, 1, *m.image_size) if m.input == "picture" else (3, 12, m.n_samples)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g)
    masked = hasattr(m.net, "forward_dense")  # NaN is its input's mask: the graph takes it as it is
    if m.input == "signal":
        x[1, 3, 100:400] = float("nan")
        x[2, :, x.shape[2] // 4:] = float("nan")  # one column of a 3x4 page read, and one rhythm strip
        x[2, 1] = torch.randn(x.shape[2], generator=g)
        x = fill_missing(x, m.input_fill)
    if torch.isnan(x).any() and not masked:
        raise ValueError(f"{m.source}: fill='{m.input_fill}' leaves NaN; this model cannot be exported as is")
    wrapped = _Exported(m).eval()
    torch.onnx.export(wrapped, (x,), str(out), input_names=["x"], output_names=["probs"],
                      dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=1024)}}, dynamo=True)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x.numpy()})[0]
    with torch.no_grad():  # against the network's own forward (PatchECG: packed tokens, not the dense graph)
        ref = torch.sigmoid(m.net(x) / wrapped.temperature).numpy()
    err = float(np.abs(got - ref).max())
    if err > atol:
        raise ValueError(f"{out}: onnxruntime differs from PyTorch by {err:.2e} (> {atol})")
    return out, err
