"""Triton varlen attention against the PyTorch SDPA reference (interpreter on CPU, real kernel on GPU)."""
import pytest
import torch

from ecgcls.kernels import attention, attention_sdpa, triton_usable

pytestmark = pytest.mark.skipif(not triton_usable(torch.empty(0, device="cuda" if torch.cuda.is_available() else "cpu")),
                                reason="triton unavailable (needs CUDA or TRITON_INTERPRET=1)")
DEV = "cuda" if torch.cuda.is_available() else "cpu"


def _compare(B, H, N, D, lengths, dtype=torch.float32, atol=2e-5, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = [torch.randn(B, H, N, D, generator=g).to(DEV, dtype).requires_grad_() for _ in range(3)]
    lengths = torch.tensor(lengths, device=DEV)
    dout = torch.randn(B, H, N, D, generator=g).to(DEV, dtype)
    out_t = attention(q, k, v, lengths, backend="triton")
    grads_t = torch.autograd.grad(out_t, (q, k, v), dout)
    # reference in float32
    q32, k32, v32 = [x.detach().float().requires_grad_() for x in (q, k, v)]
    out_r = attention_sdpa(q32, k32, v32, lengths)
    grads_r = torch.autograd.grad(out_r, (q32, k32, v32), dout.float())
    valid = torch.arange(N, device=DEV)[None, :] < lengths[:, None]
    torch.testing.assert_close(out_t.float()[valid[:, None, :, None].expand_as(out_t)],
                               out_r[valid[:, None, :, None].expand_as(out_r)], atol=atol, rtol=atol * 10)
    for gt, gr, name in zip(grads_t, grads_r, "qkv"):
        torch.testing.assert_close(gt.float(), gr, atol=atol * 5, rtol=atol * 50, msg=f"d{name} differs")
    # padding: zero output rows and zero gradients
    pad = ~valid
    if pad.any():  # (a case whose sequences are all full has no padding to check)
        assert out_t.float().permute(0, 2, 1, 3)[pad].abs().max().item() == 0
        for gt in grads_t:
            assert gt.float().permute(0, 2, 1, 3)[pad].abs().max().item() == 0


def test_random_lengths():
    _compare(4, 2, 50, 32, [50, 17, 3, 33])


def test_single_token():
    _compare(3, 2, 1, 16, [1, 1, 1])
    _compare(2, 1, 20, 16, [1, 20])


def test_long_sequence_patchecg_size():
    # 1 CLS + 12 leads x 15 patches = 181 tokens (PatchECG at 100 Hz)
    _compare(2, 2, 181, 32, [181, 97], seed=3)


def test_head_dim_not_power_of_two():
    _compare(2, 3, 40, 24, [40, 9], seed=4)


def test_half_precision():
    _compare(2, 2, 64, 32, [64, 30], dtype=torch.float16, atol=2e-3, seed=5)


def test_auto_backend_and_errors():
    q = torch.randn(1, 1, 4, 8)
    lengths = torch.tensor([4])
    if not torch.cuda.is_available():
        torch.testing.assert_close(attention(q, q, q, lengths, backend="auto"), attention_sdpa(q, q, q, lengths))
    with pytest.raises(ValueError, match="backend"):
        attention(q, q, q, lengths, backend="flash")
    with pytest.raises(ValueError, match="lengths"):
        attention(q, q, q, torch.tensor([4, 4]))
