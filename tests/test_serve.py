"""ecgcls serve: the JSON API answers as predict.py does, refuses bad uploads with clear messages, answers 20
concurrent requests, and the page works in a real headless browser (Debian's chromium + chromedriver)."""
from __future__ import annotations

import csv
import shutil
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.jpg"))
OUT = REPO / "bench" / "out"


@pytest.fixture(scope="module")
def service():
    from ecgcls.serve import Service

    s = Service(model="both", rhythm="rhythm", workers=2, max_mb=5)
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(service):
    from fastapi.testclient import TestClient

    from ecgcls.serve import create_app

    with TestClient(create_app(service)) as c:
        yield c


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """predict.py's rows for the example pictures (model=both, the default rhythm bundle)."""
    from ecgcls.predict import run_predict

    out = tmp_path_factory.mktemp("ref") / "preds.csv"
    run_predict(str(REPO / "examples"), str(out), model="both", rhythm="rhythm", workers=1)
    with open(out) as fh:
        return {Path(r["path"]).name: r for r in csv.DictReader(fh)}


def _png_header(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h pixels (a decompression bomb's signature), with one tiny IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def test_api_answers_as_predict_py(client, reference):
    name = EXAMPLES[0].name
    r = client.post("/api/predict", files={"file": (name, EXAMPLES[0].read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["file"] == name and len(j["pages"]) == 1
    row, ref = j["pages"][0]["row"], reference[name]
    for k, v in ref.items():
        if k != "path":
            assert row[k] == v, (k, row[k], v)  # same probabilities, labels, status, layout
    assert row["path"] == name and "upload-" not in r.text  # the server's file name never shows
    rec = j["pages"][0]["record"]
    assert rec["measurements"]["global"]["hr_bpm"] > 0 and set(rec["evidence"]) >= {"NORM", "AFIB"}


def test_api_images_and_report(client, service):
    r = client.post("/api/predict?images=1&report=1",
                    files={"file": ("a.jpg", EXAMPLES[-1].read_bytes(), "image/jpeg")})
    page = r.json()["pages"][0]
    assert page["overlay"].startswith("data:image/jpeg;base64,")
    labels = page["row"]["labels"].split(";")
    assert set(page["attribution"]) <= set(page["row"]) | set(labels) and page["attribution"]
    assert "<script" not in page["report_html"] and "ECG picture report" in page["report_html"]
    assert not list(service.reports.glob("*"))  # nothing of the upload is left behind


@pytest.mark.parametrize("name,content,status,message", [
    ("empty.png", b"", 400, "empty"),
    ("notes.png", b"just some text, renamed to .png\n" * 20, 415, "not a picture or PDF"),
    ("bomb.png", _png_header(100_000, 100_000), 413, "megapixels"),
    ("big.jpg", b"\xff\xd8\xff" + b"\x00" * (6 * 1024 * 1024), 413, "larger than 5 MB"),
])
def test_bad_uploads_are_refused_clearly(client, name, content, status, message):
    r = client.post("/api/predict", files={"file": (name, content, "application/octet-stream")})
    assert r.status_code == status and message in r.json()["error"]
    assert "Traceback" not in r.text


def test_truncated_picture_and_empty_pdf(client, tmp_path):
    trunc = EXAMPLES[0].read_bytes()[:3000]
    r = client.post("/api/predict", files={"file": ("cut.jpg", trunc, "image/jpeg")})
    assert r.status_code == 200 and r.json()["pages"][0]["row"]["status"] == "error"
    assert "truncated" in r.json()["pages"][0]["row"]["error"] and "cut.jpg" in r.json()["pages"][0]["row"]["error"]
    from pypdf import PdfWriter

    w = PdfWriter()
    w.write(tmp_path / "none.pdf")
    r = client.post("/api/predict", files={"file": ("none.pdf", (tmp_path / "none.pdf").read_bytes(), "application/pdf")})
    assert r.status_code == 400 and r.json()["error"] == "PDF has no pages"


def test_multipage_pdf_has_each_pages_pictures(client, service, tmp_path):
    from PIL import Image

    ims = [Image.open(p).convert("RGB") for p in EXAMPLES[:2]]
    ims[0].save(tmp_path / "two.pdf", save_all=True, append_images=ims[1:], resolution=200)
    r = client.post("/api/predict?images=1", files={"file": ("two.pdf", (tmp_path / "two.pdf").read_bytes(),
                                                              "application/pdf")})
    pages = r.json()["pages"]
    assert [p["row"]["path"] for p in pages] == ["two.pdf#page=1", "two.pdf#page=2"]
    assert all(p["overlay"].startswith("data:image/jpeg") for p in pages) and pages[0]["overlay"] != pages[1]["overlay"]
    assert not list(service.reports.glob("*"))


@pytest.fixture(scope="module")
def server(service):
    """The app on a real local port (uvicorn in a thread)."""
    from ecgcls.serve import serving

    with serving(service) as url:
        yield url


def test_twenty_concurrent_requests(server, reference):
    import httpx

    files = [EXAMPLES[i % len(EXAMPLES)] for i in range(20)]

    def post(p: Path):
        with httpx.Client(timeout=600) as c:
            return p.name, c.post(f"{server}/api/predict", files={"file": (p.name, p.read_bytes(), "image/jpeg")})

    with ThreadPoolExecutor(20) as ex:
        answers = list(ex.map(post, files))
    assert len(answers) == 20
    for name, r in answers:
        assert r.status_code == 200
        assert r.json()["pages"][0]["row"]["p_NORM"] == reference[name]["p_NORM"]


def _browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/install.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,2200"):
        opts.add_argument(a)
    return webdriver.Chrome(service=DriverService(executable_path=driver), options=opts)


def test_page_in_a_headless_browser(server, reference, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bad = tmp_path / "notes.png"
    bad.write_text("not a picture\n" * 10)
    drv = _browser()
    try:
        drv.get(server + "/")
        assert "ecgcls" in drv.title
        drv.find_element(By.ID, "picker").send_keys("\n".join(str(p) for p in [*EXAMPLES, bad]))
        WebDriverWait(drv, 600).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".file[data-state]")) == 5)
        boxes = {b.get_attribute("data-name"): b for b in drv.find_elements(By.CSS_SELECTOR, ".file")}
        assert "not a picture or PDF" in boxes["notes.png"].text
        for p in EXAMPLES:
            box = boxes[p.name]
            assert box.get_attribute("data-state") == "done"
            shown = {tr.get_attribute("data-class"): tr.find_element(By.CSS_SELECTOR, "td.p").text
                     for tr in box.find_elements(By.CSS_SELECTOR, "tr[data-class]")}
            assert shown == {c: reference[p.name][f"p_{c}"] for c in shown}
            assert box.find_element(By.CSS_SELECTOR, "img.overlay").get_attribute("naturalWidth") != "0"
        OUT.mkdir(exist_ok=True)
        drv.save_screenshot(str(OUT / "serve_page.png"))
    finally:
        drv.quit()
