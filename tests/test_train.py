"""End-to-end: train.py's Hydra entry point with fast_dev_run, CSV and offline W&B loggers."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_train(tmp_path: Path, cache_dir: Path, *overrides: str) -> Path:
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["WANDB_SILENT"] = "true"
    cmd = [sys.executable, "train.py", "trainer=fast_dev_run", f"paths.cache_dir={cache_dir}",
           f"hydra.run.dir={out}", *overrides]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_fast_dev_run_writes_metrics_and_roc(tmp_path, ptbxl_root, cache_dir):
    out = run_train(tmp_path, cache_dir, "model=cnn1d", "data=ptbxl_mini", f"data.root={ptbxl_root}", "seed=7")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seed"] == 7
    assert metrics["data"]["classes"] == ["NORM", "MI", "STTC", "CD", "HYP"]
    assert metrics["data"]["folds"] == {"train": [10], "val": [8, 9], "test": [1, 2, 3, 4, 5, 6, 7]}
    assert set(metrics["test"]["per_class"]) == {"NORM", "MI", "STTC", "CD", "HYP"}
    assert (out / "roc_test.png").stat().st_size > 5000
    split = json.loads((out / "split.json").read_text())
    assert not set(split["split_ids"]["train"]) & set(split["split_ids"]["test"])
    assert (out / ".hydra" / "config.yaml").is_file()  # full config, seed included, recorded by Hydra


def test_wandb_logger_runs_offline(tmp_path, ptbxl_root, cache_dir):
    pytest.importorskip("wandb")
    out = run_train(tmp_path, cache_dir, "logger=wandb", "data=ptbxl_mini", f"data.root={ptbxl_root}")
    runs = list((out / "wandb").glob("offline-run-*"))
    assert runs, f"no offline W&B run under {out / 'wandb'}"
    assert (out / "metrics.json").is_file()


@pytest.mark.parametrize("experiment", ["cnn1d_gpu", "patchecg_gpu"])
def test_the_full_ptbxl_path_runs_on_the_pack_laid_out_as_the_download(tmp_path, ptbxl_root, cache_dir, experiment):
    """`python train.py experiment=<model>_gpu data.root=<PTB-XL download>`, one batch on CPU with the pack as the
    download: one source, PTB-XL's recommended folds, nothing that assumes the pack's split."""
    out = run_train(tmp_path, cache_dir, f"experiment={experiment}", f"data.root={ptbxl_root}", "trainer=fast_dev_run",
                    "data.digitized=null", "data.digitized_prob=0", "data.num_workers=0", "data.pin_memory=false",
                    "layout_eval=false")
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["folds"] == {"train": [1, 2, 3, 4, 5, 6, 7, 8], "val": [9], "test": [10]}
    assert [s["name"] for s in m["data"]["sources"]] == ["ptbxl"] and m["data"]["root"] == str(ptbxl_root)
    assert m["data"]["sizes"]["test"] > 1000  # the pack's fold 10 is the test fold under PTB-XL's split
    assert m["command"].startswith("python train.py ") and f" experiment={experiment} " in m["command"]
    assert m["test"]["n"] > 0


def test_the_default_data_is_the_pack_and_the_extra_records(tmp_path):
    """train.py's default data: two sources, the pack's test folds, every extra record in training."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.root_dir={REPO}", "paths.output_dir=/tmp/unused"])
    c = OmegaConf.to_container(cfg.data, resolve=True)
    assert c["root"] is None and c["archive"] is None
    assert [(s["name"], s["folds"]) for s in c["sources"]] == [
        ("pack", {"train": [10], "val": [8, 9], "test": [1, 2, 3, 4, 5, 6, 7]}),
        ("extra", {"train": [1, 2, 3, 4, 5, 6, 7]})]
    assert [Path(s["archive"]).name for s in c["sources"]] == ["ptbxl-mini.tar.xz", "ptbxl-extra.tar.xz"]


def test_bad_config_is_rejected(tmp_path, cache_dir):
    proc = subprocess.run([sys.executable, "train.py", "model=nonexistent", f"hydra.run.dir={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "nonexistent" in proc.stderr + proc.stdout


def test_eval_reproduces_the_test_score_of_a_checkpoint(tmp_path, ptbxl_root, cache_dir):
    """eval.py on the best checkpoint of a (tiny) run gives the same test AUROC, plus the per-layout table."""
    small = ["model=patchecg", "model.net.d_model=32", "model.net.depth=1", "model.net.heads=2", "data=ptbxl_mini",
             f"data.root={ptbxl_root}",
             "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1", "callbacks=default", "layout_eval=false"]
    out = run_train(tmp_path, cache_dir, "trainer=cpu", "trainer.max_epochs=1", *small)
    trained = json.loads((out / "metrics.json").read_text())
    ckpt = trained["best_checkpoint"]
    assert ckpt and Path(ckpt).is_file()
    ev = tmp_path / "eval"
    cmd = [sys.executable, "eval.py", f"paths.cache_dir={cache_dir}", f"hydra.run.dir={ev}", f"ckpt_path={ckpt}",
           *small[:-1], "layout_eval=true"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    m = json.loads((ev / "metrics.json").read_text())
    assert m["test"]["macro_auroc"] == pytest.approx(trained["test"]["macro_auroc"], abs=1e-6)
    conds = m["layouts"]["conditions"]
    assert {"12x1", "3x4", "cabrera", "blackout50"} <= set(conds)
    ci = conds["3x4"]["per_class_ci95"]["NORM"]
    assert ci[0] <= conds["3x4"]["per_class"]["NORM"] <= ci[1]
    assert (ev / "layout_auroc.png").is_file()


def test_eval_needs_a_checkpoint(tmp_path, cache_dir):
    proc = subprocess.run([sys.executable, "eval.py", f"hydra.run.dir={tmp_path}", "ckpt_path=/nonexistent.ckpt",
                           f"paths.cache_dir={cache_dir}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "nonexistent.ckpt" in proc.stderr + proc.stdout


def test_bootstrap_auroc_agrees_with_torchmetrics():
    """The vectorised rank AUROC behind the bootstrap intervals equals torchmetrics' AUROC (ties included)."""
    import numpy as np

    from ecgcls import metrics as M

    rng = np.random.default_rng(0)
    y = (rng.random((300, 3)) < 0.1).astype(int)
    p = np.round(rng.random((300, 3)) + 0.5 * y, 1)  # rounded: many ties
    assert np.allclose(M._rank_auroc(p.T, y.T), M.per_class_auroc(p, y), atol=1e-6)
    ci = M.bootstrap_auroc_ci(p, y, n_boot=200)
    assert ((ci[:, 0] <= M.per_class_auroc(p, y)) & (M.per_class_auroc(p, y) <= ci[:, 1])).all()
    lo, hi = M.bootstrap_macro_auroc_ci(p, y, n_boot=200)
    assert lo <= M.macro_auroc(p, y) <= hi < 1.0
    small = M.bootstrap_macro_auroc_ci(p[:60], y[:60], n_boot=200)  # a fifth of the records: a wider interval
    assert small[1] - small[0] > hi - lo
    assert M.bootstrap_macro_auroc_ci(y.astype(float), y, n_boot=50) == (1.0, 1.0)  # a perfect ranking


def test_paired_bootstrap_of_a_difference():
    """The paired interval of macro AUROC(b) - macro AUROC(a): 0 for a model against itself, above 0 for a model
    that ranks better, negated when the two are swapped."""
    import numpy as np

    from ecgcls import metrics as M

    rng = np.random.default_rng(1)
    y = (rng.random((400, 3)) < 0.2).astype(int)
    weak = rng.random((400, 3)) + 0.3 * y
    strong = rng.random((400, 3)) + 1.0 * y
    assert M.bootstrap_macro_auroc_diff_ci(weak, weak, y, n_boot=200) == (0.0, 0.0, 0.0)
    d, lo, hi = M.bootstrap_macro_auroc_diff_ci(weak, strong, y, n_boot=200)
    assert d == pytest.approx(M.macro_auroc(strong, y) - M.macro_auroc(weak, y)) and 0 < lo <= d <= hi
    d2, lo2, hi2 = M.bootstrap_macro_auroc_diff_ci(strong, weak, y, n_boot=200)
    assert (d2, lo2, hi2) == pytest.approx((-d, -hi, -lo))


@pytest.mark.parametrize("experiment", ["pic2dx_curriculum", "pic2dx_curriculum_gpu", "patchecg_digitized",
                                        "cnn1d_digitized", "rhythm", "cnn1d_foreign", "rhythm_foreign",
                                        "pic2dx_foreign", "patchecg_foreign", "cnn1d_gpu", "patchecg_gpu",
                                        "rhythm_gpu"])
def test_experiment_configs_compose(experiment):
    """Every experiment composes and names real components (configs that are not trained in CI included)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}", f"paths.root_dir={REPO}",
                                          "paths.output_dir=/tmp/unused"])
    c = OmegaConf.to_container(cfg, resolve=False)
    assert c["data"]["_target_"].startswith("ecgcls.data.") and c["model"]["_target_"] == "ecgcls.train.MultilabelClassifier"
    if experiment.startswith("pic2dx_curriculum"):
        import timm

        assert all(b in timm.list_models() for b in c["curriculum"]["backbones"])
        assert len(c["curriculum"]["backbones"]) == 3
    if experiment.endswith("_gpu"):
        assert c["trainer"]["accelerator"] == "gpu" and c["data"]["folds"]["test"] == [10]


def test_curriculum_stages_use_the_runs_logger_and_callbacks(tmp_path):
    """Each curriculum stage is an ordinary config-composed trainer: the logger= and callbacks= groups apply,
    with their folders moved under the stage's folder."""
    from hydra import compose, initialize_config_dir
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    from ecgcls.train.run import stage_trainer

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=pic2dx_curriculum", "logger=wandb", f"paths.root_dir={REPO}",
                                          f"paths.output_dir={tmp_path}", "callbacks.early_stopping.patience=2"])
    stage = tmp_path / "resnet10t" / "stage1_mask"
    trainer, callbacks = stage_trainer(cfg, stage, "resnet10t-stage1_mask", max_epochs=3)
    assert trainer.max_epochs == 3
    csv = next(lg for lg in trainer.loggers if isinstance(lg, CSVLogger))
    assert Path(csv.save_dir) == stage
    assert any(isinstance(lg, WandbLogger) for lg in trainer.loggers)
    ck = next(c for c in callbacks if isinstance(c, ModelCheckpoint))
    assert Path(ck.dirpath) == stage / "checkpoints" and ck.monitor == "val/auroc"
    assert next(c for c in callbacks if isinstance(c, EarlyStopping)).patience == 2
