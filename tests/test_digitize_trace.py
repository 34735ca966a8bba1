"""Digitizer — Following a trace: ink runs per column, QRS apices, steep strokes, rows that touch."""
import numpy as np
import pytest


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


def test_rows_sharing_an_ink_run_keep_to_their_own_side():
    """Where the paths of two neighbouring rows hold one ink run (a QRS running into the next row), each row's
    reading stays on its side of the midline between their baselines; elsewhere readings are untouched."""
    from ecgcls.digitize.pipeline import _keep_own_side
    from ecgcls.digitize.stages import RowTrace

    w = 20
    up_y, down_y = np.full(w, 100.0), np.full(w, 200.0)
    up_y[10:13], down_y[10:13] = [180.0, 190.0, 140.0], [120.0, 110.0, 160.0]  # each reads the other's wave
    up_y[5], down_y[15] = 170.0, 130.0  # deep excursions where the rows do not share ink: kept
    spans = [(up_y - 2, up_y + 2), (down_y - 2, down_y + 2)]
    for sp in spans:
        sp[0][10:13], sp[1][10:13] = 105.0, 195.0  # one tall run shared by both paths
    rows = [RowTrace(100.0, np.arange(w, dtype=float), up_y.copy(), 0.0, w - 1.0, None),
            RowTrace(200.0, np.arange(w, dtype=float), down_y.copy(), 0.0, w - 1.0, None)]
    _keep_own_side(rows, spans)
    np.testing.assert_array_equal(rows[0].y[10:13], [150.0, 150.0, 140.0])
    np.testing.assert_array_equal(rows[1].y[10:13], [150.0, 150.0, 160.0])
    assert rows[0].y[5] == 170.0 and rows[1].y[15] == 130.0
    keep = np.r_[0:10, 13:w]
    np.testing.assert_array_equal(rows[0].y[keep], up_y[keep])
    np.testing.assert_array_equal(rows[1].y[keep], down_y[keep])


def test_a_wave_cut_at_the_midline_is_continued_along_its_own_strokes():
    """A downward S wave cut flat at the midline (y 150) is rebuilt as the triangle its strokes make (slope 20 px
    per column in, 25 out), never past the end of the shared run nor back inside the midline; an upward wave of
    the row below likewise; a cut at the row's end, or whose strokes do not head into it, stays cut."""
    from ecgcls.digitize.pipeline import complete_cut_waves

    x = np.arange(30, dtype=float)
    true = np.full(30, 100.0)
    true[8:13] = [120, 140, 160, 180, 200]   # 20 px per column down to the tip at column 12
    true[13:16] = [175, 150, 125]            # 25 px per column back up
    y = np.minimum(true, 150.0)
    cut = true > 150
    far = np.where(cut, 190.0, y)            # the shared run ends at 190 below the tip's columns
    complete_cut_waves(y, cut, far, 1.0)
    np.testing.assert_allclose(y[10:14], [160.0, 180.0, 190.0, 175.0])
    np.testing.assert_array_equal(y[~cut], np.minimum(true, 150.0)[~cut])
    # the row below: the same wave upside down, cut at its midline (y 150 seen from below)
    up = 300.0 - true
    y2 = np.maximum(up, 150.0)
    complete_cut_waves(y2, cut, np.where(cut, 100.0, y2), -1.0)
    np.testing.assert_allclose(y2[10:14], 300.0 - np.array([160.0, 180.0, 200.0, 175.0]))
    # strokes that do not head into the cut (flat before it), or a cut at the row's end: left as they were
    flat = np.full(30, 150.0)
    before = flat.copy()
    complete_cut_waves(flat, (x > 10) & (x < 14), np.full(30, 190.0), 1.0)
    np.testing.assert_array_equal(flat, before)
    edge = np.minimum(true, 150.0)
    edge_cut = np.zeros(30, bool)
    edge_cut[:2] = True
    complete_cut_waves(edge, edge_cut, np.full(30, 190.0), 1.0)
    np.testing.assert_array_equal(edge, np.minimum(true, 150.0))
