"""Training and evaluating PPG → ECG reconstruction (``python train.py experiment=ppg2ecg_vit`` / ``_cnn1d``).

:class:`PPG2ECGModule` wraps a plain reconstruction network (:mod:`ecgcls.models.ppg2ecg`) with its loss (MSE)
and validation RMSE (torchmetrics). :func:`run_ppg2ecg` trains one model per subject-independent fold
(``ppg2ecg.folds``), tests each on its held-out subjects, and writes ``metrics.json``: RMSE, PRD, Pearson r and
the clinical errors (QRS area, PR, RT interval, RT amplitude; :func:`ecgcls.metrics.clinical_errors`) per
subject, their mean ± SD over subjects, the fold-to-fold SD, training times; plus ``recon_fold<k>.png`` (true vs
reconstructed windows of every test subject) and the first fold's model as a bundle (``<net name>.json`` +
``.safetensors``, loadable by ``ecgcls ppg2ecg --model``).
"""
from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path

import hydra
import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torchmetrics import MeanSquaredError

from ecgcls.models import create
from ecgcls.train.common import hydra_overrides

log = logging.getLogger(__name__)


class PPG2ECGModule(L.LightningModule):
    def __init__(self, net: dict, lr: float = 1e-3, weight_decay: float = 1e-4) -> None:
        super().__init__()
        self.save_hyperparameters()
        net = dict(net)
        self.net = create(net.pop("name"), **net)
        self.val_rmse = MeanSquaredError(squared=False)

    def forward(self, ppg: torch.Tensor) -> torch.Tensor:
        return self.net(ppg)

    def training_step(self, batch, _):
        x, y, _s = batch
        loss = F.mse_loss(self(x), y)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, _):
        x, y, _s = batch
        self.val_rmse.update(self(x), y)

    def on_validation_epoch_end(self) -> None:
        self.log("val/rmse", self.val_rmse.compute(), prog_bar=True)
        self.val_rmse.reset()

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        steps = max(1, int(self.trainer.estimated_stepping_batches))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.hparams.lr, total_steps=steps, pct_start=0.1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


@torch.no_grad()
def reconstruct(net: torch.nn.Module, ppg: torch.Tensor, batch: int = 256) -> np.ndarray:
    net.eval()
    return torch.cat([net(ppg[i:i + batch]) for i in range(0, len(ppg), batch)]).numpy()


def evaluate_windows(true: np.ndarray, pred: np.ndarray, subj: np.ndarray, names: list[str], fs: float) -> dict:
    """Per-subject means of RMSE, PRD, r and the clinical errors over that subject's test windows."""
    from ecgcls.metrics import clinical_errors, reconstruction_errors

    e = reconstruction_errors(true, pred)
    out = {}
    for s in np.unique(subj):
        k = subj == s
        row = {m: float(np.nanmean(v[k])) for m, v in e.items()}
        row["windows"] = int(k.sum())
        row["clinical"] = clinical_errors(true[k], pred[k], fs)
        out[names[int(s)]] = row
    return out


def summarise(per_subject: dict) -> dict:
    """Mean and SD over subjects of each metric (clinical: of each subject's mean absolute error)."""
    rows = list(per_subject.values())
    out = {}
    for m in ("rmse", "prd", "pearson_r"):
        v = np.array([r[m] for r in rows], float)
        out[m] = {"mean": float(np.nanmean(v)), "sd": float(np.nanstd(v)), "n_subjects": int(np.isfinite(v).sum())}
    for c in rows[0]["clinical"] if rows else []:
        v = np.array([np.nan if r["clinical"][c]["mae"] is None else r["clinical"][c]["mae"] for r in rows], float)
        out[c] = {"mean": float(np.nanmean(v)), "sd": float(np.nanstd(v)), "n_subjects": int(np.isfinite(v).sum()),
                  "measured_share": float(np.mean([r["clinical"][c]["measured_share"] for r in rows]))}
    return out


def plot_windows(true: np.ndarray, pred: np.ndarray, subj: np.ndarray, names: list[str], fs: float, path: Path,
                 per_subject: int = 3, title: str = "") -> Path:
    """True (black) vs reconstructed (red) ECG: ``per_subject`` evenly spaced test windows of every subject."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subjects = list(np.unique(subj))
    fig, axes = plt.subplots(len(subjects), per_subject, figsize=(4 * per_subject, 1.6 * len(subjects)),
                             squeeze=False, sharey=True)
    t = np.arange(true.shape[1]) / fs
    for r, s in enumerate(subjects):
        idx = np.flatnonzero(subj == s)
        for c, i in enumerate(idx[np.linspace(0, len(idx) - 1, per_subject).astype(int)]):
            ax = axes[r, c]
            ax.plot(t, true[i], "k", lw=0.8)
            ax.plot(t, pred[i], "r", lw=0.8, alpha=0.85)
            ax.set_xticks([]) if r < len(subjects) - 1 else ax.set_xlabel("s")
            if c == 0:
                ax.set_ylabel(names[int(s)].replace("bidmc_", "#"), fontsize=8)
    fig.suptitle(title or "ECG: true (black) vs reconstructed from PPG (red)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def run_ppg2ecg(cfg: DictConfig) -> dict:
    """Train and test one model per fold in ``cfg.ppg2ecg.folds`` (see module doc)."""
    from ecgcls.jsonsafe import json_safe
    from ecgcls.predict.bundle import save_bundle
    from ecgcls.train.common import stage_trainer

    t_all = time.time()
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folds = list(cfg.ppg2ecg.folds) if cfg.data.protocol == "subject" else [0]
    result: dict = {"seed": cfg.seed, "model": cfg.model.net.name,
                    "net": OmegaConf.to_container(cfg.model.net, resolve=True),
                    "protocol": cfg.data.protocol, "folds": {}, "per_subject": {}, "torch": torch.__version__,
                    "host": platform.node()}
    for k in folds:
        L.seed_everything(int(cfg.seed) + int(k), workers=True)
        dm = hydra.utils.instantiate(cfg.data, fold=int(k))
        dm.setup()
        model = hydra.utils.instantiate(cfg.model)
        trainer, _ = stage_trainer(cfg, out_dir / f"fold{k}", f"fold{k}")
        t0 = time.time()
        trainer.fit(model, datamodule=dm)
        fit_s = time.time() - t0
        ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if ckpt:
            model = PPG2ECGModule.load_from_checkpoint(ckpt, weights_only=False)
        x, y, s = dm.tensors["test"].tensors
        pred = reconstruct(model.net, x)
        per = evaluate_windows(y.numpy(), pred, s.numpy(), dm.subjects, dm.fs)
        result["per_subject"].update(per)
        result["folds"][str(k)] = {"fit_seconds": round(fit_s, 1), "epochs": trainer.current_epoch,
                                   "best_checkpoint": ckpt, "data": dm.describe(), "summary": summarise(per)}
        plot_windows(y.numpy(), pred, s.numpy(), dm.subjects, dm.fs, out_dir / f"recon_fold{k}.png",
                     title=f"{cfg.model.net.name}, {cfg.data.protocol} protocol, fold {k}: true (black) vs "
                           f"reconstructed (red)")
        log.info("fold %s: RMSE %.3f, PRD %.1f, r %.3f (%d test subjects, %.0f s fit)", k,
                 *(result["folds"][str(k)]["summary"][m]["mean"] for m in ("rmse", "prd", "pearson_r")), len(per), fit_s)
        if k == folds[0]:
            card = {"task": "PPG -> ECG lead II (BIDMC, 125 Hz, per-window min-max normalised)",
                    "trained_on": dm.split_subjects["train"], "validated_on": dm.split_subjects["val"],
                    "held_out": dm.split_subjects["test"], "fold": int(k), "protocol": cfg.data.protocol,
                    "test_summary": result["folds"][str(k)]["summary"], "seed": int(cfg.seed) + int(k),
                    "command": "python train.py " + " ".join(hydra_overrides()),
                    "limits": "Reconstructs the shape of lead II from fingertip PPG of BIDMC's ICU patients; amplitude "
                              "is in per-window normalised units (not mV); not validated on wearables or "
                              "arrhythmias; research only."}
            save_bundle(out_dir / str(cfg.model.net.name), model.net.state_dict(),
                        {"net": OmegaConf.to_container(cfg.model.net, resolve=True), "input": "ppg",
                         "ppg": {"fs": dm.fs, "length": dm.length, "normalise": "minmax"}, "card": card})
    result["summary"] = summarise(result["per_subject"])
    fold_means = {m: [f["summary"][m]["mean"] for f in result["folds"].values()] for m in ("rmse", "prd", "pearson_r")}
    result["fold_to_fold_sd"] = {m: float(np.std(v)) for m, v in fold_means.items()}
    result["n_params"] = int(sum(p.numel() for p in model.net.parameters()))
    result["wall_seconds"] = round(time.time() - t_all, 1)
    (out_dir / "metrics.json").write_text(json.dumps(json_safe(result), indent=1))
    s = result["summary"]
    log.info("all test subjects (n=%d): RMSE %.3f ± %.3f, PRD %.1f ± %.1f, r %.3f ± %.3f", s["rmse"]["n_subjects"],
             s["rmse"]["mean"], s["rmse"]["sd"], s["prd"]["mean"], s["prd"]["sd"], s["pearson_r"]["mean"],
             s["pearson_r"]["sd"])
    return result

