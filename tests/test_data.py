import numpy as np
import pandas as pd
import pytest

from ecgcls.data import (PTBXLDataModule, SignalStore, derive_labels, load_database, make_splits, read_wfdb)


# ---- labels ---------------------------------------------------------------------------------------
# Hand-checked against scp_statements.csv:
#   8: IMI(MI/IMI), ABQRS(form), SR(rhythm)     17: AFLT+AFIB (rhythm), ABQRS: no diagnostic statement
#  28: NST_ + DIG (both STTC)                   30: LVH (HYP/LVH)          32: LPFB (CD, LAFB/LPFB)
@pytest.mark.parametrize("task,ecg_id,expected", [
    ("superdiagnostic", 1, {"NORM"}), ("superdiagnostic", 8, {"MI"}), ("superdiagnostic", 28, {"STTC"}),
    ("superdiagnostic", 30, {"HYP"}), ("superdiagnostic", 32, {"CD"}),
    ("subdiagnostic", 8, {"IMI"}), ("subdiagnostic", 32, {"LAFB/LPFB"}), ("subdiagnostic", 28, {"NST_", "STTC"}),
    ("rhythm", 1, {"SR"}), ("rhythm", 17, {"AFIB", "AFLT"}), ("form", 8, {"ABQRS"}), ("form", 1, {"LVOLT"}),
])
def test_hand_checked_labels(ptbxl_root, task, ecg_id, expected):
    y = derive_labels(ptbxl_root, task)
    assert set(y.columns[y.loc[ecg_id].to_numpy() == 1]) == expected


def test_record_without_diagnostic_statement_dropped(ptbxl_root):
    y = derive_labels(ptbxl_root, "superdiagnostic")
    assert 17 not in y.index  # AFLT/AFIB/ABQRS only: no diagnostic class
    assert (y.sum(axis=1) > 0).all()
    assert list(y.columns) == ["NORM", "MI", "STTC", "CD", "HYP"]


def test_superdiagnostic_matches_pack_csv(ptbxl_root):
    """Our derivation from scp_codes agrees with the pack's superdiagnostic.csv on every coded record."""
    db = load_database(ptbxl_root)
    ours = derive_labels(ptbxl_root, "superdiagnostic", db=db)
    ref = pd.read_csv(ptbxl_root / "superdiagnostic.csv", index_col="ecg_id")
    coded = [i for i in ours.index if db.at[i, "scp_codes"] and i in ref.index]
    assert len(coded) > 400
    np.testing.assert_array_equal(ours.loc[coded].to_numpy(), ref.loc[coded, list(ours.columns)].to_numpy())
    # records with empty scp_codes still get superdiagnostic labels from the CSV
    uncoded = [i for i in ours.index if not db.at[i, "scp_codes"]]
    assert len(uncoded) > 1000


def test_subdiagnostic_has_23_classes(ptbxl_root):
    assert derive_labels(ptbxl_root, "subdiagnostic").shape[1] == 23


def test_unknown_task(ptbxl_root):
    with pytest.raises(ValueError, match="unknown label task"):
        derive_labels(ptbxl_root, "diagnostics")


# ---- splits -------------------------------------------------------------------------------------
def test_pack_splits_patient_disjoint(ptbxl_root):
    db = load_database(ptbxl_root)
    y = derive_labels(ptbxl_root, "superdiagnostic", db=db)
    splits = make_splits(db, y.index, {"train": [10], "val": [8, 9], "test": list(range(1, 8))})
    sets = {k: set(v) for k, v in splits.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert sum(map(len, sets.values())) == len(y)
    pats = {k: set(db.loc[list(v), "patient_id"].dropna()) for k, v in sets.items()}
    assert not (pats["train"] & pats["test"]) and not (pats["train"] & pats["val"]) and not (pats["val"] & pats["test"])


def test_split_rejects_patient_leak_and_reused_fold():
    db = pd.DataFrame({"strat_fold": [1, 2, 3], "patient_id": [7.0, 7.0, 8.0]}, index=pd.Index([1, 2, 3], name="ecg_id"))
    with pytest.raises(ValueError, match="patient 7"):
        make_splits(db, [1, 2, 3], {"train": [1], "test": [2, 3]})
    with pytest.raises(ValueError, match="strat_fold 1"):
        make_splits(db, [1, 2, 3], {"train": [1], "test": [1]})


# ---- signal store ---------------------------------------------------------------------------------
def test_store_matches_wfdb_and_is_reused(tiny_ptbxl, tmp_path):
    store = SignalStore(tiny_ptbxl, fs=100, cache_dir=tmp_path / "c", progress=False)
    assert store.signals.shape == (6, 12, 1000)
    ref, fs = read_wfdb(tiny_ptbxl / "records100/00000/00003_lr")
    assert fs == 100
    np.testing.assert_allclose(store.get(3), ref, atol=1e-6)
    mtime = (store.dir / "signals.npy").stat().st_mtime_ns
    again = SignalStore(tiny_ptbxl, fs=100, cache_dir=tmp_path / "c", progress=False)
    assert again.dir == store.dir and (again.dir / "signals.npy").stat().st_mtime_ns == mtime
    other = SignalStore(tiny_ptbxl, fs=100, cache_dir=tmp_path / "c2", progress=False)
    assert other.dir != store.dir


def test_store_corrupt_record_names_file(tiny_ptbxl, tmp_path):
    dat = tiny_ptbxl / "records100/00000/00004_lr.dat"
    dat.write_bytes(dat.read_bytes()[:100])
    with pytest.raises(ValueError, match="00004_lr"):
        SignalStore(tiny_ptbxl, fs=100, cache_dir=tmp_path / "c", progress=False)
    assert not list((tmp_path / "c" / "signals").glob("*/meta.json"))  # no half-built store left behind


def test_store_missing_record_names_file(tiny_ptbxl, tmp_path):
    (tiny_ptbxl / "records100/00000/00002_lr.hea").unlink()
    with pytest.raises(FileNotFoundError, match="00002_lr.hea"):
        SignalStore(tiny_ptbxl, fs=100, cache_dir=tmp_path / "c", progress=False)


def test_missing_root_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="ptbxl_database.csv"):
        SignalStore(tmp_path, fs=100, cache_dir=tmp_path)


def test_datamodule_batches(ptbxl_root, cache_dir):
    dm = PTBXLDataModule(root=str(ptbxl_root), cache_dir=str(cache_dir), fs=100, batch_size=8,
                         folds={"train": [10], "val": [8, 9], "test": [1, 2, 3, 4, 5, 6, 7]})
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 12, 1000) and y.shape == (8, 5)
    assert dm.describe()["sizes"] == {"train": len(dm.splits["train"]), "val": len(dm.splits["val"]),
                                      "test": len(dm.splits["test"])}
    assert abs(float(x.std()) - 0.2) < 0.3  # mV scale, not ADU


# ---- several PTB-XL roots as one dataset ----------------------------------------------------------
PACK_FOLDS = {"train": [10], "val": [8, 9], "test": [1, 2, 3, 4, 5, 6, 7]}


def test_extra_records_train_and_the_pack_test_set_is_unchanged(ptbxl_root, extra_archive, cache_dir):
    """pack + ptbxl-extra: both carry strat_fold 1-7, yet every extra record trains and the test and validation
    sets are exactly the pack's (a split by fold number over the merged table would put extra records in test)."""
    from conftest import PACK

    pack = PTBXLDataModule(root=str(ptbxl_root), cache_dir=str(cache_dir), folds=PACK_FOLDS)
    both = PTBXLDataModule(cache_dir=str(cache_dir), sources=[
        {"name": "pack", "archive": str(PACK), "folds": PACK_FOLDS},
        {"name": "extra", "archive": str(extra_archive), "folds": {"train": [1, 2, 3, 4, 5, 6, 7]}}])
    pack.setup()
    both.setup()
    np.testing.assert_array_equal(both.splits["test"], pack.splits["test"])
    np.testing.assert_array_equal(both.splits["val"], pack.splits["val"])
    assert len(pack.splits["test"]) == 308 and len(pack.splits["train"]) == 1765
    extra_ids = set(both.record_source.index[both.record_source == "extra"])
    assert len(extra_ids) > 1600 and not extra_ids & (set(both.splits["test"]) | set(both.splits["val"]))
    assert set(both.splits["train"]) == set(pack.splits["train"]) | extra_ids
    d = both.describe()
    assert d["sizes_per_source"] == {"pack": {"train": 1765, "val": 116, "test": 308},
                                     "extra": {"train": len(extra_ids), "val": 0, "test": 0}}
    assert [s["name"] for s in d["sources"]] == ["pack", "extra"] and d["sizes"]["train"] == 1765 + len(extra_ids)
    assert d["folds"]["train"] == {"pack": [10], "extra": [1, 2, 3, 4, 5, 6, 7]} and d["folds"]["test"] == {"pack": PACK_FOLDS["test"]}
    from ecgcls.predict.bundle import limits_text

    assert "Trained on 3436 records of pack + extra" in limits_text({"data": d})
    # extra fold numbers overlap the pack's test folds: the naive split this layer exists to prevent
    db = both.record_source.to_frame().join(load_database(both.sources[1].root)[["strat_fold"]])
    assert db.loc[list(extra_ids), "strat_fold"].isin(PACK_FOLDS["test"]).all()
    x, y = both.dataset("train")[int(np.flatnonzero(np.isin(both.splits["train"], list(extra_ids)))[0])]
    assert x.shape == (12, 1000) and y.shape == (5,) and float(y.sum()) >= 1


def _tiny_sources(tmp_path, second_first_id: int):
    from conftest import make_tiny_ptbxl

    a = make_tiny_ptbxl(tmp_path / "a", n=6)
    b = make_tiny_ptbxl(tmp_path / "b", n=6, first_id=second_first_id, seed=1)
    return [{"name": "a", "root": str(a), "folds": {"train": [1, 2], "test": [3]}},
            {"name": "b", "root": str(b), "folds": {"train": [1, 2, 3]}}]


def test_a_record_in_two_sources_is_an_error(tmp_path):
    dm = PTBXLDataModule(cache_dir=str(tmp_path / "c"), sources=_tiny_sources(tmp_path, second_first_id=5))
    with pytest.raises(ValueError, match=r"in both data sources 'a' \(5 \.\.\.\) and 'b'.*\[5, 6\]"):
        dm.setup()


def test_tiny_sources_split_each_by_its_own_folds(tmp_path):
    dm = PTBXLDataModule(cache_dir=str(tmp_path / "c"), sources=_tiny_sources(tmp_path, second_first_id=101))
    dm.setup()
    # source a: folds 1 + i % 3 -> ids 2, 5 are fold 3 (test); source b's fold-3 ids train
    assert list(dm.splits["test"]) == [2, 5] and list(dm.splits["train"]) == [1, 3, 4, 6, *range(101, 107)]
    assert "val" not in dm.splits
    np.testing.assert_allclose(dm.store.get(104), read_wfdb(tmp_path / "b/records100/00000/00104_lr")[0], atol=1e-6)
    with pytest.raises(KeyError, match="ecg_id 99"):
        dm.store.get(99)


def test_a_patient_across_sources_and_splits_is_caught(tmp_path):
    specs = _tiny_sources(tmp_path, second_first_id=101)
    db = pd.read_csv(tmp_path / "b" / "ptbxl_database.csv")
    db.loc[0, "patient_id"] = 102.0  # b's record 101 (training) belongs to a's patient of record 2 (test)
    db.to_csv(tmp_path / "b" / "ptbxl_database.csv", index=False)
    with pytest.raises(ValueError, match="patient 102 appears in both"):
        PTBXLDataModule(cache_dir=str(tmp_path / "c"), sources=specs).setup()


@pytest.mark.parametrize("bad,match", [
    ({"root": "/x"}, "not both"),
    ({"sources": [{"name": "a", "root": "/x", "folds": {"tran": [1]}}]}, "unknown split"),
    ({"sources": [{"name": "a", "root": "/x"}]}, "give its folds"),
    ({"sources": [{"root": "/x", "folds": {"train": [1]}}]}, "has no name"),
])
def test_bad_source_configs_are_named(tmp_path, bad, match):
    from conftest import make_tiny_ptbxl

    root = make_tiny_ptbxl(tmp_path / "a")
    kw = dict(bad)
    if "sources" in kw:
        kw["sources"] = [{**s, "root": str(root)} for s in kw["sources"]]
    else:
        kw["sources"] = [{"name": "a", "root": str(root), "folds": {"train": [1]}}]
    with pytest.raises(ValueError, match=match):
        PTBXLDataModule(cache_dir=str(tmp_path / "c"), **kw).setup()
