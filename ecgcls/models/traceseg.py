"""Trace segmentation network: picture → per-pixel probability of trace ink and of calibration pulses.

A U-Net from segmentation-models-pytorch on a small timm encoder (MobileNetV3-small by default), trained on
renderer pictures whose per-pixel truth is exact (``python train.py experiment=trace_seg``). A plain
``nn.Module``: it knows nothing about training. Input: float (B, 3, H, W) RGB in [0, 1], any H, W (padded
inside to the encoder's stride). Output: logits (B, len(CHANNELS), H, W).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ecgcls.models.registry import register_model

#: output channels, in order
CHANNELS: tuple[str, ...] = ("trace", "pulse")


class PaddedUnet(nn.Module):
    """A segmentation-models-pytorch U-Net on a timm encoder that takes any H, W: the input is padded (replicate)
    to the encoder's stride and the output cropped back. The digitizer's networks build on it."""

    def __init__(self, encoder: str, encoder_depth: int, decoder_channels: tuple[int, ...], in_channels: int,
                 classes: int, name: str) -> None:
        super().__init__()
        import segmentation_models_pytorch as smp

        decoder_channels = tuple(int(c) for c in decoder_channels)
        if len(decoder_channels) != encoder_depth:
            raise ValueError(f"{name}: decoder_channels {decoder_channels} needs {encoder_depth} entries "
                             f"(one per encoder stage)")
        self.stride = 2 ** encoder_depth
        self.unet = smp.Unet(encoder, encoder_weights=None, encoder_depth=encoder_depth, in_channels=in_channels,
                             decoder_channels=decoder_channels, classes=classes)

    def padded(self, x: torch.Tensor) -> torch.Tensor:
        """The U-Net on ``x`` (B, C, H, W), already normalized: logits (B, classes, H, W)."""
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.stride, (-w) % self.stride
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return self.unet(x)[..., :h, :w]


class TraceSegNet(PaddedUnet):
    def __init__(self, encoder: str = "tu-mobilenetv3_small_100", encoder_depth: int = 4,
                 decoder_channels: tuple[int, ...] = (48, 32, 16, 8), channels: tuple[str, ...] = CHANNELS) -> None:
        super().__init__(encoder, encoder_depth, decoder_channels, 3, len(channels), "traceseg")
        self.channels = tuple(channels)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"traceseg expects (B, 3, H, W) RGB in [0, 1], got {tuple(x.shape)}")
        return self.padded((x - self.mean) / self.std)


@register_model
def traceseg(**kwargs) -> TraceSegNet:
    """U-Net (smp) on MobileNetV3-small: ~1 M parameters, ~0.2 s for a 1024-px page on 2 CPU cores."""
    return TraceSegNet(**kwargs)
