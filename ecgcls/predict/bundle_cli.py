"""``ecgcls bundle``: pack a training checkpoint into a weights bundle, with its model card from the run's own
metadata and, with ``--onnx``, its ONNX graph (checked against PyTorch). Kept out of :mod:`ecgcls.predict.bundle`
so that the ONNX export, which loads bundles, sits below the command that uses both."""
from __future__ import annotations

import json
from pathlib import Path

from ecgcls.predict.bundle import card_from_run, limits_text, make_bundle, read_bundle, save_bundle
from ecgcls.predict.onnx import export_onnx


def add_parser(sub) -> None:
    p = sub.add_parser("bundle", help="pack a training checkpoint into a weights bundle (.safetensors + JSON card)")
    p.add_argument("checkpoint", help="a Lightning .ckpt (or, with --convert, a legacy .pt bundle)")
    p.add_argument("--out", required=True, help="output stem: writes OUT.safetensors and OUT.json")
    p.add_argument("--run", help="the training run's folder (metrics.json + .hydra/overrides.yaml → model card)")
    p.add_argument("--note", default="", help="free text added to the card")
    p.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")
    p.add_argument("--convert", action="store_true", help="convert a legacy torch.save (.pt) bundle")
    p.add_argument("--onnx", action="store_true", help="also export OUT.onnx and check it against PyTorch "
                                                       "with onnxruntime (needs the onnx extra)")
    p.set_defaults(func=_cli)


def _run_card(run: str | Path, note: str) -> dict:
    import yaml

    run = Path(run)
    metrics = json.loads((run / "metrics.json").read_text())
    ov = run / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(ov.read_text()) if ov.is_file() else None
    cfg = run / ".hydra" / "config.yaml"
    return card_from_run(metrics, overrides, note, yaml.safe_load(cfg.read_text()) if cfg.is_file() else None)


def _run_picture(run: str | Path) -> dict | None:
    """The picture preprocessing a run trained with (from its Hydra config), or None for signal runs."""
    import yaml

    cfg = Path(run) / ".hydra" / "config.yaml"
    images = ((yaml.safe_load(cfg.read_text()) or {}).get("data") or {}).get("images") if cfg.is_file() else None
    return {"size": list(images["size"]), "method": images.get("preprocess", "ink")} if images else None


def _cli(args) -> int:
    if args.convert:
        meta, state, _ = read_bundle(args.checkpoint)
        meta["card"] = {**meta["card"], "limits": limits_text(meta["card"])}
        path = save_bundle(args.out, state, meta)
    else:
        card = _run_card(args.run, args.note) if args.run else {"note": args.note, "limits": limits_text({})}
        card["checkpoint"] = str(args.checkpoint)
        path = make_bundle(args.checkpoint, args.out, card, half=args.half,
                           picture=_run_picture(args.run) if args.run else None)
    size = path.with_suffix(".safetensors").stat().st_size / 1e6
    print(f"wrote {path} and {path.with_suffix('.safetensors').name} ({size:.1f} MB)")
    if args.onnx:
        onnx_path, err = export_onnx(path)
        print(f"wrote {onnx_path}: max |onnxruntime - torch| = {err:.2e} on a random batch")
    return 0
