"""Measurements and evidence on synthetic ECGs with known timing; missing parts are never measured."""
import numpy as np
import pytest

from ecgcls.measure import evidence, load_rules, measure

FS = 500


def beat_train(rr_s, p_mv=0.15, seconds=10.0, seed=0):
    """12 leads of P-QRS-T beats at the given R times (s); lead gains vary, V1 mostly negative."""
    t = np.arange(int(seconds * FS)) / FS
    rng = np.random.default_rng(seed)
    r_times = np.cumsum(rr_s)
    r_times = r_times[r_times < seconds - 0.5]
    x = np.zeros_like(t)
    for b in r_times:
        x += p_mv * np.exp(-((t - b + 0.17) / 0.02) ** 2)
        x += -0.1 * np.exp(-((t - b + 0.025) / 0.008) ** 2) + 1.2 * np.exp(-((t - b) / 0.01) ** 2)
        x += -0.3 * np.exp(-((t - b - 0.025) / 0.01) ** 2) + 0.3 * np.exp(-((t - b - 0.3) / 0.045) ** 2)
    gains = [1.0, 1.2, 0.4, -1.0, 0.5, 0.8, -0.8, 0.6, 0.9, 1.2, 1.1, 1.0]
    sig = np.stack([g * x for g in gains]) + 0.01 * rng.standard_normal((12, len(t)))
    return sig, r_times


def test_sinus_rhythm_measurements_and_evidence():
    sig, _ = beat_train(np.full(12, 0.8) + np.r_[0.4, np.zeros(11)])
    m = measure(sig, FS)
    g = m["global"]
    assert g["hr_bpm"] == pytest.approx(75, abs=3) and g["rr_irregularity"] < 0.05
    assert 40 <= g["qrs_ms"] <= 140 and 250 <= g["qt_ms"] <= 500
    assert -30 <= g["qrs_axis_deg"] <= 90  # I and aVF both positive
    ev = evidence(m, ["SR", "AFIB", "NORM"])
    status = {c["id"]: c["status"] for c in ev["SR"]["criteria"]}
    assert status["rr_regular"] == "met" and status["hr_sinus"] == "met"
    assert {c["id"]: c["status"] for c in ev["AFIB"]["criteria"]}["rr_irregular"] == "not met"
    assert all(c["source"] for c in ev["NORM"]["criteria"])


def test_irregular_rhythm_is_evidence_for_afib():
    rr = np.random.default_rng(3).uniform(0.45, 1.1, 20)
    sig, _ = beat_train(np.r_[0.4, rr], p_mv=0.0)
    m = measure(sig, FS)
    assert m["global"]["rr_irregularity"] >= 0.08
    crit = {c["id"]: c for c in evidence(m, ["AFIB"])["AFIB"]["criteria"]}
    assert crit["rr_irregular"]["status"] == "met"


def test_missing_parts_are_not_measured():
    sig, _ = beat_train(np.full(14, 0.75))
    sig[:, :2500] = np.nan  # only the second 5 s printed
    sig[6:] = np.nan  # no chest leads at all
    m = measure(sig, FS)
    assert m["leads"]["V1"]["n_beats"] == 0 and "r_mv" not in m["leads"]["V1"]
    assert np.isnan(m["global"]["sokolow_lyon_mv"])  # needs V1/V5/V6: not measurable, not zero
    hyp = {c["id"]: c["status"] for c in evidence(m, ["HYP"])["HYP"]["criteria"]}
    assert hyp["sokolow_lyon"] == "not measurable"
    assert m["global"]["hr_bpm"] == pytest.approx(80, abs=4)  # from what was printed
    empty = measure(np.full((12, 5000), np.nan), FS)
    assert all(np.isnan(empty["global"][k]) for k in ("hr_bpm", "qrs_ms", "qt_ms", "qrs_axis_deg"))
    assert evidence(empty, ["CD"])["CD"]["not_measurable"] == len(load_rules()["classes"]["CD"])
    with pytest.raises(ValueError, match=r"\(12, T\)"):
        measure(np.zeros((3, 100)), FS)


def test_sokolow_lyon_uses_whichever_of_v5_v6_was_read():
    sig, _ = beat_train(np.full(12, 0.8))
    full = measure(sig, FS)["global"]["sokolow_lyon_mv"]
    sig[10] = np.nan  # V5 not printed: the larger of what was read (V6), not NaN
    m = measure(sig, FS)
    assert np.isfinite(m["global"]["sokolow_lyon_mv"])
    assert m["global"]["sokolow_lyon_mv"] == pytest.approx(m["leads"]["V1"]["s_mv"] + m["leads"]["V6"]["r_mv"])
    assert full >= m["global"]["sokolow_lyon_mv"] - 1e-9


def test_rules_cover_every_class_predict_ships():
    from ecgcls.predict import load_bundle

    rules = load_rules()
    for name in ("cnn1d", "rhythm"):
        for c in load_bundle(name).classes:
            assert c in rules["classes"], c


def test_rr_features_tell_irregular_from_regular_on_any_layout():
    """RR features (ecgcls.measure.rhythm): a regular and an irregularly irregular beat train, read in full, as a
    3x4 page's four 2.5-s column windows (pooled across windows) and at the models' 100 Hz."""
    from scipy.signal import resample_poly

    from ecgcls.measure.rhythm import RR_FEATURES, rr_features

    rng = np.random.default_rng(1)
    regular, _ = beat_train(np.full(14, 0.8))
    irregular, r_times = beat_train(rng.uniform(0.45, 1.1, 20))
    true_rr = np.diff(r_times) * 1000
    for sig, fs in ((regular, FS), (irregular, FS), (resample_poly(irregular, 1, 5, axis=1), 100)):
        f = rr_features(sig, fs)
        assert list(f) == list(RR_FEATURES)
        if sig is regular:
            assert f["rr_cv"] < 0.02 and f["rr_irregular_frac"] == 0 and f["hr_bpm"] == pytest.approx(75, abs=2)
        else:
            assert f["rr_cv"] == pytest.approx(np.std(true_rr) / np.mean(true_rr), abs=0.03)
            assert f["rr_irregular_frac"] > 0.5 and f["n_rr"] >= len(true_rr) - 1
    # a 3x4 page without a rhythm strip: each lead only in its column's 2.5 s; the windows' intervals are pooled
    cols = np.full((12, 10 * FS), False)
    for lead in range(12):
        c = lead // 3
        cols[lead, int(c * 2.5 * FS):int((c + 1) * 2.5 * FS)] = True
    f_reg, f_irr = (rr_features(np.where(cols, s, np.nan), FS) for s in (regular, irregular))
    assert f_reg["rr_cv"] < 0.03 and f_irr["rr_cv"] > 0.15 and f_irr["n_rr"] >= 5
    # nothing read: NaN, not a guess; a wrong shape is an error
    empty = rr_features(np.full((12, 1000), np.nan), 100)
    assert empty["n_rr"] == 0 and all(np.isnan(empty[k]) for k in RR_FEATURES if k != "n_rr")
    with pytest.raises(ValueError, match="leads, T"):
        rr_features(np.zeros(1000), 100)
