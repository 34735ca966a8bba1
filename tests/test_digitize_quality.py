"""Digitizer — How good a reading is: the SNR metric, the predicted quality, the ecg-image-kit truth reader."""
import json

import numpy as np
import pytest

from ecgcls.digitize import digitize
from ecgcls.metrics import lead_snr, signal_snr
from ecgcls.render import RenderConfig, render

from digitize_helpers import FS
from digitize_helpers import sig3  # noqa: F401 (fixtures)


# ---- the metric -------------------------------------------------------------------------------------
def test_snr_metric_properties():
    t = np.arange(5000) / FS
    ref = np.sin(2 * np.pi * 1.1 * t) + 0.3 * np.sin(2 * np.pi * 7 * t)
    assert lead_snr(ref, ref, FS) >= 99
    # a 0.2 s shift and a 0.5 mV offset are forgiven
    shifted = np.roll(ref, 100) + 0.5
    shifted[:100] = np.nan
    assert lead_snr(ref, shifted, FS) > 60
    # beyond the allowed 1 mV offset it is not
    assert lead_snr(ref, ref + 2.0, FS) < 5
    noisy = ref + np.random.default_rng(0).normal(0, 0.1, ref.shape)
    expected = 10 * np.log10(np.sum(ref ** 2) / np.sum((noisy - ref) ** 2))
    assert lead_snr(ref, noisy, FS) == pytest.approx(expected, abs=0.3)
    assert lead_snr(ref, np.full_like(ref, np.nan), FS) == 0.0  # a missing lead scores 0 dB
    both = np.stack([ref, ref])
    est = np.stack([ref, np.full_like(ref, np.nan)])
    mean, per = signal_snr(both, est, FS)
    assert per[1] == 0.0 and mean == pytest.approx(per[0] / 2)


def test_quality_ranks_readings_and_flags_bad_pages(sig3):
    good = digitize(render(sig3, FS, RenderConfig(layout="3x4+II"), rng=9).image)
    assert good.status == "ok" and good.reason == ""
    bad_page = render(sig3, FS, RenderConfig(layout="3x4+II", artifacts=("wrinkle", "heavy_noise", "low_jpeg", "blur"),
                                            line_width_mm=0.1, dpi=90), rng=9)
    try:
        bad = digitize(bad_page.image)
    except ValueError:
        return  # refused is honest too
    assert bad.quality < good.quality
    if bad.status == "uncertain":
        assert "predicted SNR" in bad.reason
    # leads the model predicts unreadable are NaN, not numbers
    for lead in bad.lead_snr_pred:
        if not np.isfinite(bad.record.signal[list(bad.lead_quality).index(lead)]).any():
            assert bad.lead_quality[lead] <= 0.25


def test_a_lead_missing_a_feature_is_predicted_without_it():
    from ecgcls.digitize.quality import FEATURES, load_quality_model, predict_lead_snr

    model = load_quality_model("classic")
    k = FEATURES.index("identity")
    f = np.asarray(model["feature_means"], float)
    with_id, without = f.copy(), f.copy()
    without[k] = np.nan  # a chest-lead page: no limb leads to check the identities on
    sub = model["without"]["identity"]
    assert sub["coef"][k] == 0.0
    pred = predict_lead_snr({"V2": with_id, "V3": without}, model)
    assert pred["V2"] == pytest.approx(model["intercept"] + f @ np.asarray(model["coef"]))
    assert pred["V3"] == pytest.approx(sub["intercept"] + np.nan_to_num(without) @ np.asarray(sub["coef"]))
    # without a sub-model for it, a missing feature takes the training mean
    bare = {k2: v for k2, v in model.items() if k2 != "without"}
    assert predict_lead_snr({"V3": without}, bare)["V3"] == pytest.approx(pred["V2"])


def test_uncertain_threshold_is_the_fitted_crossing_and_steady():
    from ecgcls.digitize.quality import probability_crossing

    rng = np.random.default_rng(3)
    pred = rng.normal(8.0, 5.0, 400)
    bad = rng.random(400) < 1.0 / (1.0 + np.exp((pred - 6.0) / 1.5))  # P(bad) = 50 % at 6 dB, 80 % at ~3.9 dB
    assert probability_crossing(pred, bad) == pytest.approx(6.0, abs=0.6)
    assert probability_crossing(pred, bad, p=0.8) == pytest.approx(6.0 - 1.5 * np.log(4), abs=0.8)
    # resampled validation sets move it by little (the cumulative-precision rule moved by ~3 dB on 91 pages)
    boots = [probability_crossing(pred[i], bad[i]) for i in rng.integers(0, 400, (30, 400))]
    assert np.std(boots) < 0.5
    with pytest.raises(ValueError, match="all one value"):
        probability_crossing(pred, np.zeros(400, bool))
    with pytest.raises(ValueError, match="ranks nothing"):
        probability_crossing(pred, ~bad)


def test_eik_truth_reader(tmp_path, ptbxl_root):
    """The reader of ecg-image-kit truth puts each printed sample where the record has it (a synthetic JSON in
    that format: validation pictures are never needed by the tests)."""
    import wfdb

    from ecgcls.digitize.foreign import load_eik_page

    rec = "records500/00000/00001_hr"
    leads = [{"lead_name": "aVR", "start_sample": 1250, "end_sample": 2500,
              "plotted_pixels_affine": [[0, -59.06, 500.0], [0.2953, 0, 100.0]]},
             {"lead_name": "II", "start_sample": 0, "end_sample": 5000,
              "plotted_pixels_affine": [[0, -59.06, 900.0], [0.2953, 0, 88.0]]}]
    (tmp_path / "00001_3x4pII.json").write_text(json.dumps({"record": rec, "sampling_frequency": 500.0,
                                                             "leads": leads}))
    (tmp_path / "00001_3x4pII.jpg").write_bytes(b"")
    page = load_eik_page(tmp_path / "00001_3x4pII.json", ptbxl_root)
    truth = wfdb.rdrecord(str(ptbxl_root / rec)).p_signal
    assert page.ref.shape == (12, 5000) and page.layout == "3x4+II"
    np.testing.assert_allclose(page.ref[3, 1250:2500], truth[1250:2500, 3], atol=1e-6)
    assert np.isnan(page.ref[3, :1250]).all() and np.isnan(page.ref[0]).all()
    np.testing.assert_allclose(page.ref[1], truth[:, 1], atol=1e-6)
    assert load_eik_page(tmp_path / "00001_3x4pII.json", ptbxl_root, fs=100).ref.shape == (12, 1000)
