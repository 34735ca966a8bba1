"""Fused variable-length attention in Triton (flash-attention style), forward and backward.

Sequences are stored padded, ``(B, H, N, D)``, with each sequence's ``lengths[b]`` valid tokens at the
front (PatchECG puts its CLS token and the patches that exist first). Keys past ``lengths[b]`` are
never loaded — the work per sequence scales with its real length, not with ``N`` — and query rows
past it produce zeros (their gradients are zero too).

Forward: online softmax over key blocks, keeping the per-row log-sum-exp for the backward pass.
Backward: ``delta = rowsum(dO * O)``; one kernel accumulates dK, dV over query blocks, another dQ
over key blocks (no atomics, deterministic).

Runs on CUDA GPUs, and on CPU tensors under ``TRITON_INTERPRET=1`` (how the tests check it).
"""
from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
    HAS_TRITON = True
except ImportError:  # pragma: no cover - triton is Linux-only
    HAS_TRITON = False


if HAS_TRITON:

    @triton.jit
    def _fwd_kernel(Q, K, V, O, LSE, LENS, sm_scale,
                    stride_b, stride_h, stride_n, stride_lb, N, H,
                    D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
        pid_m = tl.program_id(0)
        pid_bh = tl.program_id(1)
        b = pid_bh // H
        h = pid_bh % H
        L = tl.load(LENS + b)
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = tl.arange(0, BLOCK_N)
        offs_d = tl.arange(0, BLOCK_D)
        base = b * stride_b + h * stride_h
        row_ok = offs_m < L
        d_ok = offs_d < D
        q = tl.load(Q + base + offs_m[:, None] * stride_n + offs_d[None, :],
                    mask=row_ok[:, None] & d_ok[None, :], other=0.0)
        m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
        l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
        qk_scale = sm_scale * 1.4426950408889634  # log2(e): use exp2
        if pid_m * BLOCK_M < L:
            for start_n in range(0, L, BLOCK_N):
                cols = start_n + offs_n
                col_ok = cols < L
                k = tl.load(K + base + cols[:, None] * stride_n + offs_d[None, :],
                            mask=col_ok[:, None] & d_ok[None, :], other=0.0)
                v = tl.load(V + base + cols[:, None] * stride_n + offs_d[None, :],
                            mask=col_ok[:, None] & d_ok[None, :], other=0.0)
                s = tl.dot(q, tl.trans(k)).to(tl.float32) * qk_scale
                s = tl.where(col_ok[None, :], s, float("-inf"))
                m_new = tl.maximum(m_i, tl.max(s, 1))
                alpha = tl.math.exp2(m_i - m_new)
                p = tl.math.exp2(s - m_new[:, None])
                l_i = l_i * alpha + tl.sum(p, 1)
                acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v).to(tl.float32)
                m_i = m_new
        l_safe = tl.where(row_ok, l_i, 1.0)
        out = acc / l_safe[:, None]
        out = tl.where(row_ok[:, None], out, 0.0)
        # natural-log LSE per row (for the backward pass); padded rows get 0
        lse = tl.where(row_ok, m_i / 1.4426950408889634 + tl.log(l_safe), 0.0)
        tl.store(O + base + offs_m[:, None] * stride_n + offs_d[None, :], out.to(O.dtype.element_ty),
                 mask=(offs_m < N)[:, None] & d_ok[None, :])
        tl.store(LSE + b * stride_lb + h * N + offs_m, lse, mask=offs_m < N)

    @triton.jit
    def _bwd_preprocess(O, DO, DELTA, LENS, stride_b, stride_h, stride_n, stride_lb, N, H,
                        D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr):
        pid_m = tl.program_id(0)
        pid_bh = tl.program_id(1)
        b = pid_bh // H
        h = pid_bh % H
        L = tl.load(LENS + b)
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_d = tl.arange(0, BLOCK_D)
        base = b * stride_b + h * stride_h
        msk = (offs_m < L)[:, None] & (offs_d < D)[None, :]
        o = tl.load(O + base + offs_m[:, None] * stride_n + offs_d[None, :], mask=msk, other=0.0).to(tl.float32)
        do = tl.load(DO + base + offs_m[:, None] * stride_n + offs_d[None, :], mask=msk, other=0.0).to(tl.float32)
        tl.store(DELTA + b * stride_lb + h * N + offs_m, tl.sum(o * do, 1), mask=offs_m < N)

    @triton.jit
    def _bwd_block(q, k, v, do, lse, delta, row_ok, col_ok, sm_scale):
        """Recompute P = softmax block from the saved LSE, and dS = P * (dO V^T - delta)."""
        s = tl.dot(q, tl.trans(k)).to(tl.float32) * sm_scale
        p = tl.exp(s - lse[:, None])
        p = tl.where(row_ok[:, None] & col_ok[None, :], p, 0.0)
        dp = tl.dot(do, tl.trans(v)).to(tl.float32)
        return p, p * (dp - delta[:, None])

    @triton.jit
    def _bwd_dkdv(Q, K, V, DO, DK, DV, LSE, DELTA, LENS, sm_scale,
                  stride_b, stride_h, stride_n, stride_lb, N, H,
                  D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
        pid_n = tl.program_id(0)
        pid_bh = tl.program_id(1)
        b = pid_bh // H
        h = pid_bh % H
        L = tl.load(LENS + b)
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        offs_m = tl.arange(0, BLOCK_M)
        offs_d = tl.arange(0, BLOCK_D)
        base = b * stride_b + h * stride_h
        col_ok = offs_n < L
        d_ok = offs_d < D
        kv_msk = col_ok[:, None] & d_ok[None, :]
        k = tl.load(K + base + offs_n[:, None] * stride_n + offs_d[None, :], mask=kv_msk, other=0.0)
        v = tl.load(V + base + offs_n[:, None] * stride_n + offs_d[None, :], mask=kv_msk, other=0.0)
        dk = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
        dv = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
        if pid_n * BLOCK_N < L:
            for start_m in range(0, L, BLOCK_M):
                rows = start_m + offs_m
                row_ok = rows < L
                q_msk = row_ok[:, None] & d_ok[None, :]
                q = tl.load(Q + base + rows[:, None] * stride_n + offs_d[None, :], mask=q_msk, other=0.0)
                do = tl.load(DO + base + rows[:, None] * stride_n + offs_d[None, :], mask=q_msk, other=0.0)
                lse = tl.load(LSE + b * stride_lb + h * N + rows, mask=row_ok, other=0.0)
                delta = tl.load(DELTA + b * stride_lb + h * N + rows, mask=row_ok, other=0.0)
                p, ds = _bwd_block(q, k, v, do, lse, delta, row_ok, col_ok, sm_scale)
                dv += tl.dot(tl.trans(p.to(do.dtype)), do).to(tl.float32)
                dk += tl.dot(tl.trans(ds.to(q.dtype)), q).to(tl.float32)
        dk = dk * sm_scale
        out_msk = (offs_n < N)[:, None] & d_ok[None, :]
        tl.store(DK + base + offs_n[:, None] * stride_n + offs_d[None, :], dk.to(DK.dtype.element_ty), mask=out_msk)
        tl.store(DV + base + offs_n[:, None] * stride_n + offs_d[None, :], dv.to(DV.dtype.element_ty), mask=out_msk)

    @triton.jit
    def _bwd_dq(Q, K, V, DO, DQ, LSE, DELTA, LENS, sm_scale,
                stride_b, stride_h, stride_n, stride_lb, N, H,
                D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
        pid_m = tl.program_id(0)
        pid_bh = tl.program_id(1)
        b = pid_bh // H
        h = pid_bh % H
        L = tl.load(LENS + b)
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = tl.arange(0, BLOCK_N)
        offs_d = tl.arange(0, BLOCK_D)
        base = b * stride_b + h * stride_h
        row_ok = offs_m < L
        d_ok = offs_d < D
        q_msk = row_ok[:, None] & d_ok[None, :]
        q = tl.load(Q + base + offs_m[:, None] * stride_n + offs_d[None, :], mask=q_msk, other=0.0)
        do = tl.load(DO + base + offs_m[:, None] * stride_n + offs_d[None, :], mask=q_msk, other=0.0)
        lse = tl.load(LSE + b * stride_lb + h * N + offs_m, mask=row_ok, other=0.0)
        delta = tl.load(DELTA + b * stride_lb + h * N + offs_m, mask=row_ok, other=0.0)
        dq = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
        if pid_m * BLOCK_M < L:
            for start_n in range(0, L, BLOCK_N):
                cols = start_n + offs_n
                col_ok = cols < L
                kv_msk = col_ok[:, None] & d_ok[None, :]
                k = tl.load(K + base + cols[:, None] * stride_n + offs_d[None, :], mask=kv_msk, other=0.0)
                v = tl.load(V + base + cols[:, None] * stride_n + offs_d[None, :], mask=kv_msk, other=0.0)
                _, ds = _bwd_block(q, k, v, do, lse, delta, row_ok, col_ok, sm_scale)
                dq += tl.dot(ds.to(k.dtype), k).to(tl.float32)
        dq = dq * sm_scale
        tl.store(DQ + base + offs_m[:, None] * stride_n + offs_d[None, :], dq.to(DQ.dtype.element_ty),
                 mask=(offs_m < N)[:, None] & d_ok[None, :])


def _blocks(n: int, d: int) -> tuple[int, int, int]:
    block_d = max(16, triton.next_power_of_2(d))
    block = 64 if block_d <= 64 else 32
    block = min(block, max(16, triton.next_power_of_2(n)))
    return block, block, block_d


class VarlenAttention(torch.autograd.Function):
    """autograd wrapper: ``VarlenAttention.apply(q, k, v, lengths, sm_scale)`` with q/k/v ``(B, H, N, D)``."""

    @staticmethod
    def forward(ctx, q, k, v, lengths, sm_scale):
        if not HAS_TRITON:
            raise RuntimeError("triton is not installed; use the 'sdpa' attention backend")
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        B, H, N, D = q.shape
        lengths = lengths.to(device=q.device, dtype=torch.int32).contiguous()
        o = torch.empty_like(q)
        lse = torch.empty((B, H, N), device=q.device, dtype=torch.float32)
        bm, bn, bd = _blocks(N, D)
        grid = (triton.cdiv(N, bm), B * H)
        _fwd_kernel[grid](q, k, v, o, lse, lengths, sm_scale, q.stride(0), q.stride(1), q.stride(2), lse.stride(0),
                          N, H, D=D, BLOCK_M=bm, BLOCK_N=bn, BLOCK_D=bd)
        ctx.save_for_backward(q, k, v, o, lse, lengths)
        ctx.sm_scale = sm_scale
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse, lengths = ctx.saved_tensors
        do = do.contiguous()
        B, H, N, D = q.shape
        bm, bn, bd = _blocks(N, D)
        delta = torch.empty_like(lse)
        grid_m = (triton.cdiv(N, bm), B * H)
        strides = (q.stride(0), q.stride(1), q.stride(2), lse.stride(0), N, H)
        _bwd_preprocess[grid_m](o, do, delta, lengths, *strides, D=D, BLOCK_M=bm, BLOCK_D=bd)
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        _bwd_dkdv[(triton.cdiv(N, bn), B * H)](q, k, v, do, dk, dv, lse, delta, lengths, ctx.sm_scale, *strides,
                                                D=D, BLOCK_M=bm, BLOCK_N=bn, BLOCK_D=bd)
        _bwd_dq[grid_m](q, k, v, do, dq, lse, delta, lengths, ctx.sm_scale, *strides,
                        D=D, BLOCK_M=bm, BLOCK_N=bn, BLOCK_D=bd)
        return dq, dk, dv, None, None


def varlen_attention_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor,
                            sm_scale: float | None = None) -> torch.Tensor:
    """Triton attention over ``(B, H, N, D)`` with ``lengths[b]`` valid leading tokens per sequence."""
    scale = q.shape[-1] ** -0.5 if sm_scale is None else sm_scale
    return VarlenAttention.apply(q, k, v, lengths, scale)
