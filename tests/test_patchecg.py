import numpy as np
import pytest
import torch

from ecgcls.data.masking import EVAL_CONDITIONS, SIM_LAYOUTS, FixedCondition, LayoutMasker, layout_coverage
from ecgcls.models import create


def signal(seed=0, n=1000):
    return np.random.default_rng(seed).normal(0, 0.3, (12, n)).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create("patchecg", num_classes=5, d_model=32, depth=2, heads=2, attn_backend="sdpa").eval()


def test_token_count_follows_what_is_printed(model):
    full = torch.from_numpy(signal())
    three = torch.from_numpy(FixedCondition("3x4")(signal(), np.random.default_rng(0)))
    _, lengths = model.tokens(torch.stack([full, three]))
    n_p = model.n_patches  # 16 patches of 64 samples cover 1000 samples
    assert lengths[0] == 1 + 12 * n_p
    # 3x4: each lead shows 2.5 s = 250 samples -> 4 or 5 patches that contain signal
    assert 1 + 12 * 4 <= lengths[1] <= 1 + 12 * 5


def test_padding_never_leaks(model):
    """A record's logits are the same alone or batched with a longer record (proper key-padding mask)."""
    short = torch.from_numpy(FixedCondition("6x2")(signal(1), np.random.default_rng(0)))
    long = torch.from_numpy(signal(2))
    with torch.no_grad():
        alone = model(short[None])
        batched = model(torch.stack([long, short]))[1:]
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-5)


def test_asynchronous_time_matters(model):
    """The same patch values at another time give another output (absolute time embedding)."""
    x = np.full((12, 1000), np.nan, np.float32)
    y = x.copy()
    x[0, :250] = signal(3)[0, :250]
    y[0, 256:506] = signal(3)[0, :250]
    with torch.no_grad():
        a, b = model(torch.from_numpy(x)[None]), model(torch.from_numpy(y)[None])
    assert not torch.allclose(a, b)


def test_all_missing_record_still_has_cls(model):
    x = torch.full((1, 12, 1000), float("nan"))
    with torch.no_grad():
        out = model(x)
    assert torch.isfinite(out).all()


def test_triton_backend_matches_sdpa():
    from ecgcls.kernels import triton_usable
    if not triton_usable(torch.empty(0)):
        pytest.skip("triton interpreter unavailable")
    torch.manual_seed(0)
    m = create("patchecg", num_classes=3, d_model=32, depth=1, heads=2, attn_backend="sdpa").eval()
    x = torch.stack([torch.from_numpy(FixedCondition(lay)(signal(i), np.random.default_rng(i)))
                     for i, lay in enumerate(["12x1", "3x4", "6x2"])])
    with torch.no_grad():
        ref = m(x)
        for blk in m.blocks:
            blk.backend = "triton"
        out = m(x)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_wrong_input_shape(model):
    with pytest.raises(ValueError, match="12 leads"):
        model(torch.zeros(1, 8, 1000))


# ---- masking ------------------------------------------------------------------------------------
def test_layout_coverage_matches_renderer_table():
    cov = layout_coverage("3x4", 100, 1000)
    assert cov[0, :250].all() and not cov[0, 250:].any()  # I: 0-2.5 s
    assert cov[6, 500:750].all() and not cov[6, :500].any()  # V1: 5-7.5 s
    cab = layout_coverage("cabrera", 100, 1000)
    assert cab[4, :250].all() and cab[1, 250:500].all()  # aVL first column, II second
    assert layout_coverage("3x4+II", 100, 1000)[1].all()  # rhythm strip: II over 10 s
    six = layout_coverage("6x2", 100, 1000)
    assert six[0, :500].all() and six[6, 500:].all() and not six[6, :500].any()


def test_masker_reproducible_and_hides_samples():
    m = LayoutMasker(fs=100)
    x = signal()
    a = m(x, np.random.default_rng(5))
    b = m(x, np.random.default_rng(5))
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    fracs = [np.isnan(m(x, np.random.default_rng(i))).mean() for i in range(50)]
    assert 0.2 < np.mean(fracs) < 0.9  # most draws hide part of the record
    vis = ~np.isnan(a)
    np.testing.assert_array_equal(a[vis], x[vis])  # visible samples untouched


def test_masker_rejects_unknown_layout():
    with pytest.raises(ValueError, match="unknown simulated layout"):
        LayoutMasker(layouts=["4x3"])


def test_blackout_condition_fraction():
    y = EVAL_CONDITIONS["blackout30"](signal(), np.random.default_rng(0))
    assert np.isnan(y).mean() == pytest.approx(0.3, abs=0.01)
    assert set(SIM_LAYOUTS) >= {"12x1", "3x4", "6x2", "cabrera"}


def test_digitized_store_and_mixed_dataset(tmp_path):
    """Records rendered + digitized once into a store; the dataset serves them with NaN where not printed."""
    from conftest import make_tiny_ptbxl
    from ecgcls.data import SignalStore
    from ecgcls.data.datamodule import SignalDataset
    from ecgcls.data.digitized import DigitizedStore

    root = make_tiny_ptbxl(tmp_path / "tiny", n=3, fs_list=(100, 500))
    # the tiny records are noise, not ECGs: give them a real-looking signal so pages digitize
    import wfdb
    from test_render import synthetic_ecg
    for i in range(1, 4):
        wfdb.wrsamp(f"{i:05d}_hr", fs=500, units=["mV"] * 12, sig_name=list(__import__("ecgcls").LEADS),
                    p_signal=synthetic_ecg(i).T.astype(np.float64), fmt=["16"] * 12, adc_gain=[1000.0] * 12,
                    baseline=[0] * 12, write_dir=str(root / "records500/00000"))
    dig = DigitizedStore(root, fs=100, cache_dir=tmp_path / "c", variants=1, layouts=["3x4", "6x2"],
                         artifact_prob=0.0, workers=1)
    assert dig.signals.shape == (3, 1, 12, 1000)
    assert set(dig.layouts) <= {"3x4", "6x2"}
    x = dig.get(2)
    assert np.isnan(x).any() and np.isfinite(x).mean() > 0.2  # partly printed, mostly read
    store = SignalStore(root, 100, tmp_path / "c", progress=False)
    ds = SignalDataset(store, np.array([1, 2, 3]), np.zeros((3, 2)), digitized=dig, digitized_prob=1.0, eval_seed=0)
    np.testing.assert_array_equal(np.isnan(ds[1][0].numpy()), np.isnan(x))
    again = DigitizedStore(root, fs=100, cache_dir=tmp_path / "c", variants=1, layouts=["3x4", "6x2"],
                           artifact_prob=0.0, workers=1)
    assert again.dir == dig.dir  # cached, not rebuilt
    # the domain-randomized renderer and the predict-time digitizer (ink=auto) make a separate store
    rnd = DigitizedStore(root, fs=100, cache_dir=tmp_path / "c", variants=1, layouts=["3x4+II"], workers=1,
                         renderer="randomized", ink="auto", dpi=(100.0, 150.0), artifact_prob=0.0)
    assert rnd.dir != dig.dir and rnd.signals.shape == (3, 1, 12, 1000)
    assert np.isfinite(rnd.signals).mean() > 0.2
    with pytest.raises(ValueError, match="renderer must be"):
        DigitizedStore(root, fs=100, cache_dir=tmp_path / "c", renderer="fancy")
