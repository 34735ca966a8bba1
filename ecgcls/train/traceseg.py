"""Training the trace segmentation network (``python train.py experiment=trace_seg``).

:class:`TraceSegModule` wraps the plain network with its loss (BCE + soft Dice per channel) and metrics
(torchmetrics F1 and IoU of the trace and pulse channels at 0.5); :func:`run_trace_seg` fits it and writes the
best weights as ``traceseg.safetensors`` + ``traceseg.json`` (architecture, settings, validation metrics,
records used, seed, time) — the bundle format the digitizer loads with ``ink=net``.
"""
from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path

import hydra
import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torchmetrics.classification import BinaryF1Score, BinaryJaccardIndex

from ecgcls.models import create
from ecgcls.models.traceseg import CHANNELS
from ecgcls.train.common import hydra_overrides

log = logging.getLogger(__name__)


class TraceSegModule(L.LightningModule):
    def __init__(self, net: dict, lr: float = 3e-3, weight_decay: float = 1e-4, pos_weight: float = 3.0,
                 dice_weight: float = 1.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        net = dict(net)
        self.net = create(net.pop("name", "traceseg"), **net)
        self.channels = tuple(getattr(self.net, "channels", CHANNELS))
        self.f1 = torch.nn.ModuleList([BinaryF1Score() for _ in self.channels])
        self.iou = torch.nn.ModuleList([BinaryJaccardIndex() for _ in self.channels])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        pw = torch.tensor(self.hparams.pos_weight, device=logits.device)
        bce = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw)
        p = torch.sigmoid(logits)
        inter = (p * y).sum((0, 2, 3))
        dice = 1 - (2 * inter + 1) / (p.sum((0, 2, 3)) + y.sum((0, 2, 3)) + 1)
        return bce + self.hparams.dice_weight * dice.mean()

    def training_step(self, batch, _):
        x, y = batch
        loss = self._loss(self(x), y)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        logits = self(x)
        self.log("val/loss", self._loss(logits, y), prog_bar=True)
        p = torch.sigmoid(logits)
        for c in range(len(self.channels)):
            self.f1[c].update(p[:, c].reshape(-1), y[:, c].reshape(-1).int())
            self.iou[c].update(p[:, c].reshape(-1), y[:, c].reshape(-1).int())

    def on_validation_epoch_end(self) -> None:
        for c, name in enumerate(self.channels):
            self.log(f"val/f1_{name}", self.f1[c].compute(), prog_bar=c == 0)
            self.log(f"val/iou_{name}", self.iou[c].compute())
            self.f1[c].reset()
            self.iou[c].reset()

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        steps = self.trainer.estimated_stepping_batches
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.hparams.lr, total_steps=max(1, int(steps)), pct_start=0.1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def save_trace_net(net: torch.nn.Module, net_cfg: dict, path: str | Path, card: dict) -> Path:
    """Write ``path.safetensors`` (fp32 weights) and ``path.json`` (network kwargs, output channels, card)."""
    from safetensors.torch import save_file

    path = Path(path).with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(path) + ".safetensors")
    Path(str(path) + ".json").write_text(json.dumps({"format": "ecgcls-traceseg-1", "net": net_cfg,
                                                     "channels": list(getattr(net, "channels", CHANNELS)),
                                                     "card": card}, indent=1))
    return Path(str(path) + ".safetensors")


def run_trace_seg(cfg: DictConfig) -> dict:
    """Fit the trace segmentation network; write metrics.json and the weights bundle into the run folder."""
    t0 = time.time()
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True)
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup("fit")
    model = hydra.utils.instantiate(cfg.model)
    if cfg.get("init_from"):  # fine-tune a bundled network (same architecture) on the current randomization
        from ecgcls.digitize.segment import load_trace_net

        model.net.load_state_dict(load_trace_net(Path(cfg.init_from).with_suffix(".safetensors"))[0].state_dict())
    loggers = [hydra.utils.instantiate(v) for v in (cfg.get("logger") or {}).values() if "_target_" in v]
    callbacks = [hydra.utils.instantiate(v) for v in (cfg.get("callbacks") or {}).values() if "_target_" in v]
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    trainer.fit(model, datamodule=dm, ckpt_path=cfg.get("ckpt_path"))
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best:
        model = TraceSegModule.load_from_checkpoint(best, weights_only=False)
    val = trainer.validate(model, datamodule=dm)[0]
    net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
    desc = dm.describe()
    name = str(cfg.get("bundle_name") or "traceseg")
    card = {"command": "python train.py " + " ".join(hydra_overrides() or ["experiment=trace_seg"]),
            "validation": {k: round(float(v), 4) for k, v in val.items()},
            "data": {k: v for k, v in desc.items() if k != "record_ids"},
            "seed": int(cfg.seed), "epochs": int(trainer.current_epoch), "init_from": cfg.get("init_from"),
            "fit_seconds": round(time.time() - t0, 1),
            "torch": torch.__version__, "host": platform.node(), "checkpoint": best}
    bundle = save_trace_net(model.net, net_cfg, out / name, card)
    if name == "traceseg":  # the digitizer runs it with onnxruntime where the graph of these weights is beside them
        from ecgcls.digitize.segment import export_trace_onnx

        try:
            log.info("%s: onnxruntime agrees with PyTorch to %.1e", *export_trace_onnx(bundle))
        except ValueError as exc:  # onnx not installed, or the graph disagrees: the digitizer uses PyTorch
            log.warning("no ONNX graph written beside %s: %s", bundle, exc)
    result = {**card, "bundle": str(bundle), "record_ids": desc["record_ids"]}
    (out / "metrics.json").write_text(json.dumps(result, indent=1))
    log.info("%s: %s; bundle %s", name, card["validation"], bundle)
    return result
