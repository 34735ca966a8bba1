"""PPG -> ECG: subject-independent folds, windows, both networks, the metrics on hand-made cases, the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgcls.data.ppg import minmax, subject_folds, windows
from ecgcls.metrics import clinical_errors, ecg_window_features, reconstruction_errors
from ecgcls.models import create

REPO = Path(__file__).resolve().parents[1]
PACK = REPO.parent / "shared" / "data" / "bidmc-ppg-ecg.tar.xz"


def test_subject_folds_are_disjoint_and_cover_everyone():
    subjects = [f"s{i:02d}" for i in range(31)]
    tests = []
    for k in range(5):
        f = subject_folds(subjects, 5, k, n_val=3)
        assert not (set(f["train"]) & set(f["test"])) and not (set(f["val"]) & set(f["test"]))
        assert not set(f["train"]) & set(f["val"]) and len(f["val"]) == 3
        assert sorted(f["train"] + f["val"] + f["test"]) == subjects
        tests += f["test"]
    assert sorted(tests) == subjects  # every subject is tested exactly once
    with pytest.raises(ValueError, match="fold"):
        subject_folds(subjects, 5, 5, 3)


def test_windows_drop_gaps_and_flat_parts():
    t = np.arange(2000) / 125
    ppg, ecg = np.sin(2 * np.pi * t).astype(np.float32), np.cos(2 * np.pi * 1.3 * t).astype(np.float32)
    ppg[600] = np.nan
    ecg[1500:] = 0.5  # flat
    x, y, starts = windows(ppg, ecg, 256, 128)
    assert x.shape == y.shape and x.shape[1] == 256
    assert all(not (s <= 600 < s + 256) for s in starts) and all(s < 1500 for s in starts)  # no all-flat window
    assert np.allclose(x.min(1), 0) and np.allclose(x.max(1), 1)


@pytest.mark.parametrize("name", ["ppg2ecg_vit", "ppg2ecg_unet1d"])
def test_networks_fit_a_small_batch(name):
    torch.manual_seed(0)
    net = create(name, length=256) if name == "ppg2ecg_unet1d" else create(name, length=256, row=32)
    t = torch.arange(256) / 125.0
    x = torch.stack([torch.sin(2 * np.pi * f * t) for f in (1.0, 1.2, 1.5, 0.9)])
    y = torch.stack([torch.sin(2 * np.pi * f * t + 0.5) ** 2 for f in (1.0, 1.2, 1.5, 0.9)])
    assert net(x).shape == (4, 256)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    first = None
    for _ in range(60):
        loss = torch.nn.functional.mse_loss(net(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first
    with pytest.raises(ValueError, match="fold"):
        create("ppg2ecg_vit", length=250)


def test_reconstruction_metrics_on_hand_made_cases():
    x = np.array([[0.0, 1.0, 0.0, 1.0]])
    e = reconstruction_errors(x, x)
    assert e["rmse"][0] == 0 and e["prd"][0] == 0 and e["pearson_r"][0] == pytest.approx(1)
    e = reconstruction_errors(x, x + 0.1)
    assert e["rmse"][0] == pytest.approx(0.1) and e["pearson_r"][0] == pytest.approx(1)
    assert e["prd"][0] == pytest.approx(100 * np.sqrt(4 * 0.01 / 2))
    assert reconstruction_errors(x, 1 - x)["pearson_r"][0] == pytest.approx(-1)
    assert np.isnan(reconstruction_errors(x, np.full_like(x, 0.3))["pearson_r"][0])


def test_clinical_errors_zero_on_identity_and_shift_detected():
    from test_measure import beat_train

    sig, _ = beat_train(np.full(6, 0.8), seconds=4.1)
    ecg = minmax(sig[1, ::4][None])  # lead II at 125 Hz, one window
    f = ecg_window_features(ecg[0], 125)
    assert 150 <= f["rt_ms"] <= 450 and f["qrs_area"] != 0
    same = clinical_errors(ecg, ecg, 125)
    assert all(v["mae"] == 0 and v["measured_share"] == 1 for v in same.values())
    smaller = clinical_errors(ecg, 0.5 * ecg, 125)
    assert smaller["rt_amplitude"]["mae"] > 0.1 and smaller["rt_ms"]["mae"] < 20


def _tiny_bundle(tmp_path):
    from ecgcls.predict.bundle import save_bundle

    cfg = {"name": "ppg2ecg_unet1d", "length": 512, "widths": [8, 16]}
    net = create(**{k: v for k, v in cfg.items() if k != "name"}, name="ppg2ecg_unet1d")
    return save_bundle(tmp_path / "tiny", net.state_dict(), {"net": cfg, "input": "ppg",
                                                             "ppg": {"fs": 125.0, "length": 512}, "card": {}})


def test_cli_on_wfdb_and_csv_and_bad_inputs(tmp_path):
    import wfdb

    bundle = _tiny_bundle(tmp_path)
    t = np.arange(int(30 * 250)) / 250
    ppg = np.sin(2 * np.pi * 1.2 * t) ** 2
    wfdb.wrsamp("rec", fs=250, units=["NU", "NU"], sig_name=["PLETH", "II"],
                p_signal=np.column_stack([ppg, np.cos(t)]), fmt=["16", "16"], write_dir=str(tmp_path))

    def run(*a):
        return subprocess.run([sys.executable, "-m", "ecgcls.cli", "ppg2ecg", *a, "--model", str(bundle)],
                              cwd=REPO, capture_output=True, text=True, timeout=300)

    p = run(str(tmp_path / "rec.hea"), "--out", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    rows = np.loadtxt(tmp_path / "o" / "rec_ecg.csv", delimiter=",", skiprows=1)
    assert rows.shape == (30 * 125, 3) and np.isfinite(rows).all()  # resampled to the model's 125 Hz
    assert (tmp_path / "o" / "rec_ecg.png").stat().st_size > 5000
    assert json.loads((tmp_path / "o" / "rec_ecg.json").read_text())["model_fs"] == 125.0
    np.savetxt(tmp_path / "p.csv", np.column_stack([t, ppg]), delimiter=",", header="time,pleth", comments="")
    assert run(str(tmp_path / "p.csv"), "--fs", "250", "--out", str(tmp_path / "o2")).returncode == 0
    bad = run(str(tmp_path / "p.csv"), "--out", str(tmp_path / "o3"))
    assert bad.returncode == 2 and "--fs" in bad.stderr
    assert "no 'RESP' channel" in run(str(tmp_path / "rec"), "--channel", "RESP", "--out", str(tmp_path / "o4")).stderr
    np.savetxt(tmp_path / "short.csv", ppg[:500], header="ppg", comments="")
    assert "at least" in run(str(tmp_path / "short.csv"), "--fs", "250", "--out", str(tmp_path / "o5")).stderr


@pytest.mark.skipif(not PACK.is_file(), reason="BIDMC pack not found")
def test_train_py_runs_a_fold_on_bidmc(tmp_path, cache_dir):
    """experiment=ppg2ecg_vit end to end on 10 subjects (one batch), per-subject metrics and a bundle."""
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "train.py", "experiment=ppg2ecg_vit", "ppg2ecg.folds=[1]",
                        "trainer=fast_dev_run", "data.limit_subjects=10", f"paths.cache_dir={cache_dir}",
                        f"hydra.run.dir={out}"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())
    f = m["folds"]["1"]["data"]["subjects"]
    assert not set(f["train"]) & set(f["test"]) and len(f["test"]) == 2
    assert set(m["per_subject"]) == set(f["test"])
    assert {"rmse", "prd", "pearson_r", "qrs_area", "pr_ms", "rt_ms", "rt_amplitude"} <= set(m["summary"])
    assert (out / "recon_fold1.png").is_file() and (out / "ppg2ecg_vit.json").is_file()
    assert json.loads((out / "ppg2ecg_vit.json").read_text())["card"]["held_out"] == f["test"]
