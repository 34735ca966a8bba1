"""Digitizer — Scale and time: calibration pulses, paper speed and gain, rows as the ruler, where a trace starts."""
import numpy as np
import pytest

from ecgcls.digitize import digitize
from ecgcls.digitize.pipeline import read_pulses
from ecgcls.render import RenderConfig, render

from digitize_helpers import FS, _snr, crop_width
from digitize_helpers import sig, sig3  # noqa: F401 (fixtures)


def test_paper_speed_read_from_the_pulses(sig3):
    page = render(sig3, FS, RenderConfig(layout="3x4", speed_mm_s=50.0), rng=6)
    d = digitize(page.image)
    assert d.speed_mm_s == 50.0
    assert _snr(page, d, sig3) > 10.0
    assert digitize(page.image, speed_mm_s=25.0).speed_mm_s == 25.0  # a stated speed is kept


@pytest.mark.parametrize("width_mm, speed", [(5.0, 25.0), (10.0, 50.0), (7.2, 25.0)])
def test_pulse_width_sets_the_speed_only_when_it_fits_one(width_mm, speed):
    """On a strong grid a 5 mm pulse is 25 mm/s and a 10 mm one 50 mm/s; a 7 mm one (cut by the picture's edge, or
    run into the trace's start, as on a real 25 mm/s printout read at 50 before) says nothing: 25 mm/s, or the
    stated speed."""
    from ecgcls.digitize.stages import RowTrace, Scale

    ppm = 4.0
    scale = Scale(ppm, ppm, "grid", 0.8)
    traces = [RowTrace(100.0 * (i + 1), np.arange(10.0), np.zeros(10), 0.0, 9.0, 10.0, 0.0,
                       (width_mm * ppm, 10.0 * ppm)) for i in range(3)]
    p, got = read_pulses(traces, scale, 1100)
    assert p.speed_mm_s == speed and got == scale
    assert read_pulses(traces, scale, 1100, speed_mm_s=50.0)[0].speed_mm_s == 50.0


@pytest.mark.parametrize("heights_mm, width_mm, n, gain, speed", [
    ((10.0, 10.2, 9.8, 10.1, 5.1, 9.9), 5.0, 5, 10.0, 25.0),  # one stray "pulse" among the page's own: left out
    ((11.9, 9.3, 4.7), 10.7, 0, 10.0, 25.0),                   # none agree: no pulses (speed and gain default)
    ((5.0, 5.1, 4.9), 10.0, 3, 5.0, 50.0)])                    # a 5 mm/mV page: its pulses set the gain and speed
def test_calibration_pulses_of_one_page_share_one_height(heights_mm, width_mm, n, gain, speed):
    """A page prints every calibration pulse at one height; rows that start on a QRS complex or a T wave give
    "pulses" of every height (a 25 mm/s limb-lead page without pulses was read as 6x2 at 50 mm/s and 5 mm/mV)."""
    from ecgcls.digitize.stages import RowTrace, Scale

    ppm = 4.0
    scale = Scale(ppm, ppm, "grid", 0.8)
    traces = [RowTrace(100.0 * (i + 1), np.arange(10.0), np.zeros(10), 0.0, 9.0, h, 0.0, (width_mm * ppm, h * ppm))
              for i, h in enumerate(heights_mm)]
    p, _ = read_pulses(traces, scale, 1100)
    assert (p.n_rows_with_pulse, p.gain_mm_mv, p.speed_mm_s) == (n, gain, speed)


def _row_with_end(end: str, ppm: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """(top, bot) column extents of a synthetic trace row (baseline y=100, pen 2 px): beats every 20 mm, then
    ``end``: 'pulse' (a 10 mm x 5 mm rectangle 1 mm after the trace), 'qrs' (a beat ending the row) or 'flat'."""
    w = int(120 * ppm)
    top = np.full(w, 99.0)
    bot = np.full(w, 101.0)
    stop = int(100 * ppm)
    for x in range(int(10 * ppm), stop - int(4 * ppm), int(20 * ppm)):  # QRS: up 12 mm and back within 1 mm
        top[x:x + int(ppm)] = 100 - 12 * ppm
    if end == "qrs":
        top[stop - int(ppm):stop] = 100 - 12 * ppm
        top[stop - int(7 * ppm):stop - int(6 * ppm)] = 100 - 12 * ppm
    top[stop:], bot[stop:] = np.nan, np.nan
    if end == "pulse":
        a, b = stop + int(ppm), stop + int(6 * ppm)
        top[a:b + 1], bot[a:b + 1] = 99 - 10 * ppm, 101 - 10 * ppm
        top[a:a + 2] = top[b - 1:b + 1] = 99 - 10 * ppm
        bot[a:a + 2] = bot[b - 1:b + 1] = 101.0
    return top, bot


def test_a_pulse_printed_after_the_trace_is_cut_and_a_closing_beat_is_not():
    from ecgcls.digitize.pipeline import _end_pulse

    top, bot = _row_with_end("pulse")
    assert _end_pulse(top, bot, 8.0, 8.0, None) == int(101 * 8.0)  # where the rectangle's rising edge is
    assert _end_pulse(top, bot, 8.0, 8.0, (40.0, 80.0)) == int(101 * 8.0)  # like the row's start pulse
    assert _end_pulse(top, bot, 8.0, 8.0, (80.0, 160.0)) is None  # unlike it: not a calibration pulse
    for end in ("qrs", "flat"):
        assert _end_pulse(*_row_with_end(end), 8.0, 8.0, None) is None
    t, b = _row_with_end("pulse")
    t[int(103 * 8.0)] += 20  # a dip in the roof: not a rectangle
    assert _end_pulse(t, b, 8.0, 8.0, None) is None


def test_a_lone_stroke_before_the_start_pulse_is_no_rising_edge():
    """A frame or separator line printed a few mm before the row's pulse (nothing traced between them) is not
    the pulse's rising edge: the pulse is read from its own edges (5 mm wide, 10 mm tall at 8 px/mm)."""
    from ecgcls.digitize.pipeline import _calibration

    ppm = 8.0
    w = int(60 * ppm)
    top, bot = np.full(w, np.nan), np.full(w, np.nan)
    a, b = int(9 * ppm), int(14 * ppm)  # the pulse: rising edge at 9 mm, falling edge at 14 mm
    top[a:b + 1], bot[a:b + 1] = 99 - 10 * ppm, 101 - 10 * ppm  # its roof
    top[a:a + 2] = top[b - 1:b + 1] = 99 - 10 * ppm
    bot[a:a + 2] = bot[b - 1:b + 1] = 101.0
    start = int(15 * ppm)
    top[start:], bot[start:] = 99.0, 101.0  # the trace after a 1 mm gap
    want_gain, want_start, want_size = _calibration(top, bot, ppm, ppm, None)
    top[0:2], bot[0:2] = 100 - 30 * ppm, 101.0  # a frame line 9 mm before the pulse, 30 mm tall
    gain, x_start, size = _calibration(top, bot, ppm, ppm, None)
    assert want_gain == pytest.approx(10.0, rel=0.05) and want_size[0] == pytest.approx(5 * ppm, abs=2)
    assert (gain, x_start, size) == (want_gain, want_start, want_size)


@pytest.mark.parametrize("roof_mm, edge_mm, shift_mm, want", [(10, 10, 0, 10.0), (10, 5.5, 0, 10.0), (10, 4.5, 0, 10.0),
                                                             (5, 5, 0, 5.0), (10, 10, 5, 10.0)])
def test_a_pulse_whose_edges_were_partly_lost_is_measured_from_its_roof(roof_mm, edge_mm, shift_mm, want):
    """A pulse (roof ``roof_mm`` above its foot at y 100, 5 mm wide, 8 px/mm) whose vertical strokes were traced
    only ``edge_mm`` down from the roof (the rest lost: a thin grey stroke on a photo, or one on a grid line)
    reads its gain from its roof to the level of the trace after it: 10 mm/mV from 5.5 or 4.5 mm edges. A whole
    5 mm pulse stays 5 mm/mV; where the trace runs ``shift_mm`` below the pulse's foot, so that roof and trace make
    no standard pulse (15 mm: the pulses printed off the traces' baselines), the edges' own height is kept."""
    from ecgcls.digitize.pipeline import _calibration

    ppm = 8.0
    w = int(60 * ppm)
    top, bot = np.full(w, np.nan), np.full(w, np.nan)
    roof = 100 - roof_mm * ppm
    a, b = int(9 * ppm), int(14 * ppm)
    top[a:b + 1], bot[a:b + 1] = roof - 1, roof + 1
    for c in (a, a + 1, b - 1, b):
        bot[c] = roof + 1 + edge_mm * ppm
    start = int(15 * ppm)
    top[start:], bot[start:] = 99 + shift_mm * ppm, 101 + shift_mm * ppm
    gain, _, _ = _calibration(top, bot, ppm, ppm, None)
    assert gain == pytest.approx(want, rel=0.12)


def test_a_pulse_cut_by_the_pictures_edge_keeps_its_height_not_its_width():
    """A row that starts at the picture's left edge on a pulse's roof (its rising edge cut off, as on a real
    25 mm/s printout read at 50 mm/s before: the falling edge and the first QRS passed for a 9 mm pulse) reads the
    pulse's height (the gain) and starts after its falling edge; its width is unknown (NaN) and sets no speed.
    A trace that merely starts at the edge and returns to its level after a QRS has no pulse."""
    from ecgcls.digitize.pipeline import _calibration
    from ecgcls.digitize.stages import RowTrace, Scale

    ppm = 8.0
    w = int(60 * ppm)
    top, bot = np.full(w, np.nan), np.full(w, np.nan)
    fall = int(2 * ppm)  # 2 mm of roof left of the falling edge
    top[:fall], bot[:fall] = 99 - 10 * ppm, 101 - 10 * ppm
    top[fall - 1:fall + 1], bot[fall - 1:fall + 1] = 99 - 10 * ppm, 101.0  # the falling edge, 10 mm
    top[fall + 1:], bot[fall + 1:] = 99.0, 101.0  # the trace runs on from it
    q = int(12 * ppm)  # a QRS 9 mm later: the old reading's "falling edge"
    top[q:q + 3], bot[q:q + 3] = 99 - 12 * ppm, 101.0
    gain, x_start, size = _calibration(top, bot, ppm, ppm, None)
    assert gain == pytest.approx(10.0, rel=0.05) and np.isnan(size[0]) and size[1] == pytest.approx(10 * ppm, abs=2)
    assert fall - 2 <= x_start <= fall + 2
    # rows whose pulses all lost their width read no speed from them: 25 mm/s on a strong grid
    traces = [RowTrace(100.0 * (i + 1), np.arange(10.0), np.zeros(10), 0.0, 9.0, gain, 0.0, size) for i in range(3)]
    assert read_pulses(traces, Scale(ppm, ppm, "grid", 0.8), w)[0].speed_mm_s == 25.0
    # the roof cut too short to trace: the falling edge is the first thing traced, 1.9 mm from the edge
    roofless_top, roofless_bot = top.copy(), bot.copy()
    roofless_top[:fall - 1], roofless_bot[:fall - 1] = np.nan, np.nan
    g2, start2, size2 = _calibration(roofless_top, roofless_bot, ppm, ppm, None)
    assert g2 == pytest.approx(10.0, rel=0.05) and np.isnan(size2[0]) and abs(start2 - x_start) <= 2
    # no roof: a trace starting at the edge on its baseline, one QRS, back to the same level
    top[:q], bot[:q] = 99.0, 101.0
    assert _calibration(top, bot, ppm, ppm, None)[0] is None


@pytest.mark.parametrize("thickness", [1, 2, 3])
def test_a_pulse_edge_is_placed_to_a_fraction_of_a_pixel(thickness):
    """Where the trace runs on from the pulse's falling edge, the first sample lies at that edge's stroke centre:
    the darkness-weighted centre of its columns is within 0.15 px of where an anti-aliased stroke was drawn at
    every sub-pixel offset (the mean of its tall columns, as before, is 0.25 px off at quarter-pixel offsets)."""
    import cv2

    from ecgcls.digitize.pipeline import _edge_centre

    for x in (30.0, 30.25, 30.5, 30.75):
        img = np.zeros((120, 60), np.uint8)
        p = np.round(np.array([[x, 20.0], [x, 100.0]]) * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [p], False, 255, thickness, cv2.LINE_AA, shift=4)
        dark = img / 255.0
        ink = dark > 0.5
        top = np.array([np.flatnonzero(c)[0] if c.any() else np.nan for c in ink.T], float)
        bot = np.array([np.flatnonzero(c)[-1] if c.any() else np.nan for c in ink.T], float)
        cols = np.flatnonzero(np.nan_to_num(bot - top) > 40)
        assert _edge_centre(top, bot, cols, dark) == pytest.approx(x, abs=0.15)


@pytest.mark.parametrize("pw_mm, ph_mm, guess, want", [
    (10.0, 5.0, 8.0, (50.0, 5.0)),    # twice as wide as tall: 50 mm/s at 5 mm/mV, not 25 at 10 on stretched pixels
    (5.0, 10.0, 8.0, (25.0, 10.0)),   # the usual pulse
    (10.0, 20.0, 8.0, (50.0, 20.0)),
    (5.0, 5.0, 8.0, (25.0, 5.0)),     # square: 25 mm/s at 5 mm/mV, or 50 at 10 — the px per mm nearer the guess
    (5.0, 5.0, 4.0, (50.0, 10.0)),
    (5.0, 30.0, 8.0, (25.0, 10.0))])  # no standard pair gives square pixels: the defaults
def test_a_pulse_read_without_a_grid_gives_square_pixels(pw_mm, ph_mm, guess, want):
    """Without a grid or a whole page, speed and gain come from the pulse alone (8 px/mm here): a scanner's or
    camera's pixels are square, which leaves one standard (speed, gain) pair, or two for a square pulse."""
    from ecgcls.digitize.pipeline import COMMON_GAINS, _square_pulse

    ppm = 8.0
    assert _square_pulse(pw_mm * ppm, ph_mm * ppm, (25.0, 50.0), COMMON_GAINS, guess, 25.0, 10.0) == want


def test_a_gridless_50_mm_s_page_is_read_at_its_speed_and_gain(sig3):
    """A gridless 3x4 page at 50 mm/s and 5 mm/mV, cropped (no paper size to go by): its pulses are 10 mm wide and
    5 mm tall, read before as 25 mm/s at 10 mm/mV with pixels four times taller than wide."""
    page = render(sig3, FS, RenderConfig(layout="3x4", grid="none", paper="letter", speed_mm_s=50.0, gain_mm_mv=5.0),
                  rng=4)
    page = crop_width(page, 0.93)
    d = digitize(page.image)
    assert (d.speed_mm_s, d.gain_mm_mv) == (50.0, 5.0)
    assert d.px_per_mm[0] == pytest.approx(page.geometry.px_per_mm, rel=0.03)
    assert d.px_per_mm[1] == pytest.approx(page.geometry.px_per_mm, rel=0.06)  # a 5 mm pulse's height: ±2 px
    assert _snr(page, d, sig3) > 10.0


def test_a_pulse_cut_by_the_pictures_edge_is_found_at_any_resolution():
    """The ink map clears a 0.5 mm band along the picture's border (10 px at 20 px/mm), so a row cut on its pulse's
    roof is traced from 10 px in, not 2: still a cut pulse, with no width (it set a 25 mm/s speed on a 50 mm/s page
    from a 4 mm remnant)."""
    from ecgcls.digitize.grid import border_band
    from ecgcls.digitize.pipeline import _calibration

    ppm = 20.0
    w = int(60 * ppm)
    top, bot = np.full(w, np.nan), np.full(w, np.nan)
    x0, fall = border_band(ppm), int(4 * ppm)
    top[x0:fall], bot[x0:fall] = 199 - 10 * ppm, 201 - 10 * ppm  # the roof's remnant from the cleared band on
    top[fall - 1:fall + 2], bot[fall - 1:fall + 2] = 199 - 10 * ppm, 201.0  # the falling edge, 10 mm
    top[fall + 2:], bot[fall + 2:] = 199.0, 201.0
    q = int(8 * ppm)  # a QRS 4 mm after the edge
    top[q:q + 3] = 199 - 12 * ppm
    gain, x_start, size = _calibration(top, bot, ppm, ppm, None)
    assert gain == pytest.approx(10.0, rel=0.05) and np.isnan(size[0])
    assert abs(x_start - fall) <= 3


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


@pytest.mark.parametrize("dpi", [110.0, 150.0, 200.0, 300.0])
def test_first_sample_is_placed_past_the_pen_cap(sig3, dpi):
    """A lead's first sample lies where its stroke reaches full thickness, not at the pen cap's first inked
    column (1.1 px early at 200 and 300 DPI in v11), and where the trace starts on a vertical grid line, in the
    line's column, which is removed with the line (1.0-1.4 px late at 110 and 150 DPI before): every segment placed
    within half a pixel of the truth."""
    page = render(sig3, FS, RenderConfig(layout="3x4+II", dpi=dpi, artifacts=("jpeg",)), rng=1)
    d = digitize(page.image, keep_image=False)
    err = [p["x0"] - float(page.geometry.t_to_x_px(p["t0"])) for p in d.placement]
    assert len(err) == 13
    assert np.max(np.abs(err)) < 0.5, np.round(err, 2)
