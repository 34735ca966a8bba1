"""ECGBench-style harness: deterministic tasks, metrics on hand-made cases, robust parsing, and the endpoint
client against a real local HTTP server (timeouts, malformed replies, retries, budget, resume)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from ecgcls.ecgbench import score
from ecgcls.ecgbench.systems import parse_detect, parse_mcq, parse_report
from ecgcls.ecgbench.tasks import Item, make_mcq, report_truth

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.jpg"))


def test_mcq_is_deterministic_and_fair():
    pool = {c: f"statement {c}" for c in ("NORM", "IMI", "AFIB", "SR", "LVH", "CLBBB", "NDT")}
    it = Item("00042", "x.png", ["NORM"], statements={"NORM": "statement NORM", "SR": "statement SR"})
    a, b = make_mcq(it, pool, 4, seed=0), make_mcq(it, pool, 4, seed=0)
    assert a == b and len(a["options"]) == 4 and len(set(a["codes"])) == 4
    right = a["codes"]["ABCD".index(a["answer"])]
    assert right in it.statements and not (set(a["codes"]) - {right}) & set(it.statements)
    answers = {make_mcq(Item(str(i), "x", [], statements=it.statements), pool, 4, 0)["answer"] for i in range(40)}
    assert len(answers) >= 3  # the right letter moves around
    assert make_mcq(Item("1", "x", [], statements={}), pool, 4, 0) == {}


def test_report_truth():
    m = {"global": {"hr_bpm": 71.0, "qrs_axis_deg": -45.0, "pr_ms": float("nan"), "qrs_ms": 96.0, "qt_ms": 400.0}}
    t = report_truth({"AFIB": 100.0, "IMI": 50.0}, ["MI"], m)
    assert t == {"rhythm": "AFIB", "rate_bpm": 71.0, "axis": "left", "pr_ms": None, "qrs_ms": 96.0, "qt_ms": 400.0,
                 "diagnoses": ["MI"]}


def test_detection_metrics_on_hand_made_cases():
    truth = [["NORM"], ["MI", "CD"], ["STTC"], ["HYP"]]
    perfect = [{"labels": t, "scores": {c: float(c in t) for c in ("NORM", "MI", "STTC", "CD", "HYP")}} for t in truth]
    d = score.detection(perfect, truth)
    assert d["auc"] == pytest.approx(100) and d["f1"] == pytest.approx(100) and d["hamming_loss"] == 0
    wrong = [{"labels": ["NORM"]}, {"malformed": "?"}, {"failed": "timeout"}, {"labels": ["NORM"]}]
    d = score.detection(wrong, truth)
    # 20 decisions: NORM wrong on items 4 (extra), MI/CD/STTC/HYP missed -> 5 wrong of 20
    assert d["hamming_loss"] == pytest.approx(25.0) and d["malformed_or_failed"] == 2 and d["f1"] < 30
    q = score.mcq([{"choice": "A"}, {"choice": "C"}, {"malformed": "x"}], ["A", "B", "C"], k=4)
    assert q["accuracy"] == pytest.approx(100 / 3) and q["chance"] == 25 and q["malformed_or_failed"] == 1


def test_report_score_field_by_field():
    truth = [{"rhythm": "SR", "rate_bpm": 70.0, "axis": "normal", "pr_ms": 160.0, "qrs_ms": 90.0, "qt_ms": None,
              "diagnoses": ["NORM"]}]
    exact = score.report([dict(truth[0], qt_ms=999)], truth)  # qt truth unknown: not scored
    assert exact["score"] == pytest.approx(100)
    off = score.report([{"rhythm": "AFIB", "rate_bpm": 85.0, "axis": "normal", "pr_ms": 175.0, "qrs_ms": 130.0,
                         "diagnoses": ["NORM", "MI"]}], truth)
    # rhythm wrong, rate off by 15 (>10), axis right, PR within 20, QRS off by 40; Jaccard 1/2
    assert off["fields"]["rhythm"] == 0 and off["fields"]["rate_bpm"] == 0 and off["fields"]["pr_ms"] == 100
    assert off["score"] == pytest.approx(100 * (0 + 1 + 0 + 1 + 0 + 0.5) / 6)
    assert score.report([{"malformed": "no"}], truth)["score"] < 20


@pytest.mark.parametrize("text,labels", [
    ('["MI", "CD"]', ["MI", "CD"]), ("The answer: [\"NORM\"]", ["NORM"]),
    ("myocardial infarction, conduction disturbance", ["MI", "CD"]), ("STTC", ["STTC"])])
def test_parse_detect(text, labels):
    assert parse_detect(text)["labels"] == labels


def test_parse_mcq_and_report_and_malformed():
    assert parse_mcq("B", 4) == {"choice": "B"} and parse_mcq("The answer is (C).", 4) == {"choice": "C"}
    assert parse_mcq("I am not sure", 4)["malformed"] and "malformed" in parse_mcq("E", 4)
    r = parse_report('Here: {"rhythm": "sr", "rate_bpm": "72", "axis": "Normal", "pr_ms": 150, "qrs_ms": null, '
                     '"qt_ms": 380, "diagnoses": ["norm"]}')
    assert r == {"rhythm": "SR", "rate_bpm": 72.0, "axis": "normal", "pr_ms": 150.0, "qrs_ms": None, "qt_ms": 380.0,
                 "diagnoses": ["NORM"]}
    assert "malformed" in parse_report("{not json") and "malformed" in parse_detect("no idea")


class FakeVLM(BaseHTTPRequestHandler):
    """A chat-completions endpoint: right answers for 'good', nonsense for 'garbled', sleeps for 'slow', a 500
    then an answer for 'flaky'."""

    calls: list = []
    flaky_seen: set = set()

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model, text = body["model"], body["messages"][1]["content"][0]["text"]
        assert body["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/")
        FakeVLM.calls.append(model)
        if model == "slow":
            time.sleep(1.0)
        if model == "flaky" and text not in FakeVLM.flaky_seen:
            FakeVLM.flaky_seen.add(text)
            return self._send(500, {"error": "busy"})
        if model == "garbled":
            reply = "I cannot interpret pictures."
        elif "superclasses" in text:
            reply = '["NORM"]'
        elif "Choose one option" in text:
            reply = "A"
        else:
            reply = '{"rhythm": "SR", "rate_bpm": 70, "axis": "normal", "pr_ms": 150, "qrs_ms": 90, "qt_ms": 400, ' \
                    '"diagnoses": ["NORM"]}'
        self._send(200, {"choices": [{"message": {"role": "assistant", "content": reply}}]})

    def _send(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def endpoint():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeVLM)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/v1"
    srv.shutdown()


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("labelled")
    rows = []
    for i, p in enumerate(EXAMPLES[:3]):
        (d / p.name).write_bytes(p.read_bytes())
        codes = [{"NORM": 100.0, "SR": 0.0}, {"IMI": 50.0, "ABQRS": 0.0, "SR": 0.0},
                 {"NORM": 100.0, "SARRH": 0.0, "LVOLT": 0.0}][i]
        rows.append({"file": p.name, "NORM": int(i != 1), "MI": int(i == 1), "STTC": 0, "CD": 0, "HYP": 0,
                     "scp_codes": str(codes)})
    pd.DataFrame(rows).to_csv(d / "labels.csv", index=False)
    return d


def _bench(folder, out, *systems, extra=()):
    from ecgcls.cli import main

    args = ["bench", "--set", str(folder), "--out", str(out), "--retries", "1", "--timeout", "0.5", *extra]
    for s in systems:
        args += ["--system", s]
    assert main(args) == 0
    return json.loads((out / "results.json").read_text())


def test_endpoint_client_end_to_end(endpoint, labelled_folder, tmp_path, monkeypatch):
    import ecgcls.ecgbench.systems as S

    monkeypatch.setattr(S.ChatClient, "__init__", _fast_backoff(S.ChatClient.__init__))
    FakeVLM.calls.clear()
    res = _bench(labelled_folder, tmp_path / "b", f"openai:good@{endpoint}", f"openai:garbled@{endpoint}",
                 f"openai:slow@{endpoint}", f"openai:flaky@{endpoint}")
    good, bad = res["systems"]["openai:good"], res["systems"]["openai:garbled"]
    assert good["detect"]["n"] == 3 and good["detect"]["malformed_or_failed"] == 0
    # the fake always says SR: right for the two SR records, wrong for the sinus-arrhythmia one ("other")
    assert good["report"]["fields"]["rhythm"] == pytest.approx(200 / 3) and good["requests"] == 9  # 3 x 3 tasks
    assert bad["detect"]["malformed_or_failed"] == 3 and bad["mcq"]["malformed_or_failed"] == 3
    slow = res["systems"]["openai:slow"]
    assert slow["detect"]["malformed_or_failed"] == 3 and slow["requests"] == 18  # each tried twice, timed out
    flaky = res["systems"]["openai:flaky"]
    assert flaky["detect"]["malformed_or_failed"] == 0 and flaky["requests"] > 9  # 500s retried, then answered
    assert (tmp_path / "b" / "results.md").read_text().count("|") > 20 and (tmp_path / "b" / "detect.png").is_file()
    # rerun: every answer comes from the cache, nothing is asked again
    n = len(FakeVLM.calls)
    again = _bench(labelled_folder, tmp_path / "b", f"openai:good@{endpoint}")
    assert len(FakeVLM.calls) == n and again["systems"]["openai:good"]["detect"] == good["detect"]


def test_request_budget_is_respected(endpoint, labelled_folder, tmp_path):
    FakeVLM.calls.clear()
    res = _bench(labelled_folder, tmp_path / "c", f"openai:good@{endpoint}", extra=("--budget", "4"))
    r = res["systems"]["openai:good"]
    assert len(FakeVLM.calls) == 4 and r["requests"] == 4
    assert r["detect"]["malformed_or_failed"] + r["mcq"]["malformed_or_failed"] + r["report"]["malformed_or_failed"] == 5


def test_ecgcls_system_on_a_labelled_folder(labelled_folder, tmp_path):
    res = _bench(labelled_folder, tmp_path / "e", "ecgcls:pic2dx", extra=("--tasks", "detect", "mcq"))
    r = res["systems"]["ecgcls:pic2dx"]
    assert r["detect"]["n"] == 3 and r["detect"]["malformed_or_failed"] == 0 and 0 <= r["mcq"]["accuracy"] <= 100


def _fast_backoff(init):
    def wrapped(self, *a, **kw):
        init(self, *a, **kw)
        self.backoff_s = 0.01
    return wrapped


def test_render_set_draws_once_and_rejects_unknown_presets(ptbxl_root, tmp_path):
    """The ecgbench render set and bench/eval_pictures draw through one function: a seeded picture per record,
    layout and preset (single artifacts too), kept on a rerun; an unknown preset is an error, not a clean page."""
    import cv2

    from ecgcls.ecgbench.tasks import render_set

    pics = render_set(ptbxl_root, tmp_path, 1, ["3x4+II"], ["clean", "noise"])
    assert [Path(p).parent.name for p, _ in pics] == ["clean", "noise"]
    assert pics[0][1] == pics[1][1]
    clean, noisy = (cv2.imread(p) for p, _ in pics)
    assert clean.shape == noisy.shape and (clean != noisy).any()
    stamp = [Path(p).stat().st_mtime_ns for p, _ in pics]
    assert render_set(ptbxl_root, tmp_path, 1, ["3x4+II"], ["clean", "noise"]) == pics
    assert [Path(p).stat().st_mtime_ns for p, _ in pics] == stamp
    with pytest.raises(ValueError, match="unknown artifact 'smudge'"):
        render_set(ptbxl_root, tmp_path, 1, ["3x4+II"], ["smudge"])
    with pytest.raises(ValueError, match="unknown layout"):
        render_set(ptbxl_root, tmp_path, 1, ["5x5"], ["clean"])
