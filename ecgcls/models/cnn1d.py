"""A compact xresnet1d-style CNN on full 12-lead signals (the spine's first model and a baseline)."""
from __future__ import annotations

import torch
import torch.nn as nn

from ecgcls.models.registry import register_model


class ResBlock1d(nn.Module):
    """Bottleneck-free residual block: conv-bn-relu-conv-bn (+ shortcut with avg-pool when striding)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=pad, bias=False), nn.BatchNorm1d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv1d(c_out, c_out, kernel, padding=pad, bias=False), nn.BatchNorm1d(c_out))
        nn.init.zeros_(self.body[-1].weight)  # zero-init last BN: each block starts as identity
        short: list[nn.Module] = []
        if stride > 1:
            short.append(nn.AvgPool1d(stride, ceil_mode=True))
        if c_in != c_out:
            short += [nn.Conv1d(c_in, c_out, 1, bias=False), nn.BatchNorm1d(c_out)]
        self.short = nn.Sequential(*short)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.short(x))


class CNN1d(nn.Module):
    """xresnet1d-style classifier.

    Input ``(B, 12, T)`` in mV (NaN not allowed: fill or interpolate first). Output logits ``(B, num_classes)``.
    Concat of global average and max pooling feeds a dropout + linear head, as in the PTB-XL benchmark.
    """

    def __init__(self, num_classes: int, in_chans: int = 12, widths: tuple[int, ...] = (32, 64, 128, 128),
                 blocks_per_stage: int = 2, kernel: int = 5, stem_kernel: int = 7, dropout: float = 0.25) -> None:
        super().__init__()
        w0 = widths[0]
        self.stem = nn.Sequential(
            nn.Conv1d(in_chans, w0, stem_kernel, stride=2, padding=stem_kernel // 2, bias=False),
            nn.BatchNorm1d(w0), nn.ReLU(inplace=True), nn.MaxPool1d(3, stride=2, padding=1))
        stages, c = [], w0
        for i, w in enumerate(widths):
            for j in range(blocks_per_stage):
                stages.append(ResBlock1d(c, w, kernel, stride=2 if (j == 0 and i > 0) else 1))
                c = w
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * c, num_classes))
        self.num_classes = num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(x))
        return torch.cat([h.mean(-1), h.amax(-1)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.compiler.is_compiling() and torch.isnan(x).any():  # (a data-dependent check: eager only)
            raise ValueError("CNN1d got NaN input; fill or interpolate missing samples first")
        return self.head(self.forward_features(x))


@register_model
def cnn1d(num_classes: int, **kwargs) -> CNN1d:
    return CNN1d(num_classes=num_classes, **kwargs)
