"""Attention kernel: fused Triton varlen kernel vs PyTorch SDPA with a key-padding mask.

    python bench/attention.py            # GPU: real timings (fwd and fwd+bwd); CPU: interpreter check only

Token counts are PatchECG's: 1 CLS + up to 12 leads x 16 patches, with the lengths that the simulated
layouts produce (12x1 full, 3x4, 6x2, heavy blackouts). Writes bench/out/attention.json.
"""
from __future__ import annotations

import os
import sys

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before the kernel module is imported

sys.path.insert(0, os.path.dirname(__file__))
from _common import write_json  # noqa: E402

from ecgcls.kernels import attention  # noqa: E402


def lengths_for(batch: int, gen: torch.Generator) -> torch.Tensor:
    """A batch mixing layouts: full (193 tokens), 3x4 (~61), 6x2 (~97), blackout (~40-150)."""
    choices = torch.tensor([193, 61, 73, 97, 109, 40, 150])
    return choices[torch.randint(0, len(choices), (batch,), generator=gen)]


def time_ms(fn, reps: int = 20) -> float:
    torch.cuda.synchronize()
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    res: dict = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (TRITON_INTERPRET=1)"}
    if not torch.cuda.is_available():
        B, H, N, D = 4, 4, 193, 32
        lengths = lengths_for(B, gen)
        q, k, v = [torch.randn(B, H, N, D, generator=gen, requires_grad=True) for _ in range(3)]
        o_t = attention(q, k, v, lengths, backend="triton")
        o_r = attention(q, k, v, lengths, backend="sdpa")
        g = torch.randn_like(o_t)
        gt = torch.autograd.grad(o_t, (q, k, v), g)
        gr = torch.autograd.grad(o_r, (q, k, v), g)
        res["max_abs_err_out"] = float((o_t - o_r).abs().max())
        res["max_abs_err_grad"] = max(float((a - b).abs().max()) for a, b in zip(gt, gr))
        print(f"interpreter check (no timings on CPU): max |out err| {res['max_abs_err_out']:.2e}, "
              f"max |grad err| {res['max_abs_err_grad']:.2e}")
        write_json("attention", res)
        return
    dev = "cuda"
    for dtype in (torch.float16, torch.bfloat16):
        for B, H, D in ((64, 8, 96), (256, 8, 96), (256, 4, 32)):
            N = 193
            lengths = lengths_for(B, gen).to(dev)
            q, k, v = [torch.randn(B, H, N, D, device=dev, dtype=dtype, requires_grad=True) for _ in range(3)]
            g = torch.randn(B, H, N, D, device=dev, dtype=dtype)
            row = {}
            for backend in ("triton", "sdpa"):
                f = lambda: attention(q, k, v, lengths, backend=backend)  # noqa: E731
                fb = lambda: torch.autograd.grad(attention(q, k, v, lengths, backend=backend), (q, k, v), g)  # noqa: E731
                row[backend] = {"fwd_ms": round(time_ms(f), 4), "fwd_bwd_ms": round(time_ms(fb), 4)}
            key = f"{str(dtype).split('.')[-1]} B{B} H{H} D{D} N{N}"
            res[key] = row
            print(f"{key}: triton fwd {row['triton']['fwd_ms']:.3f} ms, fwd+bwd {row['triton']['fwd_bwd_ms']:.3f} ms | "
                  f"sdpa fwd {row['sdpa']['fwd_ms']:.3f} ms, fwd+bwd {row['sdpa']['fwd_bwd_ms']:.3f} ms")
    write_json("attention", res)


if __name__ == "__main__":
    main()
