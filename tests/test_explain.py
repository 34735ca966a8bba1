"""Attribution back to the page: integrated gradients are complete and ignore unread samples; Grad-CAM is a map
over the picture; windows land where the digitizer says each lead was printed."""
import numpy as np
import pytest
import torch

from ecgcls.predict import load_bundle
from ecgcls.predict.explain import _Logit, draw_signal_evidence, gradcam, integrated_gradients, per_patch

from test_render import synthetic_ecg


@pytest.mark.parametrize("name", ["cnn1d", "patchecg"])
def test_integrated_gradients_complete_and_blind_to_unread_samples(name):
    b = load_bundle(name)
    x = synthetic_ecg(1)[:, ::5].astype(np.float32)  # 100 Hz, 10 s
    x[:, 300:600] = np.nan
    x[7] = np.nan
    a = integrated_gradients(b, x, [0, 2], steps=48)
    assert a.shape == (2, 12, 1000) and np.isfinite(a).all()
    assert not a[:, :, 300:600].any() and not a[:, 7].any()
    t = torch.from_numpy(x)[None]
    with torch.no_grad():
        gap = (_Logit(b)(t) - _Logit(b)(torch.where(torch.isnan(t), t, torch.zeros_like(t))))[0, [0, 2]].numpy()
    np.testing.assert_allclose(a.sum((1, 2)), gap, atol=0.1 + 0.05 * np.abs(gap).max())  # completeness
    with pytest.raises(ValueError, match="signal model"):
        integrated_gradients(load_bundle("pic2dx"), x, [0])


def test_per_patch_sums_windows():
    a = np.arange(10, dtype=float)[None]
    np.testing.assert_array_equal(per_patch(a, 4), [[6, 22, 17]])


def test_gradcam_on_the_ensemble():
    from ecgcls.render import RenderConfig, render

    b = load_bundle("pic2dx")
    page = render(synthetic_ecg(1), 500, RenderConfig(layout="3x4+II"), rng=2)
    prepared = b.prepare_picture(page.image)
    cam = gradcam(b, b.picture_tensor(prepared), 1)
    assert cam.shape == prepared.shape and cam.min() >= 0 and cam.max() == pytest.approx(1.0)


def test_gradcam_while_another_thread_predicts_with_the_same_bundle():
    """The web service answers pages in several threads with one loaded bundle: Grad-CAM in one thread must neither
    fail on nor disturb the other thread's forward passes (hooks on the shared model would catch them)."""
    import threading

    from ecgcls.render import RenderConfig, render

    b = load_bundle("pic2dx")
    page = render(synthetic_ecg(1), 500, RenderConfig(layout="3x4+II"), rng=2)
    x = b.picture_tensor(b.prepare_picture(page.image))
    expected = b(x[None])
    alone = gradcam(b, x, 1)
    stop, seen = threading.Event(), []

    def predict():
        while not stop.is_set():
            seen.append(torch.allclose(b(x[None]), expected, atol=1e-6))

    th = threading.Thread(target=predict)
    th.start()
    try:
        cams = [gradcam(b, x, 1) for _ in range(3)]
    finally:
        stop.set()
        th.join()
    assert seen and all(seen)
    for cam in cams:
        np.testing.assert_allclose(cam, alone, atol=1e-5)
    assert not any(m._forward_hooks for m in b.net.modules())


def test_windows_drawn_where_the_lead_was_printed():
    """One window of evidence on V2 (2nd column of a 3x4 page, 5.0–5.25 s) is shaded there and nowhere else."""
    placement = [{"lead": "V2", "row": 1, "t0": 5.0, "t1": 7.5, "x0": 500.0, "px_per_s": 100.0, "y_zero": 200.0,
                  "px_per_mv": 40.0}]
    base = np.full((400, 1000, 3), 255, np.uint8)
    attr = np.zeros((12, 1000), np.float32)
    attr[7, 500:525] = 1.0
    img = draw_signal_evidence(base, 1.0, placement, None, attr, fs=100.0, window=25)
    changed = np.argwhere((img != 255).any(-1))
    assert len(changed)
    (y0, x0), (y1, x1) = changed.min(0), changed.max(0)
    assert 498 <= x0 <= 502 and 522 <= x1 <= 527 and y0 >= 200 - 1.2 * 40 - 1 and y1 <= 200 + 1.2 * 40 + 1
