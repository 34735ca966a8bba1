"""Lead separation (experimental, opt-in): the network, its row crops, its training loop, and the digitizer's
fallback when it is switched on without weights."""
import numpy as np
import pytest
import torch

from ecgcls.data.leadsep import RowCropDataset, page_crops, row_baselines
from ecgcls.models import create
from ecgcls.models.leadsep import INPUTS, PX_PER_MM, row_inputs
from ecgcls.render import RenderConfig, render

from test_render import synthetic_ecg

FS = 500


@pytest.fixture(scope="module")
def sig():
    return synthetic_ecg(5)


def test_network_shapes_and_inputs():
    net = create("leadsep").eval()
    x = row_inputs(torch.rand(2, 101, 150), torch.tensor([50.0, 60.0]), torch.tensor([90.0, 80.0]))
    assert x.shape == (2, len(INPUTS), 101, 150)
    # the position maps: 0 on the baseline, in pitches below it, in 10 mm above it
    assert x[0, 1, 50, 0] == 0 and x[0, 2, 95, 3] == pytest.approx(45 / 90)
    assert x[1, 1, 60 - int(10 * PX_PER_MM), 7] == pytest.approx(-1.0)
    per_col = row_inputs(torch.rand(1, 40, 5), torch.arange(5.0)[None], torch.tensor([30.0]))
    assert torch.allclose(per_col[0, 1, 0], -torch.arange(5.0) / (10 * PX_PER_MM))  # a tilted baseline
    with torch.inference_mode():
        assert net(x).shape == (2, 1, 101, 150)  # not a multiple of the encoder stride
    with pytest.raises(ValueError, match="expects"):
        net(torch.rand(1, 1, 64, 64))


def test_trace_level_follows_the_wander_not_the_waves():
    from ecgcls.digitize.separate import trace_level

    x = np.arange(400.0)
    y = 100 + 0.05 * x  # a drifting baseline ...
    y[::50] -= 40       # ... with a 1-px-wide spike every 50 columns
    y[200:220] = np.nan  # and a gap
    lv = trace_level(y, 21)
    assert np.allclose(lv[30:-30], 100 + 0.05 * x[30:-30], atol=1.2)
    assert np.isfinite(lv).all() and np.isnan(trace_level(np.full(5, np.nan), 3)).all()


def test_row_crops_hold_that_rows_ink(sig):
    page = render(sig, FS, RenderConfig(layout="12x1", dpi=150, gain_mm_mv=20), rng=0)
    bases = row_baselines(page, page.image.shape[1])
    g = page.geometry
    assert len(bases) == 12 and np.allclose(bases[3], g.baseline_mm(3) * g.px_per_mm)
    crops = page_crops(page, 12, np.random.default_rng(0))
    assert len(crops) == 12
    for d, t, base, pitch in crops:
        assert d.shape == t.shape == (240, 192) and base.shape == (192,)
        assert pitch == pytest.approx(g.row_pitch_mm * PX_PER_MM)
        assert t.any() and d[t.astype(bool)].mean() > 0.3  # the target is dark ink
        # the target is one row: its ink stays within reach of the crop's baseline, whatever crosses it
        ys = np.nonzero(t)[0]
        assert np.median(np.abs(ys - base.mean())) < 0.6 * pitch
    # at 20 mm/mV the chest leads cross each other's rows: most crops are centred where they meet
    ds = RowCropDataset(crops, train=True)
    x, y = ds[0]
    assert x.shape == (3, 240, 192) and y.shape == (1, 240, 192) and set(np.unique(y.numpy())) <= {0.0, 1.0}


def test_training_loop_runs(tmp_path, ptbxl_root):
    """One tiny epoch through Hydra's experiment: crops drawn, fitted, weights bundle written and loadable."""
    from hydra import compose, initialize_config_dir

    from conftest import REPO
    from ecgcls.digitize.separate import row_probability
    from ecgcls.train.run import train

    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=lead_sep", f"paths.root_dir={REPO}", f"paths.output_dir={tmp_path}",
            f"paths.cache_dir={tmp_path / 'cache'}", f"data.root={ptbxl_root}", "data.n_pages.train=3",
            "data.n_pages.val=1", "data.dpi=[75,90]", "data.crops_per_page=4", "data.render_workers=1",
            "data.batch_size=4", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=1", "model.net.decoder_channels=[16,16,8,8]"])
        result = train(cfg)
    assert set(result["validation"]) >= {"val/f1_row", "val/iou_row"}
    assert result["data"]["n_crops"] == {"train": 12, "val": 4} and len(result["record_ids"]["train"]) == 3
    p = row_probability(np.random.rand(60, 90).astype(np.float32), 30.0, 40.0, 3.0, 3.0,
                        tmp_path / "leadsep.safetensors")
    assert p.shape == (60, 90) and p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1
    with pytest.raises(ValueError, match="pitch"):
        row_probability(np.zeros((60, 90), np.float32), 30.0, 0.0, 3.0, 3.0, tmp_path / "leadsep.safetensors")
    # switched on with these weights, the digitizer re-reads only the crowded parts of a crowded page
    import ecgcls.digitize.pipeline as P
    from ecgcls.digitize import digitize

    sig = synthetic_ecg(11)
    sig[6:10] *= 2.0
    page = render(sig, FS, RenderConfig(layout="12x1", dpi=120, gain_mm_mv=20), rng=2)
    off = digitize(page.image, keep_image=False, ink="classic").record.signal
    on = digitize(page.image, keep_image=False, ink="classic",
                  separate=P.Separation(on=True, weights=str(tmp_path / "leadsep.safetensors"))).record.signal
    assert on.shape == off.shape and np.isfinite(on).sum() >= 0.9 * np.isfinite(off).sum()
    changed = np.abs(np.nan_to_num(on, nan=-9) - np.nan_to_num(off, nan=-9)) > 0.05  # mV
    assert changed.mean() < 0.3  # QRS neighbourhoods, not whole leads


def test_missing_weights_fall_back_with_a_warning(tmp_path):
    import ecgcls.digitize.pipeline as P
    from ecgcls.digitize import digitize

    sig = synthetic_ecg(11)
    sig[6:10] *= 2.0
    page = render(sig, FS, RenderConfig(layout="12x1", dpi=120, gain_mm_mv=20), rng=2)
    assert not P.SEPARATE.on  # off unless asked for
    ref = digitize(page.image, keep_image=False, ink="classic").record.signal
    with pytest.warns(RuntimeWarning, match="not separated"):
        got = digitize(page.image, keep_image=False, ink="classic",
                       separate=P.Separation(on=True, weights=str(tmp_path / "none.safetensors"))).record.signal
    np.testing.assert_array_equal(np.nan_to_num(got, nan=-9), np.nan_to_num(ref, nan=-9))
