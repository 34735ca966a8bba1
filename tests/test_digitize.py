"""Digitizer: render pages with known truth, read them back, and check what comes out."""
import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ecgcls.digitize import DigitizeError, ImageError, digitize, load_image, load_pages
from ecgcls.metrics import lead_snr, signal_snr
from ecgcls.render import RenderConfig, render

from test_render import synthetic_ecg

FS = 500


@pytest.fixture(scope="module")
def sig():
    return synthetic_ecg(1)


def _snr(page, d, sig):
    ref = np.where(page.layout.coverage(FS, sig.shape[1]), sig, np.nan)
    return signal_snr(ref, d.record.signal, FS)[0]


def crop_width(page, keep: float):
    """``page`` with its picture cut to its left ``keep`` of the width (a scan or photo that lost its right margin)."""
    return dataclasses.replace(page, image=np.ascontiguousarray(page.image[:, : int(page.image.shape[1] * keep)]))


@pytest.mark.parametrize("layout", ["3x4", "3x4+II", "3x4+3", "6x2", "12x1", "cabrera", "cabrera+II"])
def test_layout_detected_and_signal_recovered(sig, layout):
    page = render(sig, FS, RenderConfig(layout=layout), rng=2)
    d = digitize(page.image)
    assert d.layout == layout, d.layout_scores
    assert d.px_per_mm[0] == pytest.approx(page.geometry.px_per_mm, rel=0.003)
    assert d.scale_method == "grid" and d.gain_mm_mv == 10.0
    assert d.record.signal.shape == (12, 5000)
    cov = page.layout.coverage(FS, 5000)
    # nothing invented where nothing was printed
    assert not np.isfinite(d.record.signal[~cov]).any()
    assert _snr(page, d, sig) > 12.0


def test_gain_from_calibration_pulse(sig):
    page = render(sig, FS, RenderConfig(layout="3x4+II", gain_mm_mv=20.0), rng=3)
    d = digitize(page.image)
    assert d.gain_mm_mv == 20.0
    assert _snr(page, d, sig) > 10.0


def test_rotated_scan(sig):
    page = render(sig, FS, RenderConfig(layout="6x2", artifacts=("rotation", "noise")), rng=4)
    d = digitize(page.image)
    assert abs(d.rotation_deg) > 0.2 and d.layout == "6x2"
    assert _snr(page, d, sig) > 8.0


def test_phone_photo(sig):
    page = render(sig, FS, RenderConfig(layout="3x4+II", artifacts=("photo",)), rng=5)
    d = digitize(page.image)
    assert d.rectified and d.layout == "3x4+II"
    assert _snr(page, d, sig) > 6.0


def test_not_an_ecg_is_rejected():
    rng = np.random.default_rng(0)
    img = np.full((600, 800, 3), 255, np.uint8)
    img[200:400, 300:500] = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)  # a noise block, no trace rows
    with pytest.raises(DigitizeError):
        digitize(img)


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


def _exif_rotate_270():
    ex = Image.Exif()
    ex[0x0112] = 8  # orientation: rotate 90 CW to view -> undoes the 90 CCW rotation above
    return ex


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


def _best_lag(ref: np.ndarray, est: np.ndarray, max_lag: int = 100) -> int:
    """Lag (samples) that best aligns est to ref where both exist (offset removed)."""
    best = None
    for lag in range(-max_lag, max_lag + 1):
        b = np.roll(est, lag)
        ok = np.isfinite(ref) & np.isfinite(b)
        e = b[ok] - ref[ok]
        v = np.mean((e - e.mean()) ** 2)
        if best is None or v < best[0]:
            best = (v, lag)
    return best[1]


def test_time_origin_with_a_beat_right_after_the_pulse():
    """A QRS printed just after the calibration pulse must not be taken for the pulse's falling edge."""
    sig = synthetic_ecg(3)
    t = np.arange(sig.shape[1]) / FS
    spike = np.exp(-((t - 0.03) / 0.012) ** 2) + np.exp(-((t - 2.53) / 0.012) ** 2)
    I, II = sig[0] + 0.8 * spike, sig[1] + 1.2 * spike  # a beat in each column's first 0.05 s
    sig = np.stack([I, II, II - I, -(I + II) / 2, I - II / 2, II - I / 2, *(sig[6:] + 1.2 * spike)])
    sig = sig.astype(np.float32)  # limb leads stay consistent (Einthoven, Goldberger)
    page = render(sig, FS, RenderConfig(layout="3x4"), rng=7)
    d = digitize(page.image)
    ref = np.where(page.layout.coverage(FS, sig.shape[1]), sig, np.nan)
    lags = [_best_lag(ref[i], d.record.signal[i]) for i in range(12)]
    assert max(abs(lag) for lag in lags) <= 4, lags  # ≤ 8 ms: about one pixel column at 200 DPI
    assert d.start_times["I"] == pytest.approx(0.0, abs=0.03)


@pytest.mark.parametrize("layout", ["3x4", "6x2"])
def test_qrs_apices_survive(sig, layout):
    """Tall narrow spikes keep their amplitude (the apex is where the pen's up- and down-strokes meet)."""
    page = render(sig, FS, RenderConfig(layout=layout), rng=8)
    d = digitize(page.image)
    cov = page.layout.coverage(FS, sig.shape[1])
    for i in range(12):
        ref, est = sig[i][cov[i]], d.record.signal[i][cov[i]]
        ok = np.isfinite(est)
        amp_ref = np.ptp(ref[ok])
        amp_est = np.ptp(est[ok])
        assert amp_est == pytest.approx(amp_ref, rel=0.06), (i, amp_ref, amp_est)


def test_column_runs_and_bridging():
    from ecgcls.digitize.trace import column_runs

    a = np.zeros((12, 3), bool)
    a[1:3, 0] = a[4:6, 0] = a[9:11, 0] = True  # column 0: runs 1-3, 4-6 (1 px gap), 9-11
    a[2:5, 1] = True
    a[0, 2] = a[3, 2] = True  # column 2: two 1-px runs, 2 px apart
    sc, sy, ey = column_runs(a)
    assert sc.tolist() == [0, 0, 0, 1, 2, 2] and sy.tolist() == [1, 4, 9, 2, 0, 3] and ey.tolist() == [3, 6, 11, 5, 1, 4]
    sc, sy, ey = column_runs(a, bridge=2)
    assert sc.tolist() == [0, 0, 1, 2] and sy.tolist() == [1, 9, 2, 0] and ey.tolist() == [6, 11, 5, 4]
    assert [x.size for x in column_runs(np.zeros((5, 4), bool))] == [0, 0, 0]


def _runs_by_hand(band: np.ndarray, bridge: int) -> list[list[int]]:
    """column_runs' contract walked pixel by pixel: [col, y0, y1) runs, column-major, gaps <= bridge merged."""
    out: list[list[int]] = []
    for x in range(band.shape[1]):
        last = None
        for y in range(band.shape[0]):
            if not band[y, x]:
                continue
            if last is not None and y - last - 1 <= bridge:  # touching, or a gap of at most bridge px
                out[-1][2] = y + 1
            else:
                out.append([x, y, y + 1])
            last = y
    return out


@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (0, 4), (4, 0), (37, 53), (300, 7)])
def test_column_runs_equal_a_pixel_walk_on_any_band(shape):
    """The compiled scan (on the band transposed once) gives the runs a pixel-by-pixel walk gives, on strided
    views and non-bool bands too."""
    from ecgcls.digitize.trace import column_runs

    rng = np.random.default_rng(sum(shape))
    band = rng.random((shape[0], 2 * shape[1])) < 0.3
    for view in (band[:, ::2], band[:, ::2].astype(np.uint8) * 255):
        for bridge in (0, 2):
            got = [list(map(int, t)) for t in zip(*column_runs(view, bridge))]
            assert got == _runs_by_hand(view.astype(bool), bridge), (shape, view.dtype, bridge)


def test_spike_apex_is_kept_where_its_strokes_part():
    """The column between a spike's up- and down-strokes holds the apex run and, lower down, a speck (an
    anti-aliased pixel between the strokes, nearer the baseline): the Viterbi path takes the speck, the column
    still reads the apex."""
    import cv2

    from ecgcls.digitize.trace import follow_trace

    img = np.zeros((60, 21), np.uint8)
    cv2.polylines(img, [np.array([(0, 41), (8, 41), (10, 10), (12, 41), (20, 41)], np.int32)], False, 255, 2)
    band = img > 0
    band[16:40, 10] = False  # the strokes part below the apex...
    band[30, 10] = True  # ...leaving a speck between them
    _, _, plain = follow_trace(band, 41.0, 60.0, merge_touching=False)
    top, _, val = follow_trace(band, 41.0, 60.0)
    assert plain[10] > 25  # the path alone reads the speck: the apex is lost
    assert top[10] <= 10 and val[10] == pytest.approx(10.0, abs=1.0)


@pytest.mark.parametrize("width", [1, 2, 3])
def test_steep_strokes_are_read_across_the_pixel_rows(width):
    """A QRS printed as at 200 DPI (500 Hz samples every 0.39 px, R 79 px tall, sub-pixel anti-aliased strokes of
    OpenCV width 1-3): on the columns where the stroke is steep, the rows' edges read the trace's y at the column's
    centre far better than the middle of the column's run."""
    import cv2

    from ecgcls.digitize.trace import column_values, follow_trace

    for shift in (0.0, 0.3, 0.6):  # where the samples fall within the columns
        x = np.arange(0, 60, 0.3937) + shift
        bump = lambda c, s, a: a * np.exp(-0.5 * ((x - c) / s) ** 2)  # noqa: E731
        y = 90 - bump(27.0, 2.2, 79) + bump(23.0, 1.2, 8) + bump(31.5, 1.6, 22)  # q, R, S (px, y down)
        img = np.zeros((130, 61), np.uint8)
        cv2.polylines(img, [np.round(np.c_[x, y] * 16).astype(np.int32)], False, 255, width, cv2.LINE_AA, shift=4)
        dark = img / 255.0
        truth = np.interp(np.arange(61), x, y)
        top, bot, val = follow_trace(dark > 0.35, 90.0, 60.0, dark_band=dark)
        steep = (bot - top + 1) > 7.5
        assert steep.sum() >= 10
        rms = lambda v: float(np.sqrt(np.mean((v - truth)[steep] ** 2)))  # noqa: E731
        middle, rows = rms(column_values(top, bot)), rms(val)
        if width < 3:
            assert rows < 0.5 * middle and rows < 1.6
        else:  # a pen wider than the strokes' gap merges them: still better
            assert rows < 0.85 * middle


def test_column_interp_keeps_apices_between_columns():
    """Columns every 1 px sample a narrow peak; between columns Akima stays nearer the true curve than straight
    lines, never rings past a gap, and gives NaN where nothing was read."""
    from ecgcls.digitize.layout import column_interp

    f = lambda x: 40.0 * np.exp(-0.5 * ((x - 20.3) / 1.5) ** 2)  # noqa: E731 - a QRS-like apex, px
    col = np.arange(40, dtype=float)
    y = f(col)
    y[30:32] = np.nan  # a gap of two columns
    xs = np.linspace(0, 39, 400)
    lin, ak = column_interp(xs, col, y, "linear"), column_interp(xs, col, y)
    inside = (xs > 10) & (xs < 29)
    assert np.abs(ak - f(xs))[inside].max() < 0.5 * np.abs(lin - f(xs))[inside].max()
    gap = (xs > 29) & (xs < 32)
    np.testing.assert_allclose(ak[gap], lin[gap])  # straight across the gap, as before
    assert np.isnan(column_interp(np.array([-1.0, 40.0]), col, y)).all()
    with pytest.raises(ValueError, match="akima"):
        column_interp(xs, col, y, "cubic")


def test_password_protected_pdf_is_refused_clearly(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    Image.fromarray(np.full((200, 300, 3), 255, np.uint8)).save(tmp_path / "plain.pdf")
    w = pypdf.PdfWriter(clone_from=str(tmp_path / "plain.pdf"))
    w.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")  # RC4: no extra dependency
    w.write(str(tmp_path / "locked.pdf"))
    with pytest.raises(ImageError, match="password-protected"):
        load_image(tmp_path / "locked.pdf")


def test_no_sheet_found_on_a_scan(sig):
    """A scan (paper to the edges) must not be 'rectified' to its ink-dense middle."""
    from ecgcls.digitize.grid import find_page_quad

    page = render(sig, FS, RenderConfig(layout="12x1"), rng=3)
    assert find_page_quad(page.image) is None
    photo = render(sig, FS, RenderConfig(layout="12x1", artifacts=("perspective",)), rng=3)
    ph, pw = photo.geometry.page_size_px  # the sheet is found where it lies
    truth = photo.geometry.to_image(np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], float))
    assert np.abs(find_page_quad(photo.image) - truth).max() < 4.0


@pytest.mark.parametrize("paper, crop, method", [("a4", False, "page_size+calibration"),
                                                 ("letter", True, "calibration")])
def test_scale_from_calibration_pulses_without_a_grid(sig, paper, crop, method):
    """No grid: the pulses (0.2 s × 1 mV) are the ruler — they pick the paper size, or are the scale
    themselves when the picture is cropped."""
    page = render(sig, FS, RenderConfig(layout="3x4", grid="none", paper=paper), rng=4)
    if crop:
        page = crop_width(page, 0.93)
    d = digitize(page.image)
    assert d.scale_method == method
    assert d.px_per_mm[0] == pytest.approx(page.geometry.px_per_mm, rel=0.02)
    assert d.gain_mm_mv == 10.0 and d.layout == "3x4"
    if not crop:
        assert _snr(page, d, sig) > 15.0


def test_without_a_grid_full_rows_are_the_ruler(sig):
    """A gridless page whose picture lost some of its margin (cropped to 97 % of its width, the rows intact) is no
    longer its paper's size, and its 5 mm pulses measure the scale to only ~0.3 %: the rows' 10 s set it to
    0.1 % (SNR 15.2 dB with the pulses alone, before)."""
    page = render(sig, FS, RenderConfig(layout="3x4", grid="none", paper="letter"), rng=4)
    page = crop_width(page, 0.97)
    d = digitize(page.image)
    assert d.scale_method == "calibration+rows"
    assert d.px_per_mm[0] == pytest.approx(page.geometry.px_per_mm, rel=0.002)
    assert _snr(page, d, sig) > 18.0


def test_ten_second_rows_set_the_scale_only_where_nothing_better_did():
    from ecgcls.digitize.pipeline import _ten_second_rows
    from ecgcls.digitize.stages import Scale

    ten_s = (10.0 - 1 / 500) * 25.0 * 8.0  # px that 10 s of rows span at 8 px/mm, 25 mm/s
    got = _ten_second_rows(Scale(8.1, 7.9, "calibration"), ten_s, 50.0, 25.0, 500.0)
    assert (got.ppm_x, got.ppm_y, got.method) == (pytest.approx(8.0), 7.9, "calibration+rows")  # pulses' height kept
    got = _ten_second_rows(Scale(8.1, 8.1, "page_size"), ten_s, 50.0, 25.0, 500.0)
    assert (got.ppm_x, got.ppm_y, got.method) == (pytest.approx(8.0), pytest.approx(8.0), "page_size+rows")
    for kept in (Scale(8.1, 8.1, "grid"),                 # a measured grid is better
                 Scale(8.01, 8.01, "page_size")):         # the page's size agrees: an uncropped page
        assert _ten_second_rows(kept, ten_s, 50.0, 25.0, 500.0) is kept
    assert _ten_second_rows(Scale(8.1, 8.1, "page_size"), ten_s, 3.0, 25.0, 500.0).method == "page_size"  # cut rows
    assert _ten_second_rows(Scale(8.5, 8.5, "page_size"), ten_s, 50.0, 25.0, 500.0).method == "page_size"  # not 10 s
    # rows that would last 22 s: no 12-lead page prints that, the scale was misread — even a measured grid's; both
    # axes follow the rows (square pixels), a pulse's height stays
    got = _ten_second_rows(Scale(3.6, 3.6, "grid", 0.8), ten_s, 50.0, 25.0, 500.0)
    assert (got.ppm_x, got.ppm_y, got.method) == (pytest.approx(8.0), pytest.approx(8.0), "grid+rows")
    got = _ten_second_rows(Scale(5.0, 7.9, "calibration"), ten_s, 3.0, 25.0, 500.0)  # rows cut at the edge: still
    assert (got.ppm_x, got.ppm_y, got.method) == (pytest.approx(8.0), 7.9, "calibration+rows")
    assert _ten_second_rows(Scale(7.7, 7.7, "grid"), ten_s, 50.0, 25.0, 500.0).method == "grid"  # 10.4 s: kept


def test_a_misread_grid_is_caught_by_the_rows(sig, monkeypatch):
    """A grid period misread as twice its pitch (a dotted minor grid, text) would make the rows of a 3×4 page last
    20 s; the rows' 10 s set the scale instead. (Printed without pulses: with them, the misread grid would make the
    pulses 10 mm wide and 20 mm tall, a 50 mm/s page at 20 mm/mV that reads the same samples.) The rows are then
    found and traced again at the corrected scale: a row's band and the rows' spacing are set in mm, and at the
    misread scale a faint row can be lost (a real picture's middle row was)."""
    import ecgcls.digitize.pipeline as P

    page = render(sig, FS, RenderConfig(layout="3x4", calibration=False), rng=4)
    true = page.geometry.px_per_mm
    monkeypatch.setattr(P, "grid_spacing", lambda *a, **k: (true / 2, true / 2, 0.8))
    seen, find = [], P.find_trace_rows
    monkeypatch.setattr(P, "find_trace_rows", lambda ink, sc, *a, **k: seen.append(sc.ppm_y) or find(ink, sc, *a, **k))
    d = digitize(page.image)
    assert d.scale_method == "grid+rows"
    assert seen[0] == pytest.approx(true / 2, rel=0.01) and seen[-1] == pytest.approx(true, rel=0.01)
    assert len(d.rows) == 3
    assert d.px_per_mm[0] == pytest.approx(true, rel=0.01) and d.px_per_mm[1] == pytest.approx(true, rel=0.01)
    assert _snr(page, d, sig) > 15.0

    first = P._rows_at  # where the second look finds no rows, the first reading stands (the page is not refused)

    def no_rows_when_rescaled(ink, dark, sc, *a):
        if sc.method != "grid":
            raise P.DigitizeError("no rows")
        return first(ink, dark, sc, *a)

    monkeypatch.setattr(P, "_rows_at", no_rows_when_rescaled)
    again = digitize(page.image)
    assert again.scale_method == "grid+rows" and len(again.rows) == 3


def test_clean_ink_drops_specks_even_when_there_are_very_many():
    from ecgcls.digitize.grid import clean_ink

    a = np.zeros((1000, 1000), bool)
    a[::2, ::2] = True  # 250,000 one-pixel specks: more components than 16-bit labels hold
    a[300:302, 100:400] = True  # a stroke
    out = clean_ink(a, 8.0)
    assert out[300:302, 110:390].all()
    assert not out[600:, :].any()


@pytest.mark.parametrize("layout", ["3x4+II", "cabrera"])
def test_to_picture_maps_lead_time_back_onto_the_page(sig, layout):
    """The placement the digitizer reports puts each lead's samples where the renderer drew them (the channel by
    which attribution and fiducials are drawn on the picture)."""
    page = render(sig, FS, RenderConfig(layout=layout), rng=2)
    d = digitize(page.image)
    twice = {s.lead for s in page.segments if s.row in page.layout.rhythm_rows}
    for s in page.segments:
        if s.lead in twice:  # its reading averages column and strip (each centred on its own median)
            continue
        idx = np.arange(0, len(s.xy), 25)
        t = (s.start + idx) / s.fs
        read = d.record.signal[s.lead_idx, np.round(t * d.record.fs).astype(int)]  # what the digitizer read there
        x, y = d.to_picture(s.lead, t, read)
        assert np.isfinite(x).mean() > 0.9
        ok = np.isfinite(x) & np.isfinite(read)
        err = np.abs(np.stack([x[ok], y[ok]], 1) - s.xy[idx][ok])
        assert err[:, 0].mean() < 2.0 and err[:, 1].mean() < 4.0, (s.lead, err.mean(0))
    x, _ = d.to_picture("V1", np.array([-1.0, 11.0]))
    assert np.isnan(x).all()  # outside the printed timeline: nowhere on the page
