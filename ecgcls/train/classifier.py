"""LightningModule for multi-label ECG classification around any registered model."""
from __future__ import annotations

from typing import Any, Sequence

import lightning as L
import numpy as np
import torch

import torch.nn.functional as F

from ecgcls import metrics as M
from ecgcls.data.transforms import fill_missing
from ecgcls.models import create


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 1.0, gamma: float = 2.0) -> torch.Tensor:
    """Multi-label focal loss (mean over elements)."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = torch.exp(-bce)
    return (alpha * (1 - p_t) ** gamma * bce).mean()


class MultilabelClassifier(L.LightningModule):
    """Wraps ``ecgcls.models.create(net["name"], num_classes=..., **net)`` with loss, metrics and optimiser.

    * validation: macro AUROC (``val/auroc``, the checkpoint monitor) and per-class thresholds
      that maximise F1, stored in the ``thresholds`` buffer so they travel with the checkpoint;
    * test: a full :func:`ecgcls.metrics.report` in ``self.test_report`` using the validation thresholds.
    """

    def __init__(self, net: dict[str, Any], classes: Sequence[str], lr: float = 1e-3, weight_decay: float = 1e-4,
                 loss: str = "bce", focal_gamma: float = 2.0, scheduler: str = "onecycle",
                 plateau_patience: int = 10, input_fill: str = "none") -> None:
        super().__init__()
        self.save_hyperparameters()
        net = dict(net)
        name = net.pop("name")
        self.classes = list(classes)
        self.net = create(name, num_classes=len(self.classes), **net)
        self.register_buffer("thresholds", torch.full((len(self.classes),), 0.5))
        self._outs: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"val": [], "test": []}
        self.test_report: dict | None = None
        self.test_probs: np.ndarray | None = None
        self.test_targets: np.ndarray | None = None

    # -- inputs ---------------------------------------------------------------------------------
    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """Fill missing (NaN) samples for models that cannot take them: 'zero', 'interp' or 'none'."""
        return fill_missing(x, self.hparams.input_fill)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.prepare_input(x))

    def loss_fn(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.hparams.loss == "focal":
            return focal_loss(logits, y, gamma=self.hparams.focal_gamma)
        if self.hparams.loss == "bce":
            return F.binary_cross_entropy_with_logits(logits, y)
        raise ValueError(f"unknown loss {self.hparams.loss!r}; use 'bce' or 'focal'")

    # -- steps ----------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(y))
        return loss

    def _eval_step(self, batch, stage: str):
        x, y = batch
        logits = self(x)
        self.log(f"{stage}/loss", self.loss_fn(logits, y), on_epoch=True, batch_size=len(y))
        self._outs[stage].append((torch.sigmoid(logits).detach().float().cpu(), y.detach().cpu()))

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def _collect(self, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        outs = self._outs[stage]
        self._outs[stage] = []
        p = torch.cat([o[0] for o in outs])
        y = torch.cat([o[1] for o in outs])
        return self.all_gather(p).reshape(-1, p.shape[-1]).cpu(), self.all_gather(y).reshape(-1, y.shape[-1]).cpu()

    def on_validation_epoch_end(self) -> None:
        if not self._outs["val"]:
            return
        p, y = self._collect("val")
        auc = M.macro_auroc(p, y)
        self.log("val/auroc", auc if np.isfinite(auc) else 0.0, prog_bar=True, sync_dist=False)
        self.thresholds.copy_(torch.as_tensor(M.choose_thresholds(p, y), dtype=self.thresholds.dtype))

    def on_test_epoch_end(self) -> None:
        p, y = self._collect("test")
        self.test_probs, self.test_targets = p.numpy(), y.numpy()
        self.test_report = M.report(p, y, self.classes, self.thresholds.cpu().numpy())
        if self.test_report["macro_auroc"] is not None:
            self.log("test/auroc", self.test_report["macro_auroc"])
        self.log("test/f1", self.test_report["macro_f1"])

    # -- optimisation ---------------------------------------------------------------------------
    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        sched = self.hparams.scheduler
        if sched == "none":
            return opt
        if sched == "onecycle":
            steps = self.trainer.estimated_stepping_batches
            s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.hparams.lr, total_steps=int(steps), pct_start=0.2)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "interval": "step"}}
        if sched == "plateau":
            s = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.1,
                                                           patience=self.hparams.plateau_patience)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "monitor": "val/auroc"}}
        raise ValueError(f"unknown scheduler {sched!r}; use onecycle, plateau or none")

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        self.eval()
        with torch.no_grad():
            return torch.sigmoid(self(x))


