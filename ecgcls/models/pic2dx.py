"""Pic2Diagnosis image classifiers: a timm backbone on 1-channel (grayscale inverted) pictures, and the
probability-averaging ensemble of several. Weights are never downloaded: ``pretrained_file`` may point to a
local timm/ImageNet checkpoint the user provides."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn

from ecgcls.models.registry import register_model


def _backbone(name: str, num_classes: int, pretrained_file: str | None = None, drop_rate: float = 0.2) -> nn.Module:
    import timm

    kw = {}
    if pretrained_file:
        if not Path(pretrained_file).expanduser().is_file():
            raise FileNotFoundError(f"{pretrained_file}: pretrained weights file not found (ecgcls never downloads "
                                    f"weights: give a local timm/ImageNet checkpoint for {name})")
        kw = {"pretrained": True, "pretrained_cfg_overlay": {"file": str(pretrained_file)}}
    return timm.create_model(name, in_chans=1, num_classes=num_classes, drop_rate=drop_rate, **kw)


class Pic2Dx(nn.Module):
    """One timm backbone: input (B, 1, H, W) preprocessed pictures, output logits (B, C)."""

    def __init__(self, num_classes: int, backbone: str = "resnet10t", pretrained_file: str | None = None,
                 drop_rate: float = 0.2) -> None:
        super().__init__()
        self.backbone_name = backbone
        self.net = _backbone(backbone, num_classes, pretrained_file, drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"Pic2Dx expects (B, 1, H, W) preprocessed pictures, got {tuple(x.shape)}")
        return self.net(x)


class Pic2DxEnsemble(nn.Module):
    """Averages the members' probabilities; returns the logit of the average (so it drops into any
    sigmoid-based classifier wrapper)."""

    def __init__(self, num_classes: int, backbones: Sequence[str] = ("resnet10t", "efficientnet_lite0", "lcnet_100"),
                 drop_rate: float = 0.2) -> None:
        super().__init__()
        self.members = nn.ModuleList([Pic2Dx(num_classes, b, drop_rate=drop_rate) for b in backbones])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.stack([torch.sigmoid(m(x)) for m in self.members]).mean(0)
        return torch.logit(p.clamp(1e-6, 1 - 1e-6))


@register_model
def pic2dx(num_classes: int, **kwargs) -> Pic2Dx:
    return Pic2Dx(num_classes=num_classes, **kwargs)


@register_model
def pic2dx_ensemble(num_classes: int, **kwargs) -> Pic2DxEnsemble:
    return Pic2DxEnsemble(num_classes=num_classes, **kwargs)
