"""Weights bundles without pickles (safetensors + JSON card), calibration, ECE."""
import json

import numpy as np
import pytest
import torch

from ecgcls import metrics as M
from ecgcls.models import create
from ecgcls.predict.bundle import (BUNDLES, WEIGHTS_DIR, card_from_run, load_bundle, read_bundle, save_bundle,
                                   set_calibration)


def _tiny_bundle(tmp_path, card=None):
    net = create("cnn1d", num_classes=2, widths=[8, 8], blocks_per_stage=1)
    meta = {"net": {"name": "cnn1d", "widths": [8, 8], "blocks_per_stage": 1}, "classes": ["AFIB", "SR"],
            "thresholds": [0.3, 0.6], "input": "signal", "signal": {"fs": 100, "n_samples": 1000, "fill": "zero"},
            "calibration": None, "card": card or {}}
    return save_bundle(tmp_path / "tiny", net.state_dict(), meta), net


def test_bundles_are_safetensors_and_json():
    for name, stem in BUNDLES.items():
        js = WEIGHTS_DIR / f"{stem}.json"
        assert js.is_file() and (WEIGHTS_DIR / f"{stem}.safetensors").is_file(), name
        meta = json.loads(js.read_text())
        assert meta["format"] == 2 and meta["input"] in ("signal", "picture")
        assert meta["card"]["limits"].startswith("Research software")
        sizes = meta["card"]["data"]["sizes"]
        assert f"Trained on {sizes['train']} records" in meta["card"]["limits"]  # written from the run's data
    assert not list(WEIGHTS_DIR.glob("*.pt"))  # no pickles shipped
    pic = load_bundle("pic2dx")
    assert pic.picture["size"] == [224, 288] and {"mean", "std", "ink_gain", "method"} <= set(pic.picture)


def test_roundtrip_and_calibration_moves_thresholds(tmp_path):
    path, net = _tiny_bundle(tmp_path)
    m = load_bundle(path)
    x = torch.randn(3, 12, 1000)
    x[:, 4, 200:700] = float("nan")
    with torch.no_grad():
        ref = torch.sigmoid(net.eval()(torch.nan_to_num(x)))
    torch.testing.assert_close(m(x), ref)
    set_calibration(path, {"method": "temperature", "temperature": 2.0})
    c = load_bundle(path)
    torch.testing.assert_close(c(x), torch.sigmoid(torch.logit(ref) / 2.0), atol=1e-5, rtol=1e-5)
    # the same logits cross the moved threshold: t' = sigmoid(logit(t) / 2)
    np.testing.assert_allclose(c.thresholds, 1 / (1 + np.exp(-np.log(np.array([0.3, 0.6]) / (1 - np.array([0.3, 0.6]))) / 2)),
                               atol=1e-5)
    set_calibration(path, {"method": "temperature", "temperature": 1.0})  # back: thresholds restored
    np.testing.assert_allclose(load_bundle(path).thresholds, [0.3, 0.6], atol=1e-5)


def test_bad_bundles_fail_clearly(tmp_path):
    path, _ = _tiny_bundle(tmp_path)
    path.with_suffix(".safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="weights are missing"):
        load_bundle(path)
    (tmp_path / "x.json").write_text('{"format": 7}')
    with pytest.raises(ValueError, match="format 7"):
        read_bundle(tmp_path / "x.json")
    with pytest.raises(ValueError, match="no bundled model"):
        load_bundle("resnet9000")


def test_legacy_pt_bundle_still_loads(tmp_path):
    net = create("cnn1d", num_classes=2, widths=[8, 8], blocks_per_stage=1)
    torch.save({"format": 1, "net": {"name": "cnn1d", "widths": [8, 8], "blocks_per_stage": 1},
                "state_dict": net.state_dict(), "classes": ["A", "B"], "thresholds": [0.5, 0.5], "fs": 100,
                "n_samples": 1000, "input_fill": "zero", "card": {}}, tmp_path / "old.pt")
    m = load_bundle(tmp_path / "old.pt")
    assert m.input_fill == "zero" and m.classes == ["A", "B"] and m.temperature == 1.0


def test_card_from_run_uses_the_runs_metadata():
    metrics = {"seed": 7, "data": {"root": "/x/ptbxl", "task": "rhythm", "classes": ["AFIB", "SR"],
                                   "folds": {"train": [1, 2], "val": [9], "test": [10]},
                                   "sizes": {"train": 321, "val": 40, "test": 41}, "split_ids": {"train": [1]}},
               "test": {"n": 41, "macro_auroc": 0.9123}}
    card = card_from_run(metrics, ["experiment=rhythm_foreign"])
    assert card["command"] == "python train.py experiment=rhythm_foreign" and "split_ids" not in card["data"]
    assert "321 records of ptbxl" in card["limits"] and "0.912 on 41 records" in card["limits"]
    assert "init_from" not in card and "pictures" not in card
    cfg = {"init_from": "pic2dx", "data": {"images": {"preprocess": "trace", "renderer": "mixed"}}}
    card = card_from_run(metrics, ["experiment=pic2dx_trace"], config=cfg)
    assert card["init_from"] == "pic2dx" and card["pictures"] == {"preprocess": "trace", "renderer": "mixed"}


def test_temperature_and_ece():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 5, generator=g) * 2
    y = (torch.rand(4000, 5, generator=g) < torch.sigmoid(z)).float()
    assert M.fit_temperature(3 * z, y) == pytest.approx(3.0, rel=0.08)
    assert M.ece(torch.sigmoid(z), y) < 0.03 < M.ece(torch.sigmoid(3 * z), y)
    r = M.reliability(torch.sigmoid(z), y)
    assert sum(r["n"]) == 4000 * 5


def test_onnx_export_matches_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    from ecgcls.predict.onnx import export_onnx

    path, _ = _tiny_bundle(tmp_path)
    set_calibration(path, {"method": "temperature", "temperature": 1.5})
    out, err = export_onnx(path)
    assert out.is_file() and err < 1e-4


@pytest.mark.parametrize("encoder", ["cnn", "lead_cnn"])
def test_patchecg_exports_through_its_dense_form(tmp_path, encoder):
    """PatchECG's token count varies with what was read; its dense form (every patch a token, missing ones masked
    as keys) gives the packed forward's logits, and its ONNX graph takes NaN-masked signals as they are."""
    pytest.importorskip("onnxruntime")
    from ecgcls.predict.onnx import export_onnx

    kw = {"d_model": 32, "depth": 2, "heads": 2, "encoder_width": 8, "patch_encoder": encoder}
    net = create("patchecg", num_classes=3, **kw).eval()
    x = torch.randn(4, 12, 1000)
    x[0, :, 250:] = float("nan")   # a 3x4 page: one column of each lead...
    x[0, 1] = torch.randn(1000)    # ... and a rhythm strip
    x[1, 6:, :500] = float("nan")  # 6x2
    x[2] = float("nan")            # nothing read: the CLS token alone
    x[3, 4, 130:700] = float("nan")
    with torch.no_grad():
        assert torch.allclose(net(x), net.forward_dense(x), atol=1e-5)
    meta = {"net": {"name": "patchecg", **kw}, "classes": ["NORM", "MI", "STTC"], "thresholds": [0.5] * 3,
            "input": "signal", "signal": {"fs": 100, "n_samples": 1000, "fill": "none"}, "calibration": None,
            "card": {}}
    path = save_bundle(tmp_path / "pe", net.state_dict(), meta)
    set_calibration(path, {"method": "temperature", "temperature": 1.3})
    out, err = export_onnx(path)
    assert out.is_file() and err < 1e-4
    import onnxruntime as ort

    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    assert np.abs(got - load_bundle(path)(x).detach().numpy()).max() < 1e-4


def test_calibrate_on_validation_pages(ptbxl_root):
    """Temperatures are fitted on rendered + read validation-fold pages (never test), with ECE before/after, and
    model=both's weighting is chosen on the same pages; nothing is written with write=False."""
    from ecgcls.predict.calibrate import calibrate

    before = (WEIGHTS_DIR / "patchecg_superdiag.json").read_text()
    res = calibrate(["patchecg", "pic2dx"], pages_per_record=1, workers=1, write=False, limit=12)
    for name in ("patchecg", "pic2dx"):
        c = res[name]
        assert c["temperature"] > 0 and c["fit_on"]["folds"] == [8, 9] and 0 <= c["ece_after"] <= 1
        assert c["fit_on"]["pages"] <= 12
    assert res["combine"]["best"]["max_weight"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert (WEIGHTS_DIR / "patchecg_superdiag.json").read_text() == before
