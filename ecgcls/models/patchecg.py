"""PatchECG: a masked-patch transformer for asynchronous, partially missing 12-lead signals.

Each lead is cut into ``patch_len``-sample patches; only patches with enough observed samples become
tokens, so the token count varies per record and per layout. A token is

    patch_encoder([zero-filled values, observed mask]) + lead_embedding[lead] + time_embedding[patch index]

(the time embedding is absolute, so leads printed at different times keep their true time). A CLS
token is prepended, tokens are packed to the front of each sequence, and attention runs over the
real tokens only (``ecgcls.kernels.attention`` with per-sequence lengths: a fused Triton kernel on GPU,
exact SDPA elsewhere). Pre-LayerNorm encoder, linear multi-label head on the CLS output.

Input: ``(B, 12, T)`` in mV with NaN where nothing is known. Output: logits ``(B, num_classes)``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ecgcls.kernels import attention, masked_attention
from ecgcls.models.registry import register_model


class SE1d(nn.Module):
    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(c, max(4, c // r)), nn.ReLU(inplace=True), nn.Linear(max(4, c // r), c),
                                nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(x.mean(-1))[..., None]


class CNNPatchEncoder(nn.Module):
    """Small ResNeXt-like 1-D CNN with squeeze-excitation over (values, observed) → d_model."""

    def __init__(self, patch_len: int, d_model: int, width: int = 32, groups: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(2, width, 7, stride=2, padding=3, bias=False), nn.BatchNorm1d(width),
                                  nn.GELU())
        self.block = nn.Sequential(
            nn.Conv1d(width, width, 5, padding=2, groups=groups, bias=False), nn.BatchNorm1d(width), nn.GELU(),
            nn.Conv1d(width, width, 1, bias=False), nn.BatchNorm1d(width), SE1d(width))
        self.pool = nn.AdaptiveAvgPool1d(4)
        self.proj = nn.Linear(4 * width, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (M, 2, P) -> (M, d)
        h = self.stem(x)
        h = F.gelu(h + self.block(h))
        return self.proj(self.pool(h).flatten(1))


class LeadContextEncoder(nn.Module):
    """Per-lead strided 1-D ResNet over the whole (values, observed) lead → one feature per patch.

    A patch shorter than a heartbeat (64 samples at 100 Hz = 0.64 s) holds part of a beat only; this
    encoder lets each patch's token see its neighbouring *observed* samples too (receptive field of a few
    seconds). Unobserved samples are zeros with observed = 0, so a token still only carries what was
    printed, and tokens are still made only for patches that exist. Total stride = ``patch_len``, which
    must be a power of two (2^k, k ≥ 2).
    """

    lead_level = True

    def __init__(self, patch_len: int, d_model: int, width: int = 16, kernel: int = 5) -> None:
        super().__init__()
        from ecgcls.models.cnn1d import ResBlock1d

        k = int(patch_len).bit_length() - 1
        if patch_len < 4 or 2 ** k != patch_len:
            raise ValueError(f"patch_encoder 'lead_cnn' needs patch_len = 2^k ≥ 4, got {patch_len}")
        widths = [min(width * 2 ** (i // 2), 8 * width) for i in range(k - 1)]
        self.stem = nn.Sequential(nn.Conv1d(2, width, 7, stride=2, padding=3, bias=False), nn.BatchNorm1d(width),
                                  nn.ReLU(inplace=True))
        blocks, c = [], width
        for w in widths:
            blocks.append(ResBlock1d(c, w, kernel, stride=2))
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.proj = nn.Linear(c, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (M, 2, n_patches * patch_len) -> (M, n_patches, d)
        return self.proj(self.blocks(self.stem(x)).transpose(1, 2))


class LinearPatchEncoder(nn.Module):
    def __init__(self, patch_len: int, d_model: int, **_) -> None:
        super().__init__()
        self.proj = nn.Linear(2 * patch_len, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.flatten(1))


class Block(nn.Module):
    """Pre-LN transformer block whose attention sees only each sequence's first ``lengths[b]`` tokens."""

    def __init__(self, d: int, heads: int, mlp_ratio: float, dropout: float, attn_backend: str) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model {d} is not divisible by heads {heads}")
        self.heads, self.backend = heads, attn_backend
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, int(d * mlp_ratio)), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(int(d * mlp_ratio), d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, key_mask: torch.Tensor | None = None
                ) -> torch.Tensor:
        """``lengths`` (B,): packed sequences (the attention backend's varlen path); or ``key_mask`` (B, N) bool:
        any tokens may be missing, and attention skips them as keys (:meth:`PatchECG.forward_dense`)."""
        B, N, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, N, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if key_mask is not None:
            a = masked_attention(q, k, v, key_mask)
        else:
            a = attention(q, k, v, lengths, backend=self.backend)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, N, d)))
        return x + self.drop(self.mlp(self.ln2(x)))


class PatchECG(nn.Module):
    def __init__(self, num_classes: int, n_leads: int = 12, n_samples: int = 1000, patch_len: int = 64,
                 d_model: int = 128, depth: int = 3, heads: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.1,
                 patch_encoder: str = "cnn", encoder_width: int = 32, min_observed: float = 0.0,
                 attn_backend: str = "auto", pad_multiple: int = 8) -> None:
        super().__init__()
        self.pad_multiple = int(pad_multiple)
        self.n_leads, self.patch_len = n_leads, patch_len
        self.n_patches = -(-n_samples // patch_len)
        self.min_observed = min_observed
        enc = {"cnn": CNNPatchEncoder, "linear": LinearPatchEncoder, "lead_cnn": LeadContextEncoder}.get(patch_encoder)
        if enc is None:
            raise ValueError(f"unknown patch_encoder {patch_encoder!r}; use 'cnn', 'lead_cnn' or 'linear'")
        self.encoder = enc(patch_len, d_model, width=encoder_width)
        self.lead_emb = nn.Parameter(torch.zeros(n_leads, d_model))
        self.time_emb = nn.Parameter(torch.zeros(self.n_patches, d_model))
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        for p in (self.lead_emb, self.time_emb, self.cls):
            nn.init.trunc_normal_(p, std=0.02)
        self.blocks = nn.ModuleList([Block(d_model, heads, mlp_ratio, dropout, attn_backend) for _ in range(depth)])
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)
        self.num_classes = num_classes

    def patchify(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, T) with NaN → patches (B, L, n_patches, 2, P) [values, observed] and token validity (B, L, n_patches)."""
        B, L, T = x.shape
        if L != self.n_leads:
            raise ValueError(f"PatchECG expects {self.n_leads} leads, got input of shape {tuple(x.shape)}")
        pad = self.n_patches * self.patch_len - T
        if pad < 0:
            raise ValueError(f"PatchECG built for {self.n_patches * self.patch_len} samples, got {T}")
        x = F.pad(x, (0, pad), value=float("nan"))
        obs = ~torch.isnan(x)
        vals = torch.nan_to_num(x, nan=0.0)
        vals = vals.view(B, L, self.n_patches, self.patch_len)
        obs = obs.view(B, L, self.n_patches, self.patch_len)
        frac = obs.float().mean(-1)
        valid = frac > self.min_observed
        return torch.stack([vals, obs.to(vals.dtype)], dim=3), valid

    def tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Packed tokens (B, 1 + max_tokens, d) with CLS first and real tokens next, plus lengths (B,)."""
        B = x.shape[0]
        patches, valid = self.patchify(x)
        flat_valid = valid.view(B, -1)  # lead-major order: lead l, patch p -> l * n_patches + p
        counts = flat_valid.sum(1)
        n_max = int(counts.max().item()) if B else 0
        m = self.pad_multiple  # few distinct sequence lengths: bounded kernel/primitive caches, steadier memory
        n_max = -(-(n_max + 1) // m) * m - 1 if m > 1 else n_max
        if getattr(self.encoder, "lead_level", False):  # whole leads in, one feature per patch out
            emb = self._encode_leads(patches)[valid]
        else:
            emb = self.encoder(patches[valid])  # only patches that exist are encoded
        lead_idx, patch_idx = valid.nonzero(as_tuple=True)[1:]
        emb = emb + self.lead_emb[lead_idx] + self.time_emb[patch_idx]
        # scatter each record's tokens to the front of its row
        batch_idx = valid.nonzero(as_tuple=True)[0]
        pos = torch.cumsum(flat_valid.long(), 1)[flat_valid] - 1
        seq = emb.new_zeros(B, n_max, emb.shape[-1])
        seq[batch_idx, pos] = emb
        seq = torch.cat([self.cls.expand(B, -1, -1), seq], dim=1)
        return seq, counts + 1

    def _encode_leads(self, patches: torch.Tensor) -> torch.Tensor:
        """A lead-level encoder's features of every patch (B, L, n_patches, d), each lead encoded whole."""
        B, L, P = patches.shape[0], self.n_leads, self.n_patches
        return self.encoder(patches.permute(0, 1, 3, 2, 4).reshape(B * L, 2, P * self.patch_len)).view(B, L, P, -1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h, lengths = self.tokens(x)
        for blk in self.blocks:
            h = blk(h, lengths)
        return self.norm(h[:, 0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def forward_dense(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of :meth:`forward`, computed with every patch a token and the missing ones skipped as keys
        instead of packing the ones that exist: fixed shapes and no data-dependent indexing, for ONNX export
        (``ecgcls bundle --onnx``). Attention is blind to token order and the missing tokens are never attended
        to, so the CLS output is the same to float rounding; it encodes every patch, so it is slower where many
        are missing."""
        B, L, P = x.shape[0], self.n_leads, self.n_patches
        patches, valid = self.patchify(x)
        if getattr(self.encoder, "lead_level", False):
            emb = self._encode_leads(patches)
        else:
            emb = self.encoder(patches.reshape(B * L * P, 2, self.patch_len))
        pos = (self.lead_emb[:, None, :] + self.time_emb[None, :, :]).reshape(1, L * P, -1)  # lead-major order
        h = torch.cat([self.cls.expand(B, -1, -1), emb.reshape(B, L * P, -1) + pos], dim=1)
        keep = torch.cat([valid.new_ones(B, 1), valid.reshape(B, L * P)], dim=1)
        for blk in self.blocks:
            h = blk(h, key_mask=keep)
        return self.head(self.norm(h[:, 0]))


@register_model
def patchecg(num_classes: int, **kwargs) -> PatchECG:
    """CPU-sized default (d 128, 3 layers, 4 heads); the published size is d 768, 8 heads (``patchecg_base``)."""
    return PatchECG(num_classes=num_classes, **kwargs)


@register_model
def patchecg_base(num_classes: int, **kwargs) -> PatchECG:
    kwargs = {"d_model": 768, "depth": 3, "heads": 8, **kwargs}
    return PatchECG(num_classes=num_classes, **kwargs)
