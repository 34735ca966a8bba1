"""Attention kernels: a fused Triton varlen attention (GPU) with an exact PyTorch SDPA fallback."""
from ecgcls.kernels.attention import (BACKENDS, attention, attention_sdpa, key_padding_mask, masked_attention,
                                      triton_usable)

__all__ = ["BACKENDS", "attention", "attention_sdpa", "key_padding_mask", "masked_attention", "triton_usable"]
