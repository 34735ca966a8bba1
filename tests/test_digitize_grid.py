"""Digitizer — The paper: grid pitch and colour, ink against grid and texture, the sheet in a photo."""
import numpy as np
import pytest

from ecgcls.digitize import digitize
from ecgcls.digitize.grid import darkness, grid_spacing, ink_threshold
from ecgcls.digitize.pipeline import find_sheet, ink_map, measure_scale
from ecgcls.render import RenderConfig, render

from digitize_helpers import FS, _snr
from digitize_helpers import sig, sig3  # noqa: F401 (fixtures)


@pytest.mark.parametrize("dpi", [150.0, 110.0, 300.0])
def test_grid_pitch_that_is_not_a_whole_number_of_pixels(sig3, dpi):
    """At 150 DPI a 5 mm square is 29.5 px: lines land on whole pixels only every other period; the pitch must
    still be the true one, not twice it."""
    page = render(sig3, FS, RenderConfig(layout="3x4+II", dpi=dpi, minor_grid=False, artifacts=("jpeg",)), rng=1)
    dark = darkness(page.image)
    ppm_x, ppm_y, _ = grid_spacing(page.image, dark > ink_threshold(dark), dark=dark)
    assert ppm_x == pytest.approx(page.geometry.px_per_mm, rel=0.01)
    assert ppm_y == pytest.approx(page.geometry.px_per_mm, rel=0.01)


@pytest.mark.parametrize("dpi", [110.0, 200.0, 300.0])
def test_grid_pitch_is_exact_enough_for_the_last_samples(sig3, dpi):
    """The autocorrelation peak is pulled toward whole-pixel lags (~3e-4 at 200 DPI: the last column of a
    3x4 page half a pixel off); the whole-profile fit (refine_pitch) stays within 1e-4 on both axes."""
    page = render(sig3, FS, RenderConfig(layout="3x4+II", dpi=dpi, artifacts=("jpeg",)), rng=1)
    dark = darkness(page.image)
    ppm_x, ppm_y, _ = grid_spacing(page.image, dark > ink_threshold(dark), dark=dark)
    assert ppm_x == pytest.approx(page.geometry.px_per_mm, rel=1e-4)
    assert ppm_y == pytest.approx(page.geometry.px_per_mm, rel=1e-4)


def test_no_false_grid_on_a_gridless_jpeg(sig3):
    page = render(sig3, FS, RenderConfig(layout="3x4+II", grid="none", artifacts=("low_jpeg",)), rng=7)
    d = digitize(page.image)
    assert d.scale_method != "grid"
    assert d.px_per_mm[0] == pytest.approx(page.geometry.px_per_mm, rel=0.05)


@pytest.mark.parametrize("grid_rgb", [((90, 40, 30), (110, 60, 50)), ((102, 102, 102), (191, 191, 191))],
                         ids=["dark-brown", "grey-bw"])
def test_grid_as_dark_as_the_trace(sig3, grid_rgb):
    """Some generators print the grid nearly as dark as the trace: page-long lines are no ink, the pitch is still
    1 mm (not the 2 mm or 5 mm lag a strong grid favours) and the trace that crossed the lines is whole."""
    page = render(sig3, FS, RenderConfig(layout="3x4+II", dpi=150, grid_rgb=grid_rgb, artifacts=("jpeg",)), rng=4)
    d = digitize(page.image)
    assert d.px_per_mm[0] == pytest.approx(page.geometry.px_per_mm, rel=0.01)
    assert d.layout == "3x4+II"
    assert _snr(page, d, sig3) > 12.0


def test_grid_in_a_saturated_colour_is_measured(sig3):
    """Pink lines that keep the red channel at paper white (as some PDF exports draw them) have no darkness in the
    brightest channel, so they never pass for ink — nor for a grid. The grid's pitch is then read in the darkest
    channel: on a cropped picture (no paper size to go by) the scale is the grid's, not the 5 mm pulses' (2 %)."""
    from ecgcls.digitize.grid import tint_darkness

    cfg = RenderConfig(layout="3x4", dpi=130, grid_rgb=((255, 128, 128), (255, 179, 179)))
    page = render(sig3, FS, cfg, rng=5)
    image = np.ascontiguousarray(page.image[:, : int(page.image.shape[1] * 0.93)])
    sheet = find_sheet(image, keep_image=False)
    ink = ink_map(sheet, "classic")
    seen = ink.ink | ink.dark_pixels
    assert grid_spacing(None, seen, dark=sheet.dark)[:2] == (None, None)   # invisible where ink is looked for
    assert grid_spacing(None, seen, dark=tint_darkness(image))[0] == pytest.approx(page.geometry.px_per_mm, rel=0.01)
    scale = measure_scale(sheet, seen)
    assert scale.method == "grid" and scale.ppm_x == pytest.approx(page.geometry.px_per_mm, rel=0.01)
    d = digitize(image)
    assert d.scale_method == "grid" and d.px_per_mm[0] == pytest.approx(page.geometry.px_per_mm, rel=0.01)
    assert d.layout == "3x4"


def test_a_one_axis_period_in_the_darkest_channel_is_no_grid(sig3):
    """The second look at the darkest channel needs a square grid: a picture periodic on one axis only (here
    horizontal pink rules every 4 mm, no vertical lines) keeps the page-size and pulse scale."""
    page = render(sig3, FS, RenderConfig(layout="3x4", grid="none", paper="letter"), rng=4)
    image = page.image.copy()
    step = int(round(4 * page.geometry.px_per_mm))
    rules = image[::step]
    rules[rules.min(axis=2) > 200, 1:] = 150     # pink rules on the paper (red channel untouched)
    image[::step] = rules
    d = digitize(image)
    assert d.scale_method != "grid"
    assert d.px_per_mm[0] == pytest.approx(page.geometry.px_per_mm, rel=0.02)


def test_line_background_keeps_the_trace():
    """Straight page-long lines are found whatever their darkness; a trace crossing them is not."""
    from ecgcls.digitize.grid import remove_lines

    dark = np.zeros((200, 400), np.float32)
    dark[50] = 0.7          # a horizontal grid line
    dark[:, 100] = 0.9      # a vertical one
    t = np.arange(400)
    ys = (120 + 30 * np.sin(t / 15.0)).astype(int)
    dark[ys, t] = 1.0        # a wavy trace
    out, (hor, ver) = remove_lines(dark)
    assert out[50, 10] == 0 and out[10, 100] == 0
    assert hor[50, 10] == pytest.approx(0.7) and ver[10, 100] == pytest.approx(0.9)
    assert np.all(out[ys[t != 100], t[t != 100]] == 1.0)


def test_row_quantile_is_numpys_bit_for_bit():
    from ecgcls.digitize.grid import _row_quantile

    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 17, 256, 513):
        a = rng.random((9, n)).astype(np.float32)
        a[::3] = np.round(a[::3] * 8) / 8  # ties
        for q in (0.0, 0.15, 0.5, 0.85, 1.0, float(rng.random())):
            want = np.quantile(a, q, axis=1)
            got = _row_quantile(a, q)
            assert got.dtype == want.dtype and np.array_equal(got, want), (n, q)


def test_black_corners_and_textured_paper_are_no_ink(sig3):
    """A page rotated on its own canvas (black corners) over crumpled-paper texture: the corners are found as
    no-paper, broad wrinkle shading is dropped while the pen stroke stays, and the page is read."""
    from ecgcls.digitize.grid import keep_strokes, local_contrast, outside_page
    from ecgcls.render.artifacts import paper_texture, rotation_clip

    page = render(sig3, FS, RenderConfig(layout="3x4+II", dpi=150), rng=5)
    rot = next(r for r in (rotation_clip(page, np.random.default_rng(s), 1.0) for s in range(10))
               if abs(np.degrees(np.arctan2(r.geometry.H[1, 0], r.geometry.H[0, 0]))) >= 2)
    void = outside_page(rot.image)
    assert void is not None and void[0, 0] and void[-1, -1] and not void[rot.image.shape[0] // 2].any()
    assert outside_page(page.image) is None
    d = digitize(rot.image)
    assert d.layout == "3x4+II" and _snr(rot, d, sig3) > 10.0
    # a broad dark blob is not a stroke; a 2-px line and the pale sliver inside a spike are
    dark = np.zeros((60, 60), np.float32)
    dark[10:30, 10:30] = 0.9      # blob
    dark[45, :] = 1.0             # stroke
    dark[35:44, 40], dark[35:44, 43], dark[35:44, 41:43] = 1.0, 1.0, 0.6   # spike with a pale sliver
    ink = dark > 0.5
    kept = keep_strokes(ink, local_contrast(dark, 7) > 0.25, 7)
    assert not kept[20, 20] and kept[45].all() and kept[40, 41:43].all()
    tex = paper_texture(page, np.random.default_rng(1), 1.0)
    assert _snr(tex, digitize(tex.image), sig3) > 8.0


def test_local_contrast_equals_four_one_sided_erosions():
    """local_contrast (one erosion per axis, the other side moved from it) equals its definition: the larger, over
    the two axes, of the pixel's darkness minus the lighter of the darkest k px on either side (replicated border)."""
    import cv2

    from ecgcls.digitize.grid import local_contrast

    def by_definition(d, k):
        out = np.zeros_like(d)
        for ker, sides in ((np.ones((1, k), np.uint8), ((0, 0), (k - 1, 0))),
                           (np.ones((k, 1), np.uint8), ((0, 0), (0, k - 1)))):
            a, b = (cv2.erode(d, ker, anchor=anc, borderType=cv2.BORDER_REPLICATE) for anc in sides)
            np.maximum(out, d - np.maximum(a, b), out=out)
        return out

    rng = np.random.default_rng(0)
    for shape, k in (((40, 70), 5), ((3, 4), 7), ((6, 2), 3), ((200, 150), 9), ((9, 9), 1), ((8, 30), 2)):
        d = rng.random(shape).astype(np.float32)
        assert np.array_equal(local_contrast(d, k), by_definition(d, k)), (shape, k)


def test_clean_ink_drops_specks_even_when_there_are_very_many():
    from ecgcls.digitize.grid import clean_ink

    a = np.zeros((1000, 1000), bool)
    a[::2, ::2] = True  # 250,000 one-pixel specks: more components than 16-bit labels hold
    a[300:302, 100:400] = True  # a stroke
    out = clean_ink(a, 8.0)
    assert out[300:302, 110:390].all()
    assert not out[600:, :].any()


def test_no_sheet_found_on_a_scan(sig):
    """A scan (paper to the edges) must not be 'rectified' to its ink-dense middle."""
    from ecgcls.digitize.grid import find_page_quad

    page = render(sig, FS, RenderConfig(layout="12x1"), rng=3)
    assert find_page_quad(page.image) is None
    photo = render(sig, FS, RenderConfig(layout="12x1", artifacts=("perspective",)), rng=3)
    ph, pw = photo.geometry.page_size_px  # the sheet is found where it lies
    truth = photo.geometry.to_image(np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], float))
    assert np.abs(find_page_quad(photo.image) - truth).max() < 4.0


def test_sheet_picture_is_deskewed_when_read_and_only_if_kept(sig3):
    """find_sheet de-skews the darkness map at once and the picture only when it is first read (and kept)."""
    from ecgcls.digitize.grid import deskew
    from ecgcls.digitize.pipeline import find_sheet

    page = render(sig3, FS, RenderConfig(layout="6x2", dpi=100, artifacts=("scan",)), rng=3)
    kept, dropped = find_sheet(page.image, keep_image=True), find_sheet(page.image, keep_image=False)
    assert kept.rotation_deg != 0.0 and kept._image is None  # nothing rotated yet
    assert np.array_equal(kept.image, deskew(page.image, kept.rotation_deg)) and kept.image is kept.image
    assert dropped.image is None and np.array_equal(dropped.dark, kept.dark)


def test_sheet_outline_is_not_trusted_where_the_grid_goes_on_beyond_it(sig3):
    """Shadows of crumpled paper can outline a "sheet" on a page that fills the picture; warping the page to
    that outline stretches its grid. Beyond a real sheet's outline lies the table, with no grid."""
    from ecgcls.digitize.grid import find_page_quad, grid_beyond_outline

    page = render(sig3, FS, RenderConfig(layout="3x4+II", dpi=150.0), rng=5)
    h, w = page.image.shape[:2]
    shadow_outline = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0.4 * w, 0.85 * h]])
    sheet = find_sheet(page.image, keep_image=False)
    assert grid_beyond_outline(sheet.dark, shadow_outline, sheet.rotation_deg)

    photo = render(sig3, FS, RenderConfig(layout="3x4+II", dpi=150.0, artifacts=("perspective",)), rng=5)
    ph, pw = photo.geometry.page_size_px  # the sheet is found where it lies
    truth = photo.geometry.to_image(np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], float))
    assert np.abs(find_page_quad(photo.image) - truth).max() < 4.0
    assert find_sheet(photo.image, keep_image=False).rectified  # the outline was kept: warped flat


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sheet_corners_are_refined_to_the_paper_edge(sig3, seed):
    """The outline is found on a downscaled copy (a few pixels off at full size); each side is refitted to the
    paper's edge at full resolution, so the perspective is undone from corners within about a pixel."""
    from ecgcls.digitize.grid import find_page_quad

    page = render(sig3, FS, RenderConfig(layout="3x4+II", dpi=200.0, artifacts=("perspective",)), rng=seed)
    ph, pw = page.geometry.page_size_px
    truth = page.geometry.to_image(np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], float))
    quad = find_page_quad(page.image)
    assert quad is not None
    assert np.abs(quad - truth).max() < 2.0
