"""Score a bundled model and a candidate on the same validation (and test) inputs of an experiment's data config —
how a fine-tune is kept or dropped without looking at test or ecg-image-kit pictures.

    python bench/compare_bundles.py --experiment patchecg_foreign --bundled patchecg --candidate CANDIDATE.json
    python bench/compare_bundles.py --experiment pic2dx_foreign --bundled pic2dx --candidate CANDIDATE.json

Signal experiments are scored on their validation mix (masked signals + digitized pages) and on digitized pages
alone; picture experiments on their rendered pictures — the same pages for both bundles, each prepared with its
own bundle's preprocessing (e.g. "ink" vs "trace"). Writes bench/out/compare_<experiment>.json.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from _common import REPO, write_json  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiment", required=True)
    ap.add_argument("--bundled", required=True)
    ap.add_argument("--candidate", required=True, help="a bundle .json (ecgcls bundle CKPT --run DIR --out ...)")
    ap.add_argument("--splits", nargs="+", default=["val"])
    ap.add_argument("--average", action="store_true", help="also score the mean of the two bundles' probabilities")
    args = ap.parse_args()
    import hydra
    from hydra import compose, initialize_config_dir

    from ecgcls import metrics as M
    from ecgcls.predict import load_bundle
    from ecgcls.predict.engine import batched

    nets = {"bundled": load_bundle(args.bundled), "candidate": load_bundle(args.candidate)}
    picture = nets["bundled"].input == "picture"
    modules: dict = {}
    inputs: dict = {}

    def data(net, split: str, source: str) -> tuple[torch.Tensor, np.ndarray]:
        """(x, y) of the experiment's ``split``; a picture bundle gets the same pages prepared its own way (size,
        method). Built once per preparation and read once per split."""
        extra = []
        if picture:
            h, w = net.image_size
            extra = [f"data.images.preprocess={net.preprocess}", f"data.images.size=[{h},{w}]"]
        key = tuple(extra)
        if key not in modules:
            with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
                cfg = compose("train", overrides=[f"experiment={args.experiment}", f"paths.root_dir={REPO}",
                                                  "paths.output_dir=/tmp/unused", *extra])
            dm = hydra.utils.instantiate(cfg.data)
            if cfg.get("masking"):
                dm.train_transform = dm.eval_transform = hydra.utils.instantiate(cfg.masking)
            dm.setup("fit")
            modules[key] = dm
        if (key, split, source) not in inputs:
            dm = modules[key]
            ds = dm.dataset(split) if picture else dm.dataset(split, source=source)
            items = [ds[i] for i in range(len(ds))]
            inputs[key, split, source] = (torch.stack([torch.as_tensor(a) for a, _ in items]),
                                          np.stack([np.asarray(b) for _, b in items]))
        return inputs[key, split, source]

    res: dict = {"experiment": args.experiment, "bundled": args.bundled, "candidate": args.candidate,
                 "preprocess": {k: n.preprocess for k, n in nets.items()} if picture else None, "macro_auroc": {}}
    for split in args.splits:
        for source in (("picture",) if picture else ("mixed", "digitized")):
            probs, ys = {}, []
            for name, net in nets.items():
                x, y = data(net, split, source)
                ys.append(y)
                probs[name] = np.asarray(batched(net, x))
            if not all(np.array_equal(ys[0], y) for y in ys):
                raise RuntimeError("the two bundles were given different records")
            if args.average:
                probs["average"] = (probs["bundled"] + probs["candidate"]) / 2
            for name, p in probs.items():
                auc = round(M.macro_auroc(p, ys[0]), 4)
                res["macro_auroc"].setdefault(f"{split}/{source}", {})[name] = auc
                print(f"{split:5s} {source:9s} {name:9s} macro AUROC {auc:.4f} (n={len(ys[0])})")
    write_json(f"compare_{args.experiment}", res)


if __name__ == "__main__":
    main()
