"""Trace segmentation: the network, its training data, its training loop, and the bundled weights in use."""
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgcls.data.traceseg import CropDataset, page_to_sample
from ecgcls.models import create
from ecgcls.models.traceseg import CHANNELS
from ecgcls.render import RenderConfig, render

from test_render import synthetic_ecg

FS = 500


@pytest.fixture(scope="module")
def sig():
    return synthetic_ecg(5)


def test_network_shapes_and_padding():
    net = create("traceseg").eval()
    with torch.inference_mode():
        out = net(torch.rand(2, 3, 101, 150))  # not a multiple of the encoder stride
    assert out.shape == (2, len(CHANNELS), 101, 150)
    with pytest.raises(ValueError, match="RGB"):
        net(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match="decoder_channels"):
        create("traceseg", encoder_depth=3, decoder_channels=(8, 8))


def test_samples_carry_exact_masks(sig):
    page = render(sig, FS, RenderConfig(layout="3x4+II", dpi=150), rng=0)
    img, tgt = page_to_sample(page.image, page.mask, 512)
    assert max(img.shape[:2]) == 512 and tgt.shape == (2, *img.shape[:2]) and tgt.dtype == np.uint8
    # trace ink and pulses are where the renderer drew them, and nowhere near the header text
    assert 0.002 < tgt[0].mean() < 0.1 and tgt[1].sum() > 0
    assert not (tgt[0] & tgt[1]).all()
    ds = CropDataset([(img, tgt)], crop=128, per_page=4, train=True, seed=0)
    x, y = ds[1]
    assert x.shape == (3, 128, 128) and y.shape == (2, 128, 128) and 0 <= x.min() and x.max() <= 1
    a, _ = CropDataset([(img, tgt)], 128, 4, train=False)[2]
    b, _ = CropDataset([(img, tgt)], 128, 4, train=False)[2]
    assert torch.equal(a, b)  # evaluation crops are fixed


def test_randomized_pages_are_reproducible_and_varied(sig):
    cfgs = [RenderConfig.randomized(np.random.default_rng(i), dpi=(75, 100)) for i in range(12)]
    assert len({(c.pulse, c.label_pos, c.separator, c.layout) for c in cfgs}) > 4
    a = render(sig, FS, RenderConfig.randomized(np.random.default_rng(3), dpi=(75, 100)), rng=3)
    b = render(sig, FS, RenderConfig.randomized(np.random.default_rng(3), dpi=(75, 100)), rng=3)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_training_loop_runs(tmp_path, ptbxl_root, monkeypatch):
    """One tiny epoch through Hydra's experiment: pool drawn, fitted, weights bundle written and loadable."""
    from hydra import compose, initialize_config_dir

    from conftest import REPO
    from ecgcls.digitize.segment import load_trace_net
    from ecgcls.train.run import train

    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=trace_seg", f"paths.root_dir={REPO}", f"paths.output_dir={tmp_path}", f"paths.cache_dir={tmp_path / 'cache'}",
            f"data.root={ptbxl_root}", "data.n_pages.train=4", "data.n_pages.val=2", "data.dpi=[75,90]",
            "data.long_side=256", "data.crop=128", "data.render_workers=1", "data.batch_size=4",
            "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
            "model.net.decoder_channels=[16,16,8,8]"])
        result = train(cfg)
    assert set(result["validation"]) >= {"val/f1_trace", "val/iou_trace"}
    net, meta = load_trace_net(tmp_path / "traceseg.safetensors")
    assert meta["card"]["data"]["long_side"] == 256 and meta["card"]["seed"] == 42
    assert len(result["record_ids"]["train"]) == 4
    pytest.importorskip("onnxruntime")
    from ecgcls.digitize.segment import load_trace_session

    sess, why = load_trace_session(tmp_path / "traceseg.safetensors")  # the run wrote the graph of its weights
    assert sess is not None, why
    from ecgcls.digitize.segment import trace_probability

    page = render(synthetic_ecg(2), 500, RenderConfig(layout="3x4+II", dpi=100), rng=1).image
    w = tmp_path / "traceseg.safetensors"  # the graph computes what the network does
    np.testing.assert_allclose(trace_probability(page, w, runtime="onnx"), trace_probability(page, w, runtime="torch"),
                               atol=1e-3)


def test_bundled_network_finds_the_trace(sig):
    """The shipped weights mark trace pixels on a page in a convention and colour it was not drawn with by
    default (attached pulses, names below, blue grid, photo artifacts): F1 against the exact mask."""
    from ecgcls.digitize.segment import DEFAULT_TRACE_NET, trace_probability

    if not DEFAULT_TRACE_NET.is_file():
        pytest.skip("no bundled trace network")
    cfg = RenderConfig(layout="3x4+II", dpi=150, grid="blue", pulse="attached", label_pos="below", separator="bar",
                       artifacts=("wrinkle", "noise", "jpeg"))
    page = render(sig, FS, cfg, rng=4)
    p = trace_probability(page.image)
    assert p.shape == (2, *page.image.shape[:2]) and p.dtype == np.float32
    pred, true = p[0] > 0.5, page.trace_mask()
    # a 1-px tolerance: the network works at its own resolution
    import cv2

    near = cv2.dilate(true.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    near_pred = cv2.dilate(pred.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    precision = (pred & near).sum() / max(pred.sum(), 1)
    recall = (true & near_pred).sum() / max(true.sum(), 1)
    assert precision > 0.8 and recall > 0.8, (precision, recall)


def test_onnx_graph_gives_pytorchs_probabilities_and_only_for_its_own_weights(sig, tmp_path):
    """onnxruntime on the bundled graph = PyTorch on the bundled weights (a picture whose network size is no
    multiple of the encoder stride); a graph exported from other weights is never used."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from safetensors.torch import load_file, save_file

    from ecgcls.digitize.segment import (DEFAULT_TRACE_NET, export_trace_onnx, load_trace_net, load_trace_session,
                                         trace_probability)

    if not DEFAULT_TRACE_NET.with_suffix(".onnx").is_file():
        pytest.skip("no bundled trace network graph")
    assert load_trace_session()[0] is not None, load_trace_session()[1]
    page = render(sig, FS, RenderConfig(layout="6x2", dpi=110, artifacts=("photo",)), rng=2)
    load_trace_net.cache_clear()
    b = trace_probability(page.image, runtime="onnx")
    assert load_trace_net.cache_info().currsize == 0  # onnxruntime needs the card and the graph, no PyTorch network
    a = trace_probability(page.image, runtime="torch")
    assert a.shape == b.shape and np.abs(a - b).max() < 1e-4
    with pytest.raises(ValueError, match="runtime"):
        trace_probability(page.image, runtime="tensorrt")
    # a graph of other weights: retrained (here: one tensor changed) after the graph was written
    w = tmp_path / "traceseg.safetensors"
    w.with_suffix(".json").write_text(DEFAULT_TRACE_NET.with_suffix(".json").read_text())
    save_file(load_file(str(DEFAULT_TRACE_NET)), str(w))
    path, err = export_trace_onnx(w)
    assert path == w.with_suffix(".onnx") and err < 1e-4 and load_trace_session(w)[0] is not None
    state = load_file(str(w))
    key = next(k for k in state if k.endswith("weight") and state[k].ndim == 4)
    state[key] = state[key] * 1.5
    save_file(state, str(w))
    load_trace_session.cache_clear()
    sess, why = load_trace_session(w)
    assert sess is None and "other weights" in why
    with pytest.raises(RuntimeError, match="other weights"):
        trace_probability(page.image, weights=w, runtime="onnx")


def test_not_an_ecg_from_the_trace_strokes():
    """A rendered ECG page's strokes span the page several times at any resolution; noise and a natural photograph
    (scikit-learn's sample picture) do not, and get a reason naming the picture."""
    import cv2
    import sklearn
    from PIL import Image

    from ecgcls.digitize.segment import ECG_MIN_COVER, not_an_ecg, stroke_cover, trace_probability

    page = render(synthetic_ecg(3), 500, RenderConfig(layout="6x2", dpi=150), rng=0).image
    cover = stroke_cover(trace_probability(page)[0])
    assert cover > 4 * ECG_MIN_COVER and not_an_ecg(trace_probability(page)[0], "page.png") is None
    big = cv2.resize(page, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC)
    assert stroke_cover(trace_probability(big)[0]) == pytest.approx(cover, rel=0.25)
    noise = np.random.default_rng(0).integers(0, 256, (700, 1000, 3), dtype=np.uint8)
    photo = np.asarray(Image.open(Path(sklearn.__file__).parent / "datasets" / "images" / "china.jpg").convert("RGB"))
    for name, pic in (("noise.png", noise), ("china.jpg", photo)):
        why = not_an_ecg(trace_probability(pic)[0], name)
        assert why is not None and why.startswith(f"{name}: not an ECG")
        assert stroke_cover(trace_probability(pic)[0]) < ECG_MIN_COVER
    with pytest.raises(ValueError, match="2-D"):
        stroke_cover(np.zeros((3, 4, 5)))
