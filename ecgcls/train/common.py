"""Pieces every training job shares — the plain job (:mod:`ecgcls.train.run`) and the multi-stage ones (the
curriculum, PPG→ECG, the trace network): a stage's trainer from the run's own logger and callbacks, W&B offline by
default, the run's command-line overrides, starting a network from saved weights. Below all of them, so that
``run`` can dispatch to the others without an import circle."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def _instantiate_group(cfg: DictConfig | None) -> list:
    out = []
    for _, sub in (cfg or {}).items():
        if isinstance(sub, DictConfig) and "_target_" in sub:
            out.append(hydra.utils.instantiate(sub))
    return out


def stage_trainer(cfg: DictConfig, out_dir: Path, stage: str, **trainer_kw) -> tuple[L.Trainer, list]:
    """A trainer for one stage of a multi-stage run (the curriculum), built from the run's own ``logger`` and
    ``callbacks`` groups with their folders moved under ``out_dir`` (CSV logs, checkpoints) and the W&B run
    named after the stage. Returns (trainer, callbacks)."""
    from omegaconf import open_dict

    groups = {}
    for key, moved in (("logger", ("save_dir",)), ("callbacks", ("dirpath",))):
        g = OmegaConf.create(OmegaConf.to_container(cfg.get(key) or {}, resolve=True))
        with open_dict(g):
            for _, sub in g.items():
                for field in moved:
                    if isinstance(sub, DictConfig) and field in sub:
                        sub[field] = str(out_dir / ("checkpoints" if field == "dirpath" else ""))
                if isinstance(sub, DictConfig) and "WandbLogger" in str(sub.get("_target_", "")):
                    sub["name"] = f"{sub.get('name') or Path(str(cfg.paths.output_dir)).name}/{stage}"
                    sub["save_dir"] = str(cfg.paths.output_dir)
        groups[key] = g
    loggers = _instantiate_group(groups["logger"])
    callbacks = _instantiate_group(groups["callbacks"])
    trainer = hydra.utils.instantiate(cfg.trainer, default_root_dir=str(out_dir), logger=loggers or False,
                                      callbacks=callbacks, **trainer_kw)
    return trainer, callbacks


def _configure_wandb(cfg: DictConfig) -> None:
    """W&B runs offline unless the config turns it online; never touch the network otherwise."""
    wb = (cfg.get("logger") or {}).get("wandb")
    if wb is None:
        return
    if wb.get("offline", True):
        os.environ["WANDB_MODE"] = "offline"
    elif not os.environ.get("WANDB_API_KEY"):
        raise RuntimeError("logger.wandb.offline=false needs WANDB_API_KEY in the environment "
                           "(or keep the default offline mode and `wandb sync` later)")


def hydra_overrides() -> list[str]:
    """The command-line overrides of the current Hydra run (what a model card's ``command`` must repeat), or []
    outside one (tests)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except Exception:  # noqa: BLE001 — outside a Hydra run
        return []


def init_weights(model, path: str | Path) -> None:
    """Start ``model`` (a LightningModule with ``.net``) from the network weights in a training checkpoint
    (``.ckpt``) or a weights bundle (a bundled name such as ``cnn1d``, or a bundle's ``.json``/``.safetensors``):
    fine-tuning. The architectures must match."""
    from ecgcls.predict.bundle import BUNDLES, read_bundle

    path = Path(path)
    if str(path) in BUNDLES or path.suffix in (".json", ".safetensors"):
        _, state, _ = read_bundle(path)
        ck = {"format": 2, "state_dict": state}
    elif not path.is_file():
        raise FileNotFoundError(f"init_from={path}: file not found")
    else:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ck, dict) or "state_dict" not in ck:
        raise ValueError(f"init_from={path}: not a training checkpoint or a weights bundle")
    if "format" in ck:  # a bundle: the bare network, maybe in half precision
        state = {k: (v.float() if v.is_floating_point() else v) for k, v in ck["state_dict"].items()}
    else:
        state = {k[len("net."):]: v for k, v in ck["state_dict"].items() if k.startswith("net.")}
    try:
        model.net.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"init_from={path}: its weights do not fit model.net (same network and number of classes "
                         f"needed): {str(exc).splitlines()[0]}") from exc
    log.info("initialised the network from %s", path)
