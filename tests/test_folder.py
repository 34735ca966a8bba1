"""Labelled picture folders (real scans) for the image classifiers: reading, checks, and fine-tuning from
saved weights through train.py."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from test_render import synthetic_ecg

from ecgcls.data.folder import PictureFolderDataModule, read_labels
from ecgcls.render import RenderConfig, render

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scans")
    rows = []
    for i in range(9):
        page = render(synthetic_ecg(i), 500, RenderConfig(layout=("3x4+II", "6x2", "12x1")[i % 3], dpi=60), rng=i)
        name = f"sub/ecg_{i}.png" if i % 2 else f"ecg_{i}.jpg"
        (root / name).parent.mkdir(exist_ok=True)
        Image.fromarray(page.image).save(root / name)
        rows.append({"file": name, "NORM": i % 2, "MI": int(i % 3 == 0), "split": ("train", "val", "test")[i // 3],
                     "patient_id": i})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    return root


def test_folder_datamodule_reads_and_splits(folder):
    dm = PictureFolderDataModule(str(folder), size=(64, 80))
    dm.setup()
    assert dm.classes == ["NORM", "MI"]
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 3, "val": 3, "test": 3}
    x, y = dm.dataset("test")[0]
    assert x.shape == (1, 64, 80) and x.dtype == torch.float32 and y.tolist() == [0.0, 1.0]  # ecg_6
    assert dm.pictures.max() > 100  # ink read, not blank pages
    d = dm.describe()
    assert d["split_ids"]["train"] == ["ecg_0.jpg", "sub/ecg_1.png", "ecg_2.jpg"] and d["preprocess"] == "ink"
    dm.stage = "mask"
    with pytest.raises(ValueError, match="no trace masks"):
        dm.dataset("train")


def test_folder_errors_name_the_problem(folder, tmp_path):
    df = pd.read_csv(folder / "labels.csv")

    def write(d: pd.DataFrame) -> Path:
        p = tmp_path / "labels.csv"
        d.to_csv(p, index=False)
        return p

    with pytest.raises(ValueError, match=r"0 or 1.*row 3 \(sub/ecg_1.png\): NORM=2"):
        read_labels(write(df.assign(NORM=df["NORM"].replace(1, 2))))
    with pytest.raises(ValueError, match="more than one split"):
        read_labels(write(df.assign(patient_id=[0] * 9)))
    with pytest.raises(ValueError, match="'split' column"):
        read_labels(write(df.drop(columns="split")))
    with pytest.raises(ValueError, match="needs data.folds"):
        read_labels(write(df.drop(columns="split").assign(fold=range(9))))
    t, classes = read_labels(write(df.drop(columns="split").assign(fold=range(9))), ["MI"],
                             {"train": [0, 1, 2], "val": [3], "test": [4, 5]})
    assert classes == ["MI"] and len(t) == 6 and list(t["split"]) == ["train"] * 3 + ["val"] + ["test"] * 2
    with pytest.raises(ValueError, match=r"class columns \['AFIB'\] missing"):
        read_labels(write(df), ["AFIB"])
    # missing and unreadable pictures: one error listing each file
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    bad = pd.concat([df, pd.DataFrame([{"file": "gone.png", "NORM": 0, "MI": 0, "split": "test", "patient_id": 20},
                                       {"file": "broken.png", "NORM": 1, "MI": 0, "split": "test", "patient_id": 21}])])
    bad["file"] = [str(folder / f) if not f.endswith(("gone.png", "broken.png")) else str(tmp_path / f)
                   for f in bad["file"]]
    dm = PictureFolderDataModule(str(tmp_path), labels_csv=str(write(bad)), size=(32, 40))
    with pytest.raises(ValueError, match=r"(?s)2 of 11 pictures.*gone.png: file not found.*broken.png: not a readable") as e:
        dm.setup()
    assert "ecg_0" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="picture folder not found"):
        PictureFolderDataModule(str(tmp_path / "nowhere")).setup()


def test_train_py_fine_tunes_on_a_folder_from_saved_weights(folder, tmp_path):
    """A checkpoint's network is loaded before fitting (init_from); a mismatched one is refused clearly."""
    from ecgcls.train import MultilabelClassifier
    from ecgcls.train.run import init_weights

    torch.manual_seed(0)
    src = MultilabelClassifier(net={"name": "pic2dx", "backbone": "resnet10t"}, classes=["NORM", "MI"])
    ckpt = tmp_path / "start.ckpt"
    torch.save({"state_dict": src.state_dict(), "hyper_parameters": dict(src.hparams)}, ckpt)
    dst = MultilabelClassifier(net={"name": "pic2dx", "backbone": "resnet10t"}, classes=["NORM", "MI"])
    init_weights(dst, ckpt)
    for a, b in zip(src.net.state_dict().values(), dst.net.state_dict().values()):
        assert torch.equal(a, b)
    other = MultilabelClassifier(net={"name": "pic2dx", "backbone": "resnet10t"}, classes=["A", "B", "C"])
    with pytest.raises(ValueError, match="do not fit model.net"):
        init_weights(other, ckpt)

    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "train.py", "model=pic2dx", "data=picture_folder", f"data.root={folder}",
                           "data.size=[64,80]", "trainer=fast_dev_run", f"init_from={ckpt}", f"hydra.run.dir={out}"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "initialised the network from" in proc.stderr + proc.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["sizes"] == {"train": 3, "val": 3, "test": 3} and m["test"]["n"] == 3
    assert np.isfinite(m["test"]["macro_f1"])
