"""Digitizer — What the digitizer accepts and refuses: picture files, PDFs, EXIF rotation, the command line, pictures
that are not ECGs."""
import subprocess
import sys

from PIL import Image
import numpy as np
import pytest

from ecgcls.digitize import DigitizeError, ImageError, digitize, load_image, load_pages
from ecgcls.render import RenderConfig, render

from digitize_helpers import FS
from digitize_helpers import sig  # noqa: F401 (fixtures)


def test_not_an_ecg_is_rejected():
    rng = np.random.default_rng(0)
    img = np.full((600, 800, 3), 255, np.uint8)
    img[200:400, 300:500] = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)  # a noise block, no trace rows
    with pytest.raises(DigitizeError):
        digitize(img)


def _exif_rotate_270():
    ex = Image.Exif()
    ex[0x0112] = 8  # orientation: rotate 90 CW to view -> undoes the 90 CCW rotation above
    return ex


# ---- picture loading ------------------------------------------------------------------------------
def test_loader_handles_unusual_but_valid_pictures(tmp_path, sig):
    page = render(sig, FS, RenderConfig(layout="3x4", dpi=100), rng=0)
    im = Image.fromarray(page.image)
    im.convert("CMYK").save(tmp_path / "cmyk.jpg")
    im.convert("P").save(tmp_path / "palette.png")
    im.convert("RGBA").save(tmp_path / "alpha.png")
    Image.fromarray((np.asarray(im.convert("L")).astype(np.uint16) * 257)).save(tmp_path / "gray16.png")
    im.rotate(90, expand=True).save(tmp_path / "exif.jpg", exif=_exif_rotate_270())
    frames = [im, Image.new("RGB", im.size, "white")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    for name in ["cmyk.jpg", "palette.png", "alpha.png", "gray16.png", "anim.gif"]:
        arr = load_image(tmp_path / name)
        assert arr.shape == page.image.shape and arr.dtype == np.uint8, name
    assert load_image(tmp_path / "exif.jpg").shape == page.image.shape  # EXIF orientation honoured


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"not an image at all", "not a readable image"),
                                           (None, "too small"), ("blank", "blank")])
def test_loader_errors(tmp_path, content, match):
    p = tmp_path / "x.png"
    if content is None:
        Image.new("RGB", (1, 1)).save(p)
    elif content == "blank":
        Image.new("RGB", (800, 600), "white").save(p)
    else:
        p.write_bytes(content)
    with pytest.raises(ImageError, match=match):
        load_image(p)


def test_truncated_png(tmp_path, sig):
    page = render(sig, FS, RenderConfig(layout="3x4", dpi=100), rng=0)
    p = tmp_path / "t.png"
    Image.fromarray(page.image).save(p)
    p.write_bytes(p.read_bytes()[:2000])
    with pytest.raises(ImageError, match="truncated|corrupt"):
        load_image(p)


def test_pdf_pages(tmp_path, sig):
    page = render(sig, FS, RenderConfig(layout="3x4", dpi=100), rng=0)
    im = Image.fromarray(page.image)
    im.save(tmp_path / "two.pdf", save_all=True, append_images=[im], resolution=100.0)
    pages = list(load_pages(tmp_path / "two.pdf", dpi=100))
    assert [n.split("#")[1] for n, _ in pages] == ["page=1", "page=2"]
    assert abs(pages[0][1].shape[1] - page.image.shape[1]) < 10


def test_cli_batch_with_a_bad_file(tmp_path, sig):
    page = render(sig, FS, RenderConfig(layout="6x2"), rng=0)
    Image.fromarray(page.image).save(tmp_path / "good.png")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8junk")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "ecgcls.cli", "digitize", str(tmp_path), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "1 failed" in proc.stdout and "bad.jpg" in proc.stderr
    lines = (out / "good.csv").read_text().splitlines()
    assert lines[0] == "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6" and len(lines) == 5001
    assert ",," in lines[2500]  # 6x2: limb leads end at 5 s -> empty cells
    assert (out / "good_overlay.png").is_file()
    summary = (out / "summary.csv").read_text()
    assert "ok" in summary and "error" in summary


def test_password_protected_pdf_is_refused_clearly(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    Image.fromarray(np.full((200, 300, 3), 255, np.uint8)).save(tmp_path / "plain.pdf")
    w = pypdf.PdfWriter(clone_from=str(tmp_path / "plain.pdf"))
    w.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")  # RC4: no extra dependency
    w.write(str(tmp_path / "locked.pdf"))
    with pytest.raises(ImageError, match="password-protected"):
        load_image(tmp_path / "locked.pdf")
