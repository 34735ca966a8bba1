"""The training job behind ``train.py``: instantiate from a Hydra config, fit, test, write results."""
from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from ecgcls import metrics as M
from ecgcls.train.common import (_configure_wandb, _instantiate_group, hydra_overrides, init_weights,  # noqa: F401
                                 stage_trainer)  # (re-exported: their old home)

log = logging.getLogger(__name__)


def _setup(cfg: DictConfig):
    """Seeded datamodule (with the masking strategy as train/eval transform), model, loggers, callbacks, trainer."""
    L.seed_everything(cfg.seed, workers=True)
    _configure_wandb(cfg)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    masker = hydra.utils.instantiate(cfg.masking) if cfg.get("masking") else None
    # masked training: train on simulated layouts/blackouts; validate on the same mix, fixed by eval_seed
    dm = hydra.utils.instantiate(cfg.data)
    dm.train_transform = dm.eval_transform = masker  # (set after: hydra would turn a dataclass into a config)
    dm.prepare_data()
    dm.setup("fit")
    model = hydra.utils.instantiate(cfg.model, classes=dm.classes)
    if cfg.get("init_from"):
        init_weights(model, cfg.init_from)
    loggers = _instantiate_group(cfg.get("logger"))
    callbacks = _instantiate_group(cfg.get("callbacks"))
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    return dm, model, trainer


def _describe(cfg: DictConfig, dm) -> dict:
    result: dict = {"seed": cfg.seed, "masking": OmegaConf.to_container(cfg.masking) if cfg.get("masking") else {},
                    "data": dm.describe(), "model": cfg.model.net.name if "net" in cfg.model else str(cfg.model._target_),
                    "torch": torch.__version__, "host": platform.node(),
                    "command": " ".join(["python train.py", *hydra_overrides()])}
    result["data"].pop("split_ids")
    return result


def _test_and_report(cfg: DictConfig, trainer: L.Trainer, model, dm, ckpt: str | None, out_dir: Path,
                     result: dict) -> None:
    """Test ``ckpt`` (or the model as it is), then the ROC plot and, if asked, the per-layout table."""
    trainer.test(model, datamodule=dm, ckpt_path=ckpt, weights_only=False)
    result["best_checkpoint"] = ckpt
    result["test"] = model.test_report
    M.plot_roc(model.test_probs, model.test_targets, dm.classes, out_dir / "roc_test.png",
               title=f"test ROC ({result['model']}, macro AUROC {model.test_report['macro_auroc']:.3f})"
               if model.test_report["macro_auroc"] is not None else "test ROC")
    if cfg.get("layout_eval"):
        from ecgcls.train.layout_eval import evaluate_layouts, save_layout_report

        result["layouts"] = evaluate_layouts(model, dm, "test", predictions_to=out_dir / "layout_predictions.npz")
        save_layout_report(result["layouts"], out_dir, result["model"])
        log.info("per-layout test macro AUROC: %s (spread %.4f)",
                 {k: round(v["macro_auroc"], 4) for k, v in result["layouts"]["conditions"].items()},
                 result["layouts"]["spread"])


def _write(result: dict, out_dir: Path, t0: float) -> dict:
    result["wall_seconds"] = round(time.time() - t0, 1)
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=1))
    log.info("wrote %s", out_dir / "metrics.json")
    if "test" in result:
        log.info("test macro AUROC %.4f, macro F1 %.4f (n=%d)", result["test"]["macro_auroc"] or float("nan"),
                 result["test"]["macro_f1"], result["test"]["n"])
    return result


def train(cfg: DictConfig) -> dict:
    """Fit ``cfg.model`` on ``cfg.data``, test the best checkpoint, write metrics.json + roc.png.

    Returns the metrics dict that is also written to ``<output_dir>/metrics.json``.
    """
    if cfg.get("trace_seg"):
        from ecgcls.train.traceseg import run_trace_seg

        return run_trace_seg(cfg)
    if cfg.get("ppg2ecg"):
        from ecgcls.train.ppg2ecg import run_ppg2ecg

        return run_ppg2ecg(cfg)
    if cfg.get("curriculum"):
        from ecgcls.train.curriculum import run_curriculum

        return run_curriculum(cfg)
    t0 = time.time()
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dm, model, trainer = _setup(cfg)
    trainer.fit(model, datamodule=dm, ckpt_path=cfg.get("ckpt_path"))
    result = _describe(cfg, dm)
    result["fit_seconds"] = round(time.time() - t0, 1)
    dm.save_split(out_dir / "split.json")
    if cfg.get("test"):
        ckpt = None
        if not trainer.fast_dev_run and trainer.checkpoint_callback is not None:
            ckpt = trainer.checkpoint_callback.best_model_path or None
        _test_and_report(cfg, trainer, model, dm, ckpt, out_dir, result)
    return _write(result, out_dir, t0)


def evaluate(cfg: DictConfig) -> dict:
    """Test a saved checkpoint (``cfg.ckpt_path``) under the same config: metrics.json, ROC and, with
    ``layout_eval``, the per-layout table. Behind ``eval.py``."""
    ckpt = cfg.get("ckpt_path")
    if not ckpt or not Path(ckpt).is_file():
        raise FileNotFoundError(f"eval needs ckpt_path=<a checkpoint file>; got {ckpt!r}")
    t0 = time.time()
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dm, model, trainer = _setup(cfg)
    result = _describe(cfg, dm)
    dm.save_split(out_dir / "split.json")
    _test_and_report(cfg, trainer, model, dm, str(ckpt), out_dir, result)
    return _write(result, out_dir, t0)
