import hashlib

import cv2
import numpy as np
import pytest

from ecgcls import LEADS
from ecgcls.geometry import LAYOUTS, get_layout, grid_layout
from ecgcls.render import CAL_BIT, RenderConfig, render
from ecgcls.render.artifacts import blackbody_rgb, paper_texture, perspective, rotation, rotation_clip
from ecgcls.render.dataset import RenderDataset

FS = 500


def synthetic_ecg(seed: int = 0, fs: int = FS, seconds: float = 10.0) -> np.ndarray:
    """A plausible 12-lead signal in mV that obeys Einthoven's and Goldberger's laws: two independent limb
    leads (I, II) made of QRS-like spikes, T waves and baseline wander; III, aVR, aVL, aVF derived; chest
    leads as other mixtures."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    beats = np.arange(0.4, seconds, 60 / rng.uniform(55, 95))

    def wave(a_r, a_s, a_t):
        x = np.zeros_like(t)
        for b in beats:
            x += a_r * np.exp(-((t - b) / 0.012) ** 2) + a_s * np.exp(-((t - b - 0.03) / 0.015) ** 2)
            x += a_t * np.exp(-((t - b - 0.28) / 0.05) ** 2)
        return x + 0.05 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6))

    I = wave(rng.uniform(0.4, 1.0), -rng.uniform(0, 0.3), rng.uniform(0.1, 0.3))
    II = wave(rng.uniform(0.8, 1.5), -rng.uniform(0, 0.2), rng.uniform(0.15, 0.35))
    limb = [I, II, II - I, -(I + II) / 2, I - II / 2, II - I / 2]
    chest = [wave(rng.uniform(-0.3, 1.8), -rng.uniform(0.2, 1.5), rng.uniform(-0.1, 0.5)) for _ in range(6)]
    return np.stack(limb + chest).astype(np.float32)


@pytest.fixture(scope="module")
def sig():
    return synthetic_ecg(0)


def clean(**kw) -> RenderConfig:
    return RenderConfig(grid="none", header=False, labels=False, separators=False, **kw)


def test_mask_pixels_lie_on_ink(sig):
    page = render(sig, FS, clean(layout="3x4+II"), rng=0)
    gray = cv2.cvtColor(page.image, cv2.COLOR_RGB2GRAY)
    traces = page.trace_mask()
    assert traces.sum() > 10_000
    assert (gray[traces] < 200).mean() > 0.97  # mask lies on ink
    dark = gray < 100
    covered = (page.mask != 0)
    assert covered[dark].mean() > 0.99  # and ink is in the mask (traces, calibration)


def test_overlapping_leads_keep_both_bits(sig):
    page = render(sig * 3, FS, clean(layout="12x1", gain_mm_mv=20), rng=0)
    lead_bits = page.mask & 0x0FFF
    popcount = np.zeros(lead_bits.shape, np.uint8)
    for k in range(12):
        popcount += ((lead_bits >> k) & 1).astype(np.uint8)
    assert (popcount >= 2).sum() > 100


def _check_points(page, sig, tol_px=0.5):
    """Samples map back to the signal through the page geometry, and land on their lead's ink."""
    g = page.geometry
    hits, total = 0, 0
    for s in page.segments:
        page_xy = g.to_page(s.xy)
        t = g.x_px_to_t(page_xy[:, 0])
        seg = next(x for x in page.layout.segments if x.lead == s.lead and x.row == s.row and x.t_start == s.t_start)
        np.testing.assert_allclose(t, seg.x_t + np.arange(len(t)) / FS, atol=tol_px / (g.speed_mm_s * g.px_per_mm))
        mv = g.y_px_to_mv(page_xy[:, 1], s.row) * (-1 if seg.inverted else 1)
        ref = sig[LEADS.index(s.lead), s.start:s.start + len(mv)]
        np.testing.assert_allclose(mv, ref, atol=tol_px / (g.gain_mm_mv * g.px_per_mm))
        xi, yi = np.round(s.xy[:, 0]).astype(int), np.round(s.xy[:, 1]).astype(int)
        ok = (xi >= 0) & (yi >= 0) & (xi < page.mask.shape[1]) & (yi < page.mask.shape[0])
        hits += int(((page.mask[yi[ok], xi[ok]] >> s.lead_idx) & 1).sum())
        total += int(ok.sum())
    return hits / total


def test_sample_coordinates_clean(sig):
    page = render(sig, FS, clean(), rng=0)
    assert _check_points(page, sig) > 0.99


@pytest.mark.parametrize("artifact", [rotation, perspective, rotation_clip])
def test_sample_coordinates_after_warp(sig, artifact):
    page = render(sig, FS, clean(), rng=0)
    warped = artifact(page, np.random.default_rng(5), 1.0)
    assert not np.allclose(warped.geometry.H, np.eye(3))
    assert _check_points(warped, sig) > 0.95
    # the ink really is where the truth says: dark pixels under the warped sample points
    gray = cv2.cvtColor(warped.image, cv2.COLOR_RGB2GRAY)
    s = warped.segments[0]
    xi, yi = np.round(s.xy[:, 0]).astype(int), np.round(s.xy[:, 1]).astype(int)
    assert (gray[yi, xi] < 160).mean() > 0.9


def test_layout_order_and_timing():
    lay = get_layout("3x4")
    first_col = [s for s in lay.segments if s.t_start == 0]
    assert [s.lead for s in sorted(first_col, key=lambda s: s.row)] == ["I", "II", "III"]
    assert all(abs(s.t_end - 2.5) < 1e-9 for s in first_col)
    col2 = sorted([s for s in lay.segments if abs(s.t_start - 2.5) < 1e-9], key=lambda s: s.row)
    assert [s.lead for s in col2] == ["aVR", "aVL", "aVF"] and all(abs(s.t_end - 5.0) < 1e-9 for s in col2)
    cab = get_layout("cabrera")
    assert [s.label for s in sorted(cab.segments, key=lambda s: (s.t_start, s.row))][:6] == \
        ["aVL", "I", "-aVR", "II", "aVF", "III"]
    six = get_layout("6x2")
    assert {s.lead for s in six.segments if s.t_start == 0} == {"I", "II", "III", "aVR", "aVL", "aVF"}
    assert {s.lead for s in six.segments if s.t_start == 5.0} == {f"V{i}" for i in range(1, 7)}
    twelve = get_layout("12x1")
    assert [s.lead for s in twelve.segments] == list(LEADS) and all(s.t_end == 10 for s in twelve.segments)
    strips = get_layout("3x4+3")
    assert [s.lead for s in strips.segments if s.row >= 3] == ["II", "V1", "V5"]
    assert get_layout("3x4+II", rhythm_lead="V5").segments[-1].lead == "V5"
    custom = grid_layout("2x2", [["I", "II"], ["V1", "V2"]], rhythm=["II"])
    assert custom.n_rows == 3 and len(custom.segments) == 5
    cov = LAYOUTS["3x4"].coverage(100, 1000)
    assert cov[0, :250].all() and not cov[0, 250:].any() and cov[3, 250:500].all()


def test_rendered_segments_follow_layout(sig):
    page = render(sig, FS, clean(layout="cabrera+II"), rng=0)
    inv = [s for s in page.segments if s.label == "-aVR"][0]
    # −aVR printed upside down: its page y goes down where aVR goes up
    mv = page.geometry.y_px_to_mv(inv.xy[:, 1], inv.row)
    np.testing.assert_allclose(mv, -sig[3, inv.start:inv.start + len(mv)], atol=1e-3)


@pytest.mark.parametrize("gain", [5.0, 10.0, 20.0])
def test_calibration_pulse_height(sig, gain):
    page = render(sig, FS, clean(gain_mm_mv=gain), rng=0)
    ppm = page.geometry.px_per_mm
    cal = [b for b in page.boxes if b.kind == "calibration"][0]
    assert abs((cal.xyxy[3] - cal.xyxy[1]) / ppm - gain) < 1e-6
    assert abs((cal.xyxy[2] - cal.xyxy[0]) / ppm - 0.2 * 25) < 1e-6
    cal_ink = ((page.mask >> CAL_BIT) & 1).astype(bool)
    ys = np.flatnonzero(cal_ink[:, : int(cal.xyxy[2]) + 5].any(axis=1))
    first_row = ys[ys < cal.xyxy[3] + 5]
    height_mm = (first_row.max() - first_row.min()) / ppm
    assert abs(height_mm - gain) < 0.6  # drawn height = 1 mV × gain, ± line width


def test_same_seed_same_bytes(sig):
    cfg = RenderConfig(layout="6x2", artifacts=("photo", "stain", "fade"))
    a = render(sig, FS, cfg, rng=11)
    b = render(sig, FS, cfg, rng=11)
    c = render(sig, FS, cfg, rng=12)
    assert hashlib.sha1(a.image.tobytes()).digest() == hashlib.sha1(b.image.tobytes()).digest()
    assert np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, c.image)


def test_50mm_per_s_prints_5s_window(sig):
    page = render(sig, FS, clean(speed_mm_s=50.0, layout="3x4"), rng=0)
    assert page.layout.duration_s == 5.0
    assert max(s.t_end for s in page.segments) == 5.0


def test_truth_json_and_yolo(sig, tmp_path):
    page = render(sig, FS, RenderConfig(layout="3x4+II", artifacts=("scan",)), rng=3)
    paths = page.save(tmp_path, "p")
    import json
    truth = json.loads(open(paths["truth"]).read())
    assert truth["layout"]["name"] == "3x4+II" and len(truth["segments"]) == 13
    assert truth["geometry"]["px_per_mm"] == pytest.approx(200 / 25.4)
    mask = cv2.imread(paths["mask"], cv2.IMREAD_UNCHANGED)
    assert mask.dtype == np.uint16 and np.array_equal(mask, page.mask)
    rows = open(paths["yolo"]).read().split()
    assert len(rows) % 5 == 0 and all(0 <= float(v) <= 1 for i, v in enumerate(rows) if i % 5)


def test_compact_truth_formats_round_trip(sig, tmp_path):
    """mask_format='npz' and points='npz' hold exactly what the PNG mask and JSON points hold."""
    from ecgcls.render import load_mask

    page = render(sig, FS, RenderConfig(layout="6x2"), rng=4)
    paths = page.save(tmp_path, "c", mask_format="npz", points="npz", png_level=0)
    assert np.array_equal(load_mask(paths["mask"]), page.mask)
    import json
    truth = json.loads(open(paths["truth"]).read())
    assert "xy" not in truth["segments"][0] and truth["points_file"] == "c_points.npz"
    pts = np.load(paths["points"])
    for i, s in enumerate(page.segments):
        np.testing.assert_allclose(pts[f"seg{i}"], s.xy, atol=1e-3)
    assert np.array_equal(cv2.imread(paths["image"])[..., ::-1], page.image)  # lossless
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left


def test_bad_input_is_rejected(sig):
    with pytest.raises(ValueError, match="shape"):
        render(sig[:11], FS)
    with pytest.raises(ValueError, match="signal has"):
        render(sig[:, :1000], FS)
    with pytest.raises(ValueError, match="unknown layout"):
        render(sig, FS, RenderConfig(layout="5x5"))
    with pytest.raises(ValueError, match="unknown artifact"):
        render(sig, FS, RenderConfig(artifacts=("smudge",)))


def test_nan_leaves_gap(sig):
    s = sig.copy()
    s[0, 200:800] = np.nan
    page = render(s, FS, clean(layout="12x1"), rng=0)
    seg = page.segments[0]
    assert np.isnan(seg.xy[300]).all() and np.isfinite(seg.xy[100]).all()


def test_render_dataset_reproducible(sig):
    ds = RenderDataset(lambda i: sig, 3, FS, RenderConfig.random, seed=4,
                       transform=lambda p, i: p.image.shape)
    assert ds[1] == ds[1]
    p0 = ds.page(2)
    ds.set_epoch(1)
    assert ds.page(2).config != p0.config or not np.array_equal(ds.page(2).image, p0.image)


def test_augmenter_artifacts(sig):
    """Other generators' augmentation: textured paper darkens the page, a black-body cast at 2000-4000 K all but
    removes blue, and a clipped rotation leaves black corners on a canvas of the same size."""
    page = render(sig, FS, clean(), rng=0)
    rng = np.random.default_rng(0)
    tex = paper_texture(page, rng, 1.0)
    assert tex.image.shape == page.image.shape and tex.image.mean() < page.image.mean() - 20
    assert blackbody_rgb(6500) == pytest.approx([1, 1, 1], abs=0.02)
    warm = blackbody_rgb(2000)
    assert warm[0] > 0.95 and warm[2] < 0.1
    rot = next(r for r in (rotation_clip(page, np.random.default_rng(s), 1.0) for s in range(10))
               if not np.allclose(r.geometry.H[:2, :2], np.eye(2)))
    assert rot.image.shape == page.image.shape
    assert rot.image[0, 0].max() == 0 and rot.image[-1, -1].max() == 0


def test_custom_grid_colour(sig):
    page = render(sig, FS, RenderConfig(layout="3x4", grid_rgb=((90, 40, 30), (120, 70, 60))), rng=0)
    assert (np.abs(page.image.astype(int) - [90, 40, 30]).sum(axis=2) < 10).mean() > 0.01
    with pytest.raises(ValueError, match="grid_rgb"):
        RenderConfig(grid_rgb=((1, 2),))
