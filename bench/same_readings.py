"""Did a digitizer change change any reading? Digitize a fixed set of pages and save (status, layout, quality,
signals); with ``--compare`` report every page whose reading differs from a saved run.

    python bench/same_readings.py --save before            # on the old code (e.g. a git worktree on PYTHONPATH)
    python bench/same_readings.py --save after --compare before --name same_readings_v14

Pages: the real pictures (``ink=auto``, as predict reads them), the first ``--eik`` pages of each ecg-image-kit
set and ``--own`` own renders of validation-fold records (every other one with the domain-randomized renderer;
``ink=classic``). Readings are compared exactly (signals bit for bit, NaN as NaN). Saved runs go to
bench/out/readings_<tag>.npz; the comparison to bench/out/<name>.json.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import OUT, REPO, ptbxl_fold_signals, write_json  # noqa: E402

from ecgcls.digitize import DigitizeError, digitize, find_pictures, load_image  # noqa: E402
from ecgcls.render import RenderConfig, render  # noqa: E402

SHARED = Path(os.environ.get("ECGCLS_SHARED", REPO.parent / "shared"))


def pages(n_eik: int, n_own: int):
    """(name, RGB picture, ink) of every page of the set, in a fixed order."""
    for f in find_pictures(SHARED / "data" / "real-images"):
        yield f"real/{Path(f).name}", load_image(f), "auto"
    for s in ("clean", "distorted", "layouts"):
        for f in sorted((SHARED / "data" / "eik-validation" / s).glob("*.jpg"))[:n_eik]:
            yield f"eik/{s}/{f.name}", load_image(f), "classic"
    ids, sigs = ptbxl_fold_signals(n=n_own)
    for k, (i, s) in enumerate(zip(ids, sigs)):
        rng = np.random.default_rng(k)
        cfg = RenderConfig.randomized(rng) if k % 2 else RenderConfig.random(rng)
        yield f"own/{i}_{k}", render(s, 500, cfg, rng=rng).image, "classic"


def read_all(n_eik: int, n_own: int) -> dict[str, dict]:
    out = {}
    for name, image, ink in pages(n_eik, n_own):
        try:
            d = digitize(image, ink=ink, keep_image=False)
            out[name] = {"status": d.status, "layout": d.layout, "quality": float(d.quality),
                         "signal": d.record.signal.astype(np.float32)}
        except DigitizeError as exc:
            out[name] = {"status": "refused", "layout": "", "quality": float("nan"), "reason": str(exc)}
    return out


def save(readings: dict[str, dict], path: Path) -> None:
    arrays = {f"signal::{k}": v["signal"] for k, v in readings.items() if "signal" in v}
    meta = np.array([(k, v["status"], v["layout"], v["quality"]) for k, v in readings.items()], dtype=object)
    np.savez_compressed(path, meta=meta, **arrays)


def load(path: Path) -> dict[str, dict]:
    z = np.load(path, allow_pickle=True)
    out = {str(k): {"status": s, "layout": lay, "quality": float(q)} for k, s, lay, q in z["meta"]}
    for k in out:
        if f"signal::{k}" in z:
            out[k]["signal"] = z[f"signal::{k}"]
    return out


def same(a: dict, b: dict) -> bool:
    if (a["status"], a["layout"]) != (b["status"], b["layout"]) or not np.array_equal(a["quality"], b["quality"],
                                                                                      equal_nan=True):
        return False
    if ("signal" in a) != ("signal" in b):
        return False
    return "signal" not in a or (a["signal"].shape == b["signal"].shape
                                 and np.array_equal(a["signal"], b["signal"], equal_nan=True))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--save", required=True, help="tag of this run (bench/out/readings_<tag>.npz)")
    ap.add_argument("--compare", help="tag of a saved run to compare with")
    ap.add_argument("--eik", type=int, default=10, help="pages of each ecg-image-kit set")
    ap.add_argument("--own", type=int, default=24, help="own renders")
    ap.add_argument("--name", default="same_readings")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    readings = read_all(args.eik, args.own)
    save(readings, OUT / f"readings_{args.save}.npz")
    print(f"{len(readings)} pages read -> {OUT / f'readings_{args.save}.npz'}")
    if args.compare:
        ref = load(OUT / f"readings_{args.compare}.npz")
        changed = []
        for k, v in readings.items():
            if k not in ref or not same(ref[k], v):
                old = ref.get(k, {})
                changed.append({"page": k, "before": [old.get("status"), old.get("layout"), old.get("quality")],
                                "after": [v["status"], v["layout"], v["quality"]]})
                print("changed", changed[-1])
        res = {"pages": len(readings), "identical": len(readings) - len(changed), "changed": changed,
               "compared_with": args.compare}
        print(f"identical readings: {res['identical']} / {res['pages']}")
        write_json(args.name, res)


if __name__ == "__main__":
    main()
