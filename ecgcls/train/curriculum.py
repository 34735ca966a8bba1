"""Pic2Diagnosis curriculum: per backbone, stage 1 on rendered trace masks, stage 2 on grayscale inverted
pictures (initialised from stage 1); then the probability-averaging ensemble, saved as one checkpoint.

Also measures the ablation on the same held-out pictures: mask-only (stage 1 model on pictures),
fine-tune-only (pictures from scratch, when ``curriculum.ablation``), curriculum, and the ensemble.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import hydra
import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from ecgcls import metrics as M

log = logging.getLogger(__name__)


@torch.no_grad()
def predict_dataset(module, ds, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    module.eval()
    ps, ys = [], []
    for x, y in DataLoader(ds, batch_size=batch_size, shuffle=False):
        ps.append(torch.sigmoid(module(x.to(module.device))).float().cpu())
        ys.append(y)
    return torch.cat(ps).numpy(), torch.cat(ys).numpy()


def _fit(cfg: DictConfig, model, dm, stage: str, epochs: int, out: Path):
    """Fit one stage with the run's own ``logger``/``callbacks`` groups (folders under ``out``) and load its best
    (val/auroc) weights back into ``model`` (the last weights when no checkpoint callback is configured)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from ecgcls.train.common import stage_trainer

    dm.stage = stage
    model.train()  # Lightning keeps the modes it finds; scoring the previous stage left the model in eval mode
    trainer, callbacks = stage_trainer(cfg, out, f"{out.parent.name}-{out.name}", max_epochs=epochs)
    trainer.fit(model, datamodule=dm)
    ckpt = next((c for c in callbacks if isinstance(c, ModelCheckpoint) and c.monitor == "val/auroc"), None)
    if ckpt is not None and ckpt.best_model_path:
        state = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=False)["state_dict"]
        model.load_state_dict(state)
    if "wandb" in sys.modules:  # one W&B run per stage
        import wandb

        if wandb.run is not None:
            wandb.finish()
    return model


def _score(model, dm, split: str = "test") -> dict:
    """Macro AUROC on the split's pictures, and macro F1 at thresholds chosen on the validation pictures."""
    dm.stage = "picture"
    pv, yv = predict_dataset(model, dm.dataset("val"))
    p, y = predict_dataset(model, dm.dataset(split))
    f1 = M.report(p, y, dm.classes, M.choose_thresholds(pv, yv))["macro_f1"]
    return {"macro_auroc": round(M.macro_auroc(p, y), 4), "f1": round(float(f1), 4), "probs": p, "targets": y}


def _per_layout(dm, probs: np.ndarray, targets: np.ndarray) -> dict:
    """Macro AUROC per printed layout of the test pictures."""
    lay = np.array([dm.images.layout(i) for i in dm.splits["test"]])
    return {name: {"n": int((lay == name).sum()),
                   "macro_auroc": round(M.macro_auroc(probs[lay == name], targets[lay == name]), 4)}
            for name in sorted(set(lay))}


def _ablation_backbones(cur) -> list[str]:
    abl = cur.get("ablation")
    if abl is True:
        return list(cur.backbones)
    if not abl or isinstance(abl, str):
        return []
    return [b for b in cur.backbones if b in list(abl)]


def ablation_markdown(result: dict) -> str:
    """The curriculum's metrics.json as two Markdown tables: stages per backbone (macro AUROC and F1 on the
    same test pictures) and macro AUROC per printed layout (each member's curriculum model and the ensemble)."""
    table, per_layout = result["ablation_macro_auroc"], result["per_layout"]

    def cell(row: dict, key: str) -> str:
        return f"{row[key]:.3f} ({row[key + '_f1']:.2f})" if key in row else "–"

    lines = ["| backbone | mask-only | fine-tune-only | curriculum |", "|---|---|---|---|"]
    for name, row in table.items():
        if name != "ensemble":
            lines.append(f"| {name} | {cell(row, 'mask_only')} | {cell(row, 'finetune_only')} | {cell(row, 'curriculum')} |")
    ens = table["ensemble"]
    lines += [f"| **ensemble** | | | **{ens['curriculum']:.3f}** ({ens['f1']:.2f}) |", ""]
    layouts = list(per_layout)
    lines += ["| model | " + " | ".join(f"{k} (n={per_layout[k]['n']})" for k in layouts) + " | spread |",
              "|---|" + "---|" * (len(layouts) + 1)]
    rows = {n: r["curriculum_per_layout"] for n, r in table.items() if "curriculum_per_layout" in r}
    rows["ensemble"] = {k: v["macro_auroc"] for k, v in per_layout.items()}
    for name, vals in rows.items():
        v = [vals[k] for k in layouts]
        lines.append(f"| {name} | " + " | ".join(f"{x:.3f}" for x in v) + f" | {max(v) - min(v):.3f} |")
    return "\n".join(lines) + "\n"


def run_curriculum(cfg: DictConfig) -> dict:
    """Every backbone through both stages, then the ensemble (checkpoint + metrics.json written at once), then
    the fine-tune-only ablation (metrics.json rewritten with it), so a cut-short run still leaves the ensemble."""
    t0 = time.time()
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True)
    cur = cfg.curriculum
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup("fit")

    def make(backbone: str):
        net = {**OmegaConf.to_container(cfg.model.net), "backbone": backbone}
        return hydra.utils.instantiate(cfg.model, classes=dm.classes, net=net, _convert_="all")

    table: dict = {}
    members = []
    for backbone in cur.backbones:
        row = {}
        model = _fit(cfg, make(backbone), dm, "mask", cur.stage1_epochs, out_dir / backbone / "stage1_mask")
        sc = _score(model, dm)
        row["mask_only"], row["mask_only_f1"] = sc["macro_auroc"], sc["f1"]
        model = _fit(cfg, model, dm, "picture", cur.stage2_epochs, out_dir / backbone / "stage2_picture")
        sc = _score(model, dm)
        row["curriculum"], row["curriculum_f1"] = sc["macro_auroc"], sc["f1"]
        row["curriculum_per_layout"] = {k: v["macro_auroc"] for k, v in _per_layout(dm, sc["probs"], sc["targets"]).items()}
        table[backbone] = row
        members.append(model)
        log.info("%s: %s", backbone, row)

    # ensemble: average probabilities; thresholds chosen on validation pictures
    from ecgcls.train.classifier import MultilabelClassifier

    ens_net = {"name": "pic2dx_ensemble", "backbones": list(cur.backbones),
               "drop_rate": cfg.model.net.get("drop_rate", 0.2)}
    ens = MultilabelClassifier(net=ens_net, classes=dm.classes)
    for m_ens, m in zip(ens.net.members, members):
        m_ens.load_state_dict(m.net.state_dict())
    dm.stage = "picture"
    pv, yv = predict_dataset(ens, dm.dataset("val"))
    ens.thresholds.copy_(torch.as_tensor(M.choose_thresholds(pv, yv), dtype=torch.float32))
    test = _score(ens, dm)
    report = M.report(test["probs"], test["targets"], dm.classes, ens.thresholds.numpy())
    table["ensemble"] = {"curriculum": report["macro_auroc"], "f1": report["macro_f1"]}
    ckpt = {"state_dict": ens.state_dict(), "hyper_parameters": dict(ens.hparams), "image_size": list(dm.images.size),
            "preprocess": dm.images.preprocess}
    torch.save(ckpt, out_dir / "ensemble.ckpt")
    M.plot_roc(test["probs"], test["targets"], dm.classes, out_dir / "roc_test.png",
               title=f"Pic2Dx ensemble, test pictures (macro AUROC {report['macro_auroc']:.3f})")
    result = {"seed": cfg.seed, "curriculum": OmegaConf.to_container(cur), "ablation_macro_auroc": table,
              "test": report, "per_layout": _per_layout(dm, test["probs"], test["targets"]),
              "data": {k: v for k, v in dm.describe().items() if k != "split_ids"},
              "ensemble_checkpoint": str(out_dir / "ensemble.ckpt")}

    M.plot_bars({k: v["macro_auroc"] for k, v in result["per_layout"].items()}, out_dir / "per_layout_test.png",
                title="Pic2Dx ensemble: test pictures per printed layout")

    def write() -> None:
        result["wall_seconds"] = round(time.time() - t0, 1)
        (out_dir / "metrics.json").write_text(json.dumps(result, indent=1))
        (out_dir / "ablation.md").write_text(ablation_markdown(result))

    write()
    log.info("ensemble: %s", table["ensemble"])
    for backbone in _ablation_backbones(cur):  # pictures from scratch, as many epochs as both stages
        scratch = _fit(cfg, make(backbone), dm, "picture", cur.stage1_epochs + cur.stage2_epochs,
                       out_dir / backbone / "finetune_only")
        sc = _score(scratch, dm)
        table[backbone]["finetune_only"], table[backbone]["finetune_only_f1"] = sc["macro_auroc"], sc["f1"]
        write()
    log.info("ablation (test macro AUROC): %s", table)
    return result
