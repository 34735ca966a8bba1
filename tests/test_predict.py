"""predict.py: column contract, bad inputs, resume after interruption, no silent overwrite."""
import csv
import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecgcls.predict import ResumableCSV, load_bundle, resample_nan, run_predict
from ecgcls.render import RenderConfig, render

from test_render import synthetic_ecg

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def good_png(tmp_path_factory):
    d = tmp_path_factory.mktemp("pics")
    page = render(synthetic_ecg(3), 500, RenderConfig(layout="3x4+II", dpi=150), rng=0)
    p = d / "good.png"
    Image.fromarray(page.image).save(p)
    return p


def make_bad_inputs(folder: Path, good: Path) -> dict[str, str]:
    """Every kind of bad input, with the words its error must contain."""
    (folder / "empty.png").write_bytes(b"")
    (folder / "notimage.jpg").write_text("hello, I am text")
    data = good.read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 3])
    Image.new("RGB", (1, 1)).save(folder / "tiny.png")
    Image.new("RGB", (1200, 900), "white").save(folder / "white.png")
    rng = np.random.default_rng(0)
    noise = np.full((900, 1200, 3), 255, np.uint8)
    noise[100:300, 100:300] = rng.integers(0, 255, (200, 200, 3))
    Image.fromarray(noise).save(folder / "noecg.png")
    Image.new("1", (12000, 12000)).save(folder / "bomb.png")  # 144 Mpx of nothing, a few kB on disk
    (folder / "empty.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                                       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
                                       b"trailer << /Root 1 0 R >>\n%%EOF\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    return {"empty.png": "empty file", "notimage.jpg": "not a readable image", "truncated.png": "truncated",
            "tiny.png": "too small", "white.png": "blank", "noecg.png": "no ECG trace", "bomb.png": "decompression bomb",
            "empty.pdf": "no pages", "broken.pdf": "not a readable PDF"}


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_bundled_models_load():
    for name in ("patchecg", "cnn1d"):
        m = load_bundle(name)
        assert m.classes == ["NORM", "MI", "STTC", "CD", "HYP"] and len(m.thresholds) == 5
        assert m.card.get("test") and m.card.get("data", {}).get("folds")
    with pytest.raises(ValueError, match="no bundled model"):
        load_bundle("resnet9000")


def test_columns_and_bad_inputs(tmp_path, good_png):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "sub").mkdir()
    Image.open(good_png).save(folder / "sub" / "good.png")
    expected = make_bad_inputs(folder, good_png)
    out = tmp_path / "preds.csv"
    summary = run_predict(str(folder), str(out), workers=1)
    header = out.read_text().splitlines()[0].split(",")
    assert header == ["path", "status", "error", "paths", "layout", "quality", "p_NORM", "p_MI", "p_STTC", "p_CD",
                      "p_HYP", "labels"]
    rows = {Path(r["path"].split("#")[0]).name: r for r in read_rows(out)}
    assert rows["good.png"]["status"] == "ok" and rows["good.png"]["layout"] == "3x4+II"
    p = [float(rows["good.png"][f"p_{c}"]) for c in ["NORM", "MI", "STTC", "CD", "HYP"]]
    assert all(0 <= v <= 1 for v in p)
    for name, words in expected.items():
        assert rows[name]["status"] == "error", name
        assert words in rows[name]["error"], (name, rows[name]["error"])
        assert rows[name]["p_NORM"] == ""  # no silent guess
    assert summary["ok"] == 1 and summary["error"] == len(expected)


def test_worker_processes_write_what_one_process_writes(tmp_path, good_png):
    """The worker-pool stream (files read in other processes while this one classifies) writes the same rows in
    the same order as reading every file here, errors included, across several classification batches."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        Image.open(good_png).save(folder / f"p{i}.png")
    make_bad_inputs(folder, good_png)
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    s1 = run_predict(str(folder), str(one), workers=1, batch_size=2)
    s2 = run_predict(str(folder), str(two), workers=2, batch_size=2)
    assert one.read_text() == two.read_text()
    assert {k: s1[k] for k in ("ok", "uncertain", "error")} == {k: s2[k] for k in ("ok", "uncertain", "error")}
    assert s2["ok"] == 3 and s2["error"] >= 3
    for s in (s1, s2):  # when the first batch was written (bench/predict.py's rate after start-up)
        assert 1 <= s["timing"]["first_batch_files"] <= s["files"]
        assert 0 < s["timing"]["first_batch_s"] <= s["timing"]["seconds"]


def test_resume_after_interruption_and_no_silent_overwrite(tmp_path, good_png):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        Image.open(good_png).save(folder / f"p{i}.png")
    out = tmp_path / "preds.csv"
    run_predict(str(folder), str(out), workers=1)
    full = out.read_bytes()
    # simulate a kill mid-row: the last row is cut off, and p2 was never finished
    lines = full.splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:-1]) + lines[-1][:15])
    summary = run_predict(str(folder), str(out), workers=1)
    assert summary["skipped"] == 2 and summary["ok"] == 1
    rows = read_rows(out)
    assert sorted(Path(r["path"]).name for r in rows) == ["p0.png", "p1.png", "p2.png"]
    assert all(len(r) == 12 and r["status"] == "ok" for r in rows)
    # rerun: nothing to do, file unchanged
    before = out.read_bytes()
    assert run_predict(str(folder), str(out), workers=1)["skipped"] == 3
    assert out.read_bytes() == before
    # overwrite keeps the old file aside
    s = run_predict(str(folder), str(out), workers=1, overwrite=True)
    assert Path(s["moved_old_output_to"]).read_bytes() == before


def test_output_with_other_columns_is_refused(tmp_path):
    out = tmp_path / "x.csv"
    out.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other columns"):
        ResumableCSV(out, ["path", "status"])
    assert out.read_text() == "a,b\n1,2\n"


def test_multipage_pdf_rows(tmp_path, good_png):
    im = Image.open(good_png).convert("RGB")
    im.save(tmp_path / "two.pdf", save_all=True, append_images=[im], resolution=150.0)
    out = tmp_path / "p.csv"
    run_predict(str(tmp_path / "two.pdf"), str(out), workers=1, overlays=str(tmp_path / "ov"))
    rows = read_rows(out)
    assert [r["path"].split("#")[1] for r in rows] == ["page=1", "page=2"]
    # one overlay per page (page 2 must not overwrite page 1's)
    assert sorted(f.name for f in (tmp_path / "ov").iterdir()) == ["two_p1_overlay.png", "two_p2_overlay.png"]
    from ecgcls.predict.engine import page_stem
    assert page_stem("/a/scan.v2.pdf#page=10") == "scan.v2_p10" and page_stem("x/y.png") == "y"


def test_picture_path_needs_no_digitizer(tmp_path, good_png):
    """A page the digitizer refuses still gets the picture model's answer (paths=picture, the refusal said in
    the error column) where it shows ECG traces; a picture with none gets no answer from any path ("not an
    ECG"); model=both uses whichever paths answered; undecodable files stay errors."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(good_png).save(folder / "good.png")
    page = np.asarray(Image.open(good_png).convert("RGB"))
    Image.fromarray(page[:, : page.shape[1] // 8]).save(folder / "strip.png")  # 1.25 s: too little to digitize
    rng = np.random.default_rng(0)
    noise = np.full((900, 1200, 3), 255, np.uint8)
    noise[100:300, 100:300] = rng.integers(0, 255, (200, 200, 3))
    Image.fromarray(noise).save(folder / "noecg.png")
    Image.fromarray(rng.integers(0, 256, (800, 1200), dtype=np.uint8)).save(folder / "noise.png")
    (folder / "empty.png").write_bytes(b"")
    for model, rhythm in (("pic2dx", None), ("both", "rhythm")):
        out = tmp_path / f"{model}.csv"
        s = run_predict(str(folder), str(out), model=model, workers=1, jsonl=True, rhythm=rhythm)
        rows = {Path(r["path"]).name: r for r in read_rows(out)}
        assert s["error"] == 3 and rows["empty.png"]["status"] == "error" and rows["empty.png"]["p_NORM"] == ""
        for name in ("noecg.png", "noise.png"):  # no path answers a picture without ECG traces
            assert rows[name]["status"] == "error" and rows[name]["labels"] == "" and rows[name]["p_NORM"] == ""
            assert "not an ECG" in rows[name]["error"]
        assert rows["strip.png"]["status"] == "ok" and rows["strip.png"]["paths"] == "picture"
        assert 0 <= float(rows["strip.png"]["p_NORM"]) <= 1
        good = rows["good.png"]
        assert good["paths"] == ("picture" if model == "pic2dx" else "signal+picture")
        if model == "both":
            assert rows["strip.png"]["p_AFIB"] == ""  # rhythm needs the digitized leads: blank, not a guess
            assert "too little trace" in rows["strip.png"]["error"] and good["layout"] == "3x4+II"
            assert "signal path: " in rows["noecg.png"]["error"]  # both paths' reasons
            assert 0 <= float(good["p_AFIB"]) <= 1
            strict = functools.partial(json.loads, parse_constant=lambda c: pytest.fail(f"{c} in the JSONL"))
            j = {Path(x["path"]).name: x for x in map(strict, out.with_suffix(".jsonl").read_text().splitlines())}
            g = j["good.png"]
            w = g["signal_weight"]
            assert 0 <= w <= 0.75
            # the shipped rhythm bundle has an RR head: p_AFIB is its mix with the network, from the page's RR
            from ecgcls.predict.rhythm import RRHead, head_inputs

            rh, rhy = g["rhythm"], load_bundle("rhythm")
            assert rh["used_rr"] and rh["rr"]["n_rr"] >= 2 and rh["class"] == "AFIB"
            feats = {k: np.nan if v is None else v for k, v in rh["rr"].items()}
            want = RRHead(rhy.meta["rr_head"]).mix(np.array([rh["p_net"]]), head_inputs(feats)[None])[0][0]
            assert g["probs"]["AFIB"] == pytest.approx(want, rel=1e-5)
            mixed = w * np.array(g["path_probs"]["signal"]) + (1 - w) * np.array(g["path_probs"]["picture"])
            np.testing.assert_allclose(mixed, [g["probs"][c] for c in ["NORM", "MI", "STTC", "CD", "HYP"]], atol=1e-6)
            # labels: each page at the thresholds of the path(s) that answered it, weighted like the probabilities
            sig_t, img_t = load_bundle("patchecg").thresholds, load_bundle("pic2dx").thresholds
            for name, thr in (("good.png", w * sig_t + (1 - w) * img_t), ("strip.png", img_t)):
                want = [c for c, t in zip(["NORM", "MI", "STTC", "CD", "HYP"], thr) if float(rows[name][f"p_{c}"]) >= t]
                assert [c for c in rows[name]["labels"].split(";") if c not in ("AFIB", "SR", "")] == want
        else:
            assert good["layout"] == "" and good["quality"] == ""  # the digitizer was not run at all


def test_signal_weight_follows_predicted_snr():
    from ecgcls.predict.combine import signal_weight

    assert signal_weight(float("nan")) == 0.0 and signal_weight(-3.0) == 0.0 and signal_weight(30.0) == 0.75
    ws = [signal_weight(s) for s in np.linspace(-5, 20, 26)]
    assert all(a <= b for a, b in zip(ws, ws[1:])) and signal_weight(3.0) == pytest.approx(0.375)
    assert signal_weight(6.0, full_db=12.0, max_weight=0.5) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="must exceed"):
        signal_weight(5.0, full_db=0.0, zero_db=1.0)


def test_resample_keeps_gaps():
    x = np.sin(np.linspace(0, 20, 5000, dtype=np.float32))[None].repeat(12, 0)
    x[3, 1000:3000] = np.nan
    y = resample_nan(x, 500, 100, 1000)
    assert y.shape == (12, 1000)
    assert np.isnan(y[3, 210:590]).all() and np.isfinite(y[3, :190]).all() and np.isfinite(y[0]).all()


def test_predict_entry_point_exit_codes(tmp_path, good_png):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(good_png).save(folder / "good.png")
    out = tmp_path / "preds.csv"
    ok = subprocess.run([sys.executable, "predict.py", f"input={folder}", f"output={out}", "workers=1", "model=both",
                         f"hydra.run.dir={tmp_path / 'h'}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "patchecg+pic2dx_ensemble" in ok.stderr  # model=... is a plain value, not the training model/ group
    row = read_rows(out)[0]  # the default rhythm bundle adds its classes for pages the digitizer read
    assert row["paths"] == "signal+picture" and 0 <= float(row["p_AFIB"]) <= 1 and 0 <= float(row["p_SR"]) <= 1
    out.unlink()
    (folder / "bad.png").write_bytes(b"")
    bad = subprocess.run([sys.executable, "predict.py", f"input={folder}", f"output={out}", "workers=1",
                          f"hydra.run.dir={tmp_path / 'h2'}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "1 errors" in bad.stdout and "empty file" in bad.stderr
    missing = subprocess.run([sys.executable, "predict.py", f"input={tmp_path / 'nope'}", f"output={out}",
                              f"hydra.run.dir={tmp_path / 'h3'}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_report_and_measurements(tmp_path, good_png):
    """report=DIR: one JSON + self-contained HTML per page with the overlay, measurements and each class's
    evidence; the JSONL carries the same measurements."""
    import json

    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(good_png).save(folder / "good.png")
    out, rep = tmp_path / "p.csv", tmp_path / "reports"
    run_predict(str(folder), str(out), model="both", rhythm="rhythm", workers=1, report=str(rep), jsonl=True)
    j = json.loads((rep / "good.json").read_text())
    att = j["attribution"]
    assert (rep / att["fiducials"]).is_file()
    shown = att["classes"]
    assert shown and set(shown) <= set(j["probs"]) and set(shown) >= set(j["labels"][:3])
    for cls, a in shown.items():
        if cls in ("AFIB", "SR"):  # rhythm classes: the rhythm model's signal map only
            assert a["signal"]["model"] == "cnn1d" and "picture" not in a
        else:  # both paths answered: PatchECG's map on the printed leads and the ensemble's Grad-CAM
            assert a["signal"]["model"] == "patchecg" and (rep / a["picture"]["file"]).is_file()
        w = a["signal"]["top_windows"]
        assert w and all(0 < x["share"] <= 1 and x["t1"] > x["t0"] for x in w)
        assert (rep / a["signal"]["file"]).is_file()
    g = j["measurements"]["global"]
    assert 40 <= g["hr_bpm"] <= 120 and 40 <= g["qrs_ms"] <= 200
    assert set(j["evidence"]) == {"NORM", "MI", "STTC", "CD", "HYP", "AFIB", "SR"}
    statuses = {c["status"] for e in j["evidence"].values() for c in e["criteria"]}
    assert statuses <= {"met", "not met", "not measurable"} and "met" in statuses
    page = (rep / "good.html").read_text()
    assert "data:image/jpeg;base64," in page and "<script" not in page and "Sokolow-Lyon" in page
    assert "where the signal model found it" in page and "Grad-CAM" in page
    line = json.loads(out.with_suffix(".jsonl").read_text().splitlines()[0])
    assert line["measurements"]["global"]["hr_bpm"] == pytest.approx(g["hr_bpm"])


def test_rr_head_mixes_with_the_network_and_falls_back_to_it():
    """The rhythm bundle's RR head (ecgcls.predict.rhythm): the mix at its weight, the network alone where no RR
    feature was measured, and a head of other features refused."""
    from ecgcls.predict.rhythm import HEAD_FEATURES, RRHead, head_inputs

    spec = {"class": "AFIB", "features": list(HEAD_FEATURES), "center": [0.0] * 4, "scale": [1.0] * 4,
            "coef": [2.0, 0.0, 0.0, 0.0], "intercept": -1.0, "net_weight": 0.5, "threshold": 0.4}
    head = RRHead(spec)
    x = np.stack([head_inputs({"rr_cv": 0.3, "rr_irregularity": 0.2, "rr_irregular_frac": 0.8, "hr_bpm": 90.0}),
                  np.full(4, np.nan)])
    assert x[0, 0] == pytest.approx(np.log(0.3)) and x[0, 3] == pytest.approx(np.log(90.0))
    p_rr = 1 / (1 + np.exp(-(-1.0 + 2.0 * np.log(0.3))))
    p, used = head.mix(np.array([0.9, 0.9]), x)
    z = 0.5 * np.log(0.9 / 0.1) + 0.5 * np.log(p_rr / (1 - p_rr))
    np.testing.assert_allclose(p, [1 / (1 + np.exp(-z)), 0.9], rtol=1e-6)
    assert used.tolist() == [True, False] and head.threshold == 0.4
    head.net_weight = 0.0
    assert head.mix(np.array([0.9]), x[:1])[0][0] == pytest.approx(p_rr)
    with pytest.raises(ValueError, match="features"):
        RRHead({**spec, "features": ["rr_cv"]})


def test_rr_head_is_fitted_on_training_pictures_and_chosen_on_validation(ptbxl_root):
    """`ecgcls rhythm-head` on a few records: fitted on fold-10 pictures, weight and threshold from folds 8-9
    (never test), the head usable as written; nothing is written with write=False."""
    from ecgcls.predict.bundle import WEIGHTS_DIR
    from ecgcls.predict.rhythm import HEAD_FEATURES, NET_WEIGHTS, RRHead, fit_head

    before = (WEIGHTS_DIR / "cnn1d_rhythm.json").read_text()
    spec = fit_head("rhythm", pages_per_record=1, workers=1, write=False, store=False, limit=8)
    fit = spec["fit"]
    assert fit["train"]["folds"] == [10] and fit["val"]["folds"] == [8, 9] and fit["train"]["records"] <= 8
    assert fit["train"]["positives"] >= 2 and fit["val"]["positives"] >= 1
    assert spec["features"] == list(HEAD_FEATURES) and spec["net_weight"] in NET_WEIGHTS and 0 < spec["threshold"] < 1
    assert [g["net_weight"] for g in fit["val"]["net_weight_grid"]] == list(NET_WEIGHTS)
    head = RRHead(spec)
    p, used = head.mix(np.array([0.5]), np.array([[np.log(0.3), np.log(0.2), 0.9, np.log(110.0)]]))
    assert used[0] and 0 < p[0] < 1
    assert (WEIGHTS_DIR / "cnn1d_rhythm.json").read_text() == before


def test_worker_processes_start_first_and_a_bad_model_still_fails_cleanly(tmp_path, good_png, monkeypatch):
    """run_predict starts its worker processes before this process imports torch (``ecgcls.predict`` imports
    nothing heavy), the workers import what reading needs as they start, and an unknown model or rhythm bundle
    fails as before — before any worker process is started."""
    import ecgcls.predict.engine as engine
    from ecgcls.parallel import start_workers, worker_pool

    fresh = subprocess.run([sys.executable, "-c", "import sys; from ecgcls.predict import run_predict; "
                            "print('torch' in sys.modules, 'ecgcls.digitize' in sys.modules)"],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
    assert fresh.stdout.split() == ["False", "False"], fresh.stderr[-2000:]
    imported = "'ecgcls.geometry' in __import__('sys').modules"
    for warm in ((), ("ecgcls.geometry",)):
        with worker_pool(1, warm=warm) as ex:
            start_workers(ex, 1)
            assert ex.submit(eval, imported).result() == bool(warm)
            assert ex.submit(eval, "__import__('torch').get_num_threads()").result() == 1
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        Image.open(good_png).save(folder / f"p{i}.png")
    def no_pool(*a, **k):
        raise AssertionError("a worker pool was started for a bad model name")

    monkeypatch.setattr(engine, "worker_pool", no_pool)
    with pytest.raises(ValueError, match="no bundled model 'nope'"):
        run_predict(str(folder), str(tmp_path / "preds.csv"), model="nope", workers=2)
    with pytest.raises(FileNotFoundError, match="weights bundle not found"):
        run_predict(str(folder), str(tmp_path / "preds.csv"), rhythm=str(tmp_path / "gone.json"), workers=2)
    assert not (tmp_path / "preds.csv").exists()


def test_one_default_ink_everywhere():
    """digitize(), `ecgcls digitize`, predict.py's config, `ecgcls calibrate` and `ecgcls rhythm-head` read a picture
    the same way unless told otherwise."""
    import argparse
    import inspect

    import yaml

    from ecgcls.digitize import DEFAULT_INK, digitize
    from ecgcls.digitize.cli import add_parser as add_digitize
    from ecgcls.predict.calibrate import add_parser as add_calibrate
    from ecgcls.predict.rhythm import add_parser as add_rhythm_head

    assert DEFAULT_INK == "auto" and inspect.signature(digitize).parameters["ink"].default == DEFAULT_INK
    assert yaml.safe_load((REPO / "configs" / "predict" / "predict.yaml").read_text())["digitize"]["ink"] == DEFAULT_INK
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    for add in (add_digitize, add_calibrate, add_rhythm_head):
        add(sub)
    for argv in (["digitize", "x.png", "--out", "o"], ["calibrate", "cnn1d"], ["rhythm-head", "rhythm"]):
        assert parser.parse_args(argv).ink == DEFAULT_INK, argv
