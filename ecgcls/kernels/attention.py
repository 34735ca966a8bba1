"""The one place where the attention op is chosen.

``attention(q, k, v, lengths, backend=...)`` with q/k/v ``(B, H, N, D)`` and ``lengths (B,)``: each
sequence's first ``lengths[b]`` tokens are real, the rest padding. Output rows past the length are zero.
``masked_attention(q, k, v, key_mask)``: any tokens may be missing (fixed shapes, for export).

Backends: ``"triton"`` (fused kernel; CUDA, or CPU under ``TRITON_INTERPRET=1``), ``"sdpa"`` (PyTorch
``scaled_dot_product_attention`` with a key-padding mask: the exact reference), ``"auto"`` (triton on
CUDA when available, sdpa otherwise).
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from ecgcls.kernels.triton_attention import HAS_TRITON

BACKENDS = ("auto", "triton", "sdpa")


def key_padding_mask(lengths: torch.Tensor, n: int) -> torch.Tensor:
    """Bool (B, n): True for real tokens (the first ``lengths[b]``)."""
    return torch.arange(n, device=lengths.device)[None, :] < lengths[:, None]


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor,
                     sm_scale: float | None = None) -> torch.Tensor:
    """SDPA where ``key_mask`` (B, N) bool marks the tokens that exist, anywhere in the sequence: the others are
    never attended to and their output rows are zero. Fixed shapes and no Triton: the path ONNX export traces."""
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :], scale=sm_scale)
    return out * key_mask[:, None, :, None].to(out.dtype)


def attention_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor,
                   sm_scale: float | None = None) -> torch.Tensor:
    """Reference: SDPA with keys past ``lengths`` masked out; padded query rows zeroed."""
    return masked_attention(q, k, v, key_padding_mask(lengths.to(q.device), q.shape[2]), sm_scale)


def triton_usable(x: torch.Tensor) -> bool:
    return HAS_TRITON and (x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1")


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor,
              backend: str = "auto", sm_scale: float | None = None) -> torch.Tensor:
    """Attention over variable-length sequences (see module doc)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if q.dim() != 4 or q.shape != k.shape or q.shape != v.shape:
        raise ValueError(f"attention expects q, k, v of one shape (B, H, N, D); got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if lengths.shape != (q.shape[0],):
        raise ValueError(f"lengths must have shape ({q.shape[0]},), got {tuple(lengths.shape)}")
    use_triton = backend == "triton" or (backend == "auto" and q.is_cuda and HAS_TRITON)
    if use_triton:
        if not triton_usable(q):
            raise RuntimeError("the triton attention backend needs a CUDA tensor (or TRITON_INTERPRET=1 on CPU); "
                               "use attn_backend=sdpa or auto")
        from ecgcls.kernels.triton_attention import varlen_attention_triton

        return varlen_attention_triton(q, k, v, lengths, sm_scale)
    return attention_sdpa(q, k, v, lengths, sm_scale)
