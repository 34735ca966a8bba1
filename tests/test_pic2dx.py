"""Pic2Diagnosis path: preprocessing, models, and the whole curriculum wired end to end (fast_dev_run)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgcls.data.images import fit_resize, mask_image, preprocess, to_tensor
from ecgcls.models import create

REPO = Path(__file__).resolve().parents[1]


def test_preprocess_inverts_and_keeps_aspect():
    img = np.full((100, 300, 3), 255, np.uint8)
    img[50, :] = 0  # one black line
    out = preprocess(img, size=(120, 120), method="gray")
    assert out.shape == (120, 120) and out.dtype == np.uint8
    assert out[:40].max() == 0 and out[80:].max() == 0  # padding above/below (aspect 1:3 kept), paper -> 0
    assert out[55:65].max() > 100  # the line, inverted, is bright
    x = to_tensor(out)
    assert x.shape == (1, 120, 120) and x.dtype == torch.float32
    m = mask_image(np.eye(200, dtype=bool), (50, 50))
    assert m.shape == (50, 50) and m.max() > 0
    assert fit_resize(np.zeros((10, 40), np.uint8), (20, 20)).shape == (20, 20)


@pytest.mark.parametrize("method", ["ink", "gray"])
def test_preprocess_methods_agree_on_plain_black_ink(method):
    img = np.full((100, 300, 3), 255, np.uint8)
    img[50, :] = 0
    out = preprocess(img, size=(120, 120), method=method)
    assert out.shape == (120, 120) and out[:40].max() == 0 and out[55:65].max() > 100


def test_ink_preprocessing_fades_coloured_grid_and_shadow_keeps_trace():
    """Red grid lines and a shadow across the page: the "ink" picture keeps the trace bright and the grid and
    paper dark (the trace-mask look of stage 1); plain inverted luminance leaves the grid half as bright as ink."""
    from ecgcls.render import GRID_COLORS

    major, minor, paper = GRID_COLORS["red"]
    img = np.empty((400, 800, 3), np.uint8)
    img[:] = paper
    img[:, ::8] = minor
    img[::8] = minor
    img[:, ::40] = major
    img[::40] = major
    img = (img * np.linspace(0.55, 1.0, 800)[None, :, None]).astype(np.uint8)  # light falls off to the left
    img[198:201, :] = 20  # a horizontal trace, 3 px thick
    ink = preprocess(img, (100, 200), "ink")
    gray = preprocess(img, (100, 200), "gray")
    trace, grid = slice(48, 52), slice(10, 40)
    assert ink[trace].max() >= 200 and np.percentile(ink[grid], 99) < 60
    assert np.percentile(gray[grid], 99) > 90  # the shadowed grid is as bright as a faint trace
    with pytest.raises(ValueError, match="preprocessing"):
        preprocess(img, (100, 200), "sobel")
    with pytest.raises(ValueError, match="uint8"):
        preprocess(img.astype(np.float32), (100, 200))


def test_trace_preprocessing_keeps_the_trace_and_drops_grid_texture_and_text():
    """A randomized page (other conventions, artifacts): the "trace" picture (the bundled trace network's ink
    probability) puts its brightness on the trace and little elsewhere — far less off the trace than "ink"."""
    import cv2

    from ecgcls.render import RenderConfig, render
    from ecgcls.render.artifacts import apply_artifacts

    t = np.arange(5000) / 500.0
    beat = np.exp(-(((t % 0.8) - 0.4) / 0.012) ** 2) - 0.2 * np.exp(-(((t % 0.8) - 0.6) / 0.05) ** 2)
    sig = np.stack([beat * (0.6 + 0.05 * k) for k in range(12)]).astype(np.float32)  # (12, T) in mV
    rng = np.random.default_rng(5)
    page = render(sig, 500, RenderConfig(layout="3x4+II", dpi=100.0), rng=rng)
    page = apply_artifacts(page, ["wrinkle", "stain", "temperature"], rng)
    size = (224, 288)
    on = fit_resize(cv2.dilate(page.trace_mask().astype(np.uint8), np.ones((5, 5), np.uint8)) * 255, size) > 0
    share = {}
    for method in ("ink", "trace"):
        out = preprocess(page.image, size, method).astype(np.float64)
        assert out.shape == size and out[on].mean() > 40  # the trace is there
        share[method] = out[~on].sum() / out.sum()  # brightness off the trace
    assert share["trace"] < 0.3 and share["trace"] < 0.5 * share["ink"], share
    gray = preprocess(cv2.cvtColor(page.image, cv2.COLOR_RGB2GRAY), size, "trace")  # grayscale input works too
    assert gray.shape == size and gray.dtype == np.uint8


def test_local_pretrained_weights_load_without_network(tmp_path, monkeypatch):
    """ImageNet-style weights from a local file: the RGB stem is summed into the 1-channel stem, the rest is
    copied, the 1000-class head is replaced; a missing file is a clear error (never a download)."""
    import timm

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    src = timm.create_model("resnet10t", num_classes=1000)
    torch.save(src.state_dict(), tmp_path / "imagenet.pth")
    m = create("pic2dx", num_classes=5, backbone="resnet10t", pretrained_file=str(tmp_path / "imagenet.pth"))
    s, d = src.state_dict(), m.net.state_dict()
    torch.testing.assert_close(d["conv1.0.weight"][:, 0], s["conv1.0.weight"].sum(1))
    assert torch.equal(d["layer3.0.conv2.weight"], s["layer3.0.conv2.weight"]) and d["fc.weight"].shape == (5, 512)
    with pytest.raises(FileNotFoundError, match="never downloads"):
        create("pic2dx", num_classes=5, backbone="resnet10t", pretrained_file=str(tmp_path / "missing.pth"))


def test_models_and_ensemble_average_probabilities():
    torch.manual_seed(0)
    ens = create("pic2dx_ensemble", num_classes=5, backbones=["resnet10t", "lcnet_100"]).eval()
    x = torch.randn(2, 1, 96, 128)
    with torch.no_grad():
        p = torch.stack([torch.sigmoid(m(x)) for m in ens.members]).mean(0)
        torch.testing.assert_close(torch.sigmoid(ens(x)), p, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="1, H, W"):
        ens.members[0](torch.randn(1, 3, 64, 64))


def test_curriculum_runs_end_to_end(tmp_path, ptbxl_root, cache_dir):
    ids = "[" + ",".join(str(i) for i in range(1, 61)) + "]"
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "train.py", "experiment=pic2dx_curriculum", "trainer=fast_dev_run",
                           f"paths.cache_dir={cache_dir}", f"data.root={ptbxl_root}", f"++data.images.ids={ids}",
                           "data.images.size=[96,128]", "curriculum.backbones=[resnet10t,lcnet_100]",
                           "curriculum.ablation=true", f"hydra.run.dir={out}"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["ablation_macro_auroc"]) == {"resnet10t", "lcnet_100", "ensemble"}
    assert set(m["ablation_macro_auroc"]["resnet10t"]) == {"mask_only", "curriculum", "finetune_only", "mask_only_f1",
                                                           "curriculum_f1", "finetune_only_f1",
                                                           "curriculum_per_layout"}
    assert set(m["per_layout"]) == set(m["ablation_macro_auroc"]["resnet10t"]["curriculum_per_layout"])
    assert (out / "per_layout_test.png").stat().st_size > 0
    md = (out / "ablation.md").read_text()
    assert "| resnet10t |" in md and "| **ensemble** |" in md and "spread" in md
    assert set(m["test"]["per_class"]) == {"NORM", "MI", "STTC", "CD", "HYP"}
    ck = torch.load(out / "ensemble.ckpt", weights_only=False)
    assert ck["hyper_parameters"]["net"]["name"] == "pic2dx_ensemble" and "thresholds" in ck["state_dict"]
    # the ensemble checkpoint becomes a weights bundle that predict.py can use on pictures
    from PIL import Image

    from ecgcls.predict import make_bundle, run_predict
    from ecgcls.render import RenderConfig, render
    from test_render import synthetic_ecg

    assert ck["preprocess"] == "ink"
    bundle = make_bundle(out / "ensemble.ckpt", tmp_path / "pic2dx.pt", card={"note": "test"})
    from ecgcls.predict import load_bundle

    assert load_bundle(bundle).preprocess == "ink"
    pics = tmp_path / "pics"
    pics.mkdir()
    Image.fromarray(render(synthetic_ecg(0), 500, RenderConfig(layout="6x2"), rng=0).image).save(pics / "a.png")
    s = run_predict(str(pics), str(tmp_path / "p.csv"), model=str(bundle), workers=1)
    assert s["ok"] == 1 and s["model"] == "pic2dx_ensemble"
