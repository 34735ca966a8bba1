"""Lead separation network: one row's band of the page → per-pixel probability that its ink is *that row's* trace.

Where a lead's deep S or tall R wave crosses into the neighbouring row (12×1 chest leads, 20 mm/mV pages), the
strokes of two or three rows merge into one dark bar, and no rule on the ink alone can say which part is whose.
Karbasi et al. train a U-Net with overlapping neighbours for this; ecgcls's renderer keeps every lead's ink in its
own bit even where strokes overlap, so the exact answer exists for every rendered pixel.

Input (B, 3, H, W): the page's darkness (:func:`ecgcls.digitize.grid.darkness`, 0 = paper) resampled to
``PX_PER_MM`` px/mm, and two maps of where the target row is: each pixel's height above (−) or below (+) the
row's baseline in units of 10 mm, and in units of the page's row pitch (how far the neighbours are). Output: logits
(B, 1, H, W); a pixel both rows' strokes cover belongs to both. A plain ``nn.Module``: it knows nothing about
training (``python train.py experiment=lead_sep``).
"""
from __future__ import annotations

import torch

from ecgcls.models.registry import register_model
from ecgcls.data.leadsep_inputs import INPUTS, PX_PER_MM, row_inputs  # noqa: F401 (re-exported)
from ecgcls.models.traceseg import PaddedUnet

#: output channels, in order
CHANNELS: tuple[str, ...] = ("row",)


class LeadSepNet(PaddedUnet):
    def __init__(self, encoder: str = "tu-mobilenetv3_small_100", encoder_depth: int = 4,
                 decoder_channels: tuple[int, ...] = (48, 32, 16, 8)) -> None:
        super().__init__(encoder, encoder_depth, decoder_channels, len(INPUTS), len(CHANNELS), "leadsep")
        self.channels = CHANNELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != len(INPUTS):
            raise ValueError(f"leadsep expects (B, {len(INPUTS)}, H, W) = {INPUTS}, got {tuple(x.shape)}")
        return self.padded(torch.cat([(x[:, :1] - 0.15) / 0.25, x[:, 1:]], dim=1))


@register_model
def leadsep(**kwargs) -> LeadSepNet:
    """U-Net (smp) on MobileNetV3-small with 3 input maps and one output: ~1 M parameters."""
    return LeadSepNet(**kwargs)
