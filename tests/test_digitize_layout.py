"""Digitizer — Which layout a page prints: rows, columns, rhythm strips, simultaneous columns, stray rows."""
import numpy as np
import pytest

from ecgcls.digitize import digitize
from ecgcls.geometry import LAYOUTS, get_layout
from ecgcls.render import RenderConfig, render

from digitize_helpers import FS, _snr
from digitize_helpers import sig3  # noqa: F401 (fixtures)


def test_rhythm_strip_lead_read_from_the_page(sig3):
    page = render(sig3, FS, RenderConfig(layout="3x4+II", rhythm_lead="V2"), rng=3)
    d = digitize(page.image)
    assert d.rhythm_leads == ("V2",) and d.layout_detail == "3x4+V2"
    assert _snr(page, d, sig3) > 12.0


@pytest.mark.parametrize("simultaneous", [False, True])
def test_column_timing_from_the_beats(sig3, simultaneous):
    page = render(sig3, FS, RenderConfig(layout="6x2+II", simultaneous=simultaneous), rng=4)
    d = digitize(page.image)
    assert d.layout == "6x2+II"
    assert d.column_timing == ("simultaneous" if simultaneous else "consecutive")
    assert _snr(page, d, sig3) > 12.0


@pytest.mark.parametrize("layout", ["limb6", "chest6", "6x2", "3x4+3"])
def test_one_lead_group_pages_are_told_from_six_row_grids(sig3, layout):
    """Six trace rows: a limb-lead page (its first 5 s are exactly 6×2's left column) and a chest-lead page (no
    limb leads to check) are told from 6×2 and 3×4+3 by whether each row shows one beat shape all along."""
    page = render(sig3, FS, RenderConfig(layout=layout), rng=12)
    d = digitize(page.image)
    assert d.layout == layout
    assert _snr(page, d, sig3) > 12.0
    if layout == "chest6":
        assert d.status == "ok", d.reason  # no limb leads to check is no evidence of a bad reading


def test_structure_cost_scores_rows_as_the_layout_prints_them():
    from ecgcls.digitize.layout import structure_cost

    same = [{2: 0.98, 4: 0.97}] * 6       # every row one beat shape all along
    mixed = [{2: -0.4, 4: 0.2}] * 6       # halves and quarters differ
    assert structure_cost(LAYOUTS["limb6"], same) == 0.0 and structure_cost(LAYOUTS["6x2"], same) == 1.0
    assert structure_cost(LAYOUTS["6x2"], mixed) == 0.0 and structure_cost(LAYOUTS["chest6"], mixed) == 1.0
    # 3x4+3: three rows of four columns, three strips
    assert structure_cost(LAYOUTS["3x4+3"], mixed[:3] + same[:3]) == 0.0
    assert structure_cost(LAYOUTS["3x4+3"], [{2: float("nan"), 4: float("nan")}] * 6) == 0.0  # no evidence


def test_rhythm_strip_is_kept_unless_dropping_a_stray_row_reads_better(sig3):
    """Only the top or bottom row may be dropped as stray, and only when the reading without it is better."""
    page = render(sig3, FS, RenderConfig(layout="3x4+II", dpi=150, header=True), rng=6)
    d = digitize(page.image)
    assert d.layout == "3x4+II" and d.rhythm_leads == ("II",)


def test_a_row_is_stray_only_if_it_is_unlike_the_trace_rows():
    """A row that starts with a calibration pulse like the others, and is traced as wide, is a trace row: the
    limb-lead test may not drop it (on real photos it dropped a traced first row and moved every lead up)."""
    from ecgcls.digitize.pipeline import _looks_stray
    from ecgcls.digitize.stages import RowTrace

    def row(pulse, cover):
        y = np.full(100, np.nan)
        y[: int(cover * 100)] = 0.0
        return RowTrace(0.0, np.arange(100.0), y, 0.0, 99.0, 10.0, 0.0, (20.0, 40.0) if pulse else None)

    def stray(rows, drop):
        return _looks_stray(rows, [float(np.isfinite(r.y).mean()) for r in rows], drop)

    assert not stray([row(True, 0.8), row(True, 0.9), row(True, 0.9), row(True, 0.9)], 0)  # pulse like the rest
    assert stray([row(False, 0.8), row(True, 0.9), row(True, 0.9), row(True, 0.9)], 0)      # no pulse, others have
    assert not stray([row(False, 0.8), row(False, 0.9), row(False, 0.9), row(False, 0.9)], 0)  # no pulses, as wide
    assert stray([row(False, 0.9), row(False, 0.9), row(False, 0.9), row(False, 0.5)], 3)      # no pulses, narrow


def test_columns_are_read_simultaneous_only_on_clear_evidence():
    """Columns whose beats line up with the strip's first seconds are simultaneous; a reading whose beats only
    faintly do (a badly read photo: mean correlation < 0.4) keeps the convention, consecutive."""
    from ecgcls.digitize.layout import register_columns

    fs, n = 100.0, 1000

    def beats(period, phase):
        b = np.zeros(n)
        b[(np.arange(phase, 10, period) * fs).astype(int)] = 1.0
        return np.convolve(b, np.hanning(7), "same")

    def page(mix):  # columns: `mix` x the strip's first seconds + (1 - mix) x unrelated beats
        strip, other = beats(0.83, 0.1), beats(0.61, 0.37)
        lay = get_layout("3x4+II")
        sigs = []
        for seg in lay.segments:
            a, b = int(seg.t_start * fs), int(seg.t_end * fs)
            full = np.full(n, np.nan)
            full[a:b] = strip[a:b] if seg.row in lay.rhythm_rows else mix * strip[:b - a] + (1 - mix) * other[a:b]
            sigs.append(full)
        return lay, sigs

    assert register_columns(*page(1.0), fs)[1] == "simultaneous"
    assert register_columns(*page(0.4), fs)[1] == "simultaneous"
    assert register_columns(*page(0.25), fs)[1] == "consecutive"
    assert register_columns(*page(0.25), fs, min_corr=-9.0)[1] == "simultaneous"  # what v11 decided


def test_layout_table_helpers():
    lay = get_layout("6x2+II")
    assert lay.rhythm_rows == (6,)
    sim = lay.simultaneous()
    assert all(s.t_start == 0.0 for s in sim.segments)
    assert [s.lead for s in lay.with_rhythm_leads(["V5"]).segments if s.row == 6] == ["V5"]
    assert get_layout("12x1+II", "V1").name == "12x1+V1"
    for name in ("3x4+2", "6x2+II", "12x1+II", "limb6", "chest6"):
        assert name in LAYOUTS
