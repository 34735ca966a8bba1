"""The lead separation network's input, shared by its training data (:mod:`ecgcls.data.leadsep`), the network
(:mod:`ecgcls.models.leadsep`) and the digitizer (:mod:`ecgcls.digitize.separate`): here, below all three."""
from __future__ import annotations

import torch

#: the resolution the network works at (px per mm of paper)
PX_PER_MM = 5.0
#: input channels, in order
INPUTS: tuple[str, ...] = ("darkness", "rel_10mm", "rel_pitch")


def row_inputs(dark: torch.Tensor, base_y: torch.Tensor, pitch_px: torch.Tensor) -> torch.Tensor:
    """Stack the network's input from darkness crops (B, H, W) at :data:`PX_PER_MM`, each crop's baseline y
    (B, W) px per column (or (B,) for a level row) and the row pitch (B,) px. Returns (B, 3, H, W) float32."""
    b, h, w = dark.shape
    base = base_y.reshape(b, 1, w) if base_y.ndim == 2 else base_y.reshape(b, 1, 1)
    rel = torch.arange(h, dtype=torch.float32, device=dark.device).view(1, h, 1) - base.float()
    rel = rel.expand(b, h, w)
    return torch.stack([dark.float(), rel / (10 * PX_PER_MM), rel / pitch_px.float().view(b, 1, 1)], dim=1)
