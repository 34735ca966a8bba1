"""ecgcls export: aligned parts per record round-trip, bad records become error rows, reruns resume, and the
export trains through data=exported."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import make_tiny_ptbxl
from ecgcls.cli import main


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 6-record synthetic PTB-XL root (500 Hz) with three broken records, exported on a 1-worker Dask cluster."""
    tmp = tmp_path_factory.mktemp("export")
    root = make_tiny_ptbxl(tmp / "src", n=9, fs_list=(500,))
    import wfdb

    (root / "records500/00000/00007_hr.hea").write_text("this is not a header\n")   # corrupt header
    (root / "records500/00000/00008_hr.dat").unlink()                                 # missing .dat
    sig, f = wfdb.rdsamp(str(root / "records500/00000/00009_hr"))                      # an all-NaN lead
    sig[:, 3] = np.nan
    wfdb.wrsamp("00009_hr", fs=500, units=["mV"] * 12, sig_name=f["sig_name"], p_signal=sig, fmt=["16"] * 12,
                adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(root / "records500/00000"))
    out = tmp / "ds"
    rc = main(["export", "--ptbxl", str(root), "--out", str(out), "--workers", "1", "--pages", "2",
               "--layout", "3x4+II", "6x2"])
    return root, out, rc


def test_round_trip_and_error_rows(exported):
    from ecgcls.data.store import read_wfdb
    from ecgcls.render import load_mask

    root, out, rc = exported
    assert rc == 1  # some records failed: the command says so, and the run still finished
    idx = pd.read_parquet(out / "index.parquet")
    assert sorted(idx["id"]) == [f"{i:05d}" for i in range(1, 10)] and idx["id"].is_unique
    err = idx.set_index("id").loc[["00007", "00008", "00009"]]
    assert (err["status"] == "error").all()
    assert "cannot read WFDB" in err.at["00007", "error"] or "header" in err.at["00007", "error"].lower()
    assert "NaN" in err.at["00009", "error"] and err["traceback"].str.len().gt(0).all()
    ok = idx[idx["status"] == "ok"].set_index("id")
    assert len(ok) == 6
    for rid, row in ok.iterrows():
        src, _ = read_wfdb(root / f"records500/00000/{rid}_hr")
        back, fs = read_wfdb(out / row["signal"])
        assert fs == 500 and np.array_equal(src, back)  # the signal read back is the source, sample for sample
        assert list(row["layouts"]) == ["3x4+II", "6x2"] and len(row["pictures"]) == 2
        sums = json.loads(row["sha256"])
        assert all((out / p).is_file() for p in sums)
        # the truth maps samples to the pixels the lead's ink is on
        truth = json.loads((out / row["truths"][0]).read_text())
        pts = np.load(out / row["points"][0])
        mask = load_mask(out / row["masks"][0])
        seg = truth["segments"][0]
        xy = np.round(pts["seg0"]).astype(int)
        bit = truth["mask_bits"][seg["lead"]]
        near = [((mask[max(0, y - 2):y + 3, max(0, x - 2):x + 3] >> bit) & 1).any() for x, y in xy[::10]]
        assert np.mean(near) > 0.95
        text = (out / row["text"]).read_text()
        assert ("normal ECG" in text) if "NORM" in row["scp_codes"] else ("inferior MI" in text)
        feats = json.loads((out / row["features"]).read_text())
        assert set(feats) >= {"global", "leads", "fiducials"}


def test_rerun_redoes_only_missing_or_partial(exported):
    root, out, _ = exported
    before = pd.read_parquet(out / "index.parquet").set_index("id")
    (out / "records" / "00002" / "page1.png").unlink()                 # a damaged record: redone
    (out / "records" / ".tmp-00003-1-dead").mkdir()                    # a killed run's leftovers: removed
    stamp = (out / "records" / "00004" / "row.json").stat().st_mtime_ns
    main(["export", "--ptbxl", str(root), "--out", str(out), "--workers", "1", "--pages", "2",
          "--layout", "3x4+II", "6x2"])
    after = pd.read_parquet(out / "index.parquet").set_index("id")
    assert after.index.is_unique and sorted(after.index) == sorted(before.index)
    assert (out / "records" / "00002" / "page1.png").is_file()
    assert not (out / "records" / ".tmp-00003-1-dead").exists()
    assert (out / "records" / "00004" / "row.json").stat().st_mtime_ns == stamp  # finished: not redone
    # seeded: the redone record's picture is the same bytes as before
    assert json.loads(after.at["00002", "sha256"]) == json.loads(before.at["00002", "sha256"])


def test_exported_data_module(exported):
    from ecgcls.data import ExportedDataModule

    _, out, _ = exported
    dm = ExportedDataModule(str(out), fs=100, folds={"train": [1], "val": [2], "test": [3]}, batch_size=4)
    dm.setup()
    assert dm.classes == ["NORM", "MI"]  # superclasses with at least one positive, in PTB-XL order
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape[1:] == (12, 1000) and y.shape[1] == 2 and y.sum() > 0
    dp = ExportedDataModule(str(out), source="picture", image_size=(104, 136),
                            folds={"train": [1], "val": [2], "test": [3]}, batch_size=2)
    xi, _ = next(iter(dp.val_dataloader()))
    assert xi.shape[1:] == (1, 104, 136)
    with pytest.raises(ValueError, match="no 'labels_form'"):
        ExportedDataModule(str(out), task="form").setup()
    with pytest.raises(FileNotFoundError, match="not an ecgcls export"):
        ExportedDataModule(str(out / "nope")).setup()


def test_interpretation_template():
    from ecgcls.export.text import interpretation

    st = {"SR": {"description": "sinus rhythm", "rhythm": 1}, "IMI": {"description": "inferior MI", "diagnostic": 1,
                                                                     "diagnostic_class": "MI"}}
    m = {"global": {"hr_bpm": 71.4, "pr_ms": 160.0, "qrs_ms": float("nan"), "qt_ms": 400.0}}
    t = interpretation({"IMI": 50.0, "SR": 0.0}, st, m)
    assert "Rhythm: sinus rhythm (SR)." in t and "inferior MI (IMI, 50%)" in t and "superclasses: MI" in t
    assert "heart rate 71 bpm" in t and "QRS not measurable" in t


def test_train_py_trains_from_the_export(exported, tmp_path, cache_dir):
    """`python train.py data=exported data.root=DATASET` runs end to end (one batch each way)."""
    from test_train import run_train

    _, out, _ = exported
    run = run_train(tmp_path, cache_dir, "model=cnn1d", "data=exported", f"data.root={out}",
                    "data.folds={train: [1], val: [2], test: [3]}", "data.batch_size=2")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["root"] == str(out) and metrics["data"]["classes"] == ["NORM", "MI"]


def test_export_on_an_existing_dask_cluster(tmp_path):
    """--scheduler ADDRESS: the same export on a cluster that was already running (and is left running)."""
    from dask.distributed import LocalCluster

    root = make_tiny_ptbxl(tmp_path / "src", n=3, fs_list=(500,))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        rc = main(["export", "--ptbxl", str(root), "--out", str(tmp_path / "ds"), "--scheduler",
                   cluster.scheduler_address])
        assert rc == 0 and cluster.scheduler_address  # still up
    idx = pd.read_parquet(tmp_path / "ds" / "index.parquet")
    assert list(idx["id"]) == ["00001", "00002", "00003"] and (idx["status"] == "ok").all()


def test_llm_rewrite_through_an_openai_compatible_endpoint(tmp_path):
    """The optional rewrite posts the template text to /chat/completions and returns the reply; a failing endpoint
    raises (the export then keeps the template and records why)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from ecgcls.export.text import rewrite

    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.update(path=self.path, body=body)
            reply = json.dumps({"choices": [{"message": {"content": " Sinus rhythm, normal ECG. "}}]}).encode()
            self.send_response(200 if body["model"] == "m" else 500)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_port}/v1"
        assert rewrite("Rhythm: sinus rhythm (SR).", url, "m") == "Sinus rhythm, normal ECG."
        assert seen["path"] == "/v1/chat/completions" and seen["body"]["messages"][1]["content"].startswith("Rhythm")
        with pytest.raises(Exception):
            rewrite("x", url, "broken")
    finally:
        srv.shutdown()
