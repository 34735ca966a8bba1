"""PPG → ECG reconstruction: a ViT on a 4-channel signal image, and a 1-D U-Net baseline on the same windows.

**The signal image** (after Li et al., "Beyond Single-Channel: Multichannel Signal Imaging for PPG-to-ECG
Reconstruction with Vision Transformers"): four channels from one PPG window — the PPG, its first and second
differences and its running area (cumulative sum), each standardised per window — folded into a 2-D raster:
row ``r`` holds samples ``r·W … r·W + W − 1`` (``W`` = ``row`` samples, 256 ms at 125 Hz by default). We chose
this raster fold over Gramian angular fields or recurrence plots because it is exactly invertible (the output
is read back with the same geometry), keeps L samples as L pixels (no L² blow-up: CPU-trainable), and its 2-D
position embedding factors time into a coarse part (row, one row period) and a fine part (column). Each ViT
token is a ``patch`` (rows × columns) of the raster; a linear head maps each output token back to the samples of
its patch, and un-folding gives the ECG window.

Models are plain ``nn.Module`` s: ``(B, L)`` normalised PPG in, ``(B, L)`` normalised ECG out.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ecgcls.models.registry import register_model


def signal_image(ppg: torch.Tensor) -> torch.Tensor:
    """(B, L) PPG windows → (B, 4, L) channels: PPG, first and second difference, running area; each channel
    standardised per window (zero mean, unit SD; a flat channel stays 0)."""
    d1 = torch.diff(ppg, dim=-1, prepend=ppg[..., :1])
    d2 = torch.diff(d1, dim=-1, prepend=d1[..., :1])
    area = torch.cumsum(ppg - ppg.mean(-1, keepdim=True), dim=-1)
    x = torch.stack([ppg, d1, d2, area], dim=1)
    return (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True).clamp_min(1e-6)


class PPG2ECGViT(nn.Module):
    """timm VisionTransformer over the (4, L / row, row) raster of :func:`signal_image`, no class token; each
    output token → its patch's samples."""

    def __init__(self, length: int = 512, row: int = 32, patch: tuple[int, int] = (1, 16), embed_dim: int = 128,
                 depth: int = 4, num_heads: int = 4, mlp_ratio: float = 2.0, drop_rate: float = 0.0) -> None:
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer

        ph, pw = int(patch[0]), int(patch[1])
        if length % row or (length // row) % ph or row % pw:
            raise ValueError(f"length {length} must fold into rows of {row} samples, tiled by {ph}x{pw} patches")
        self.length, self.row, self.ph, self.pw = length, row, ph, pw
        self.rows = length // row
        self.vit = VisionTransformer(img_size=(self.rows, row), patch_size=(ph, pw), in_chans=4, num_classes=0,
                                     embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                                     class_token=False, global_pool="", no_embed_class=True, drop_rate=drop_rate)
        self.head = nn.Linear(embed_dim, ph * pw)

    def forward(self, ppg: torch.Tensor) -> torch.Tensor:
        b = ppg.shape[0]
        img = signal_image(ppg).view(b, 4, self.rows, self.row)
        tok = self.head(self.vit.forward_features(img))  # (B, n_tokens, ph*pw), tokens in raster order
        gh, gw = self.rows // self.ph, self.row // self.pw
        out = tok.view(b, gh, gw, self.ph, self.pw).permute(0, 1, 3, 2, 4).reshape(b, self.rows, self.row)
        return out.reshape(b, self.length)


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int = 7) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(c_in, c_out, k, padding=k // 2), nn.BatchNorm1d(c_out), nn.GELU(),
                                 nn.Conv1d(c_out, c_out, k, padding=k // 2), nn.BatchNorm1d(c_out), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PPG2ECGUNet1D(nn.Module):
    """1-D U-Net (encoder-decoder with skips) on the same 4 channels (``channels=1``: the PPG alone)."""

    def __init__(self, length: int = 512, widths: tuple[int, ...] = (32, 64, 96, 128), channels: int = 4) -> None:
        super().__init__()
        if length % (2 ** (len(widths) - 1)):
            raise ValueError(f"length {length} must be divisible by {2 ** (len(widths) - 1)}")
        self.channels = channels
        self.down = nn.ModuleList()
        c = channels
        for w in widths:
            self.down.append(_Block(c, w))
            c = w
        self.up = nn.ModuleList([_Block(widths[i] + widths[i - 1], widths[i - 1])
                                 for i in range(len(widths) - 1, 0, -1)])
        self.out = nn.Conv1d(widths[0], 1, 1)

    def forward(self, ppg: torch.Tensor) -> torch.Tensor:
        x = signal_image(ppg)[:, : self.channels]
        skips = []
        for i, blk in enumerate(self.down):
            x = blk(x if i == 0 else F.max_pool1d(x, 2))
            skips.append(x)
        for blk, skip in zip(self.up, reversed(skips[:-1])):
            x = blk(torch.cat([F.interpolate(x, size=skip.shape[-1], mode="linear", align_corners=False), skip], 1))
        return self.out(x)[:, 0]


@register_model
def ppg2ecg_vit(**kwargs) -> PPG2ECGViT:
    return PPG2ECGViT(**kwargs)


@register_model
def ppg2ecg_unet1d(**kwargs) -> PPG2ECGUNet1D:
    return PPG2ECGUNet1D(**kwargs)
