"""Calibrate bundled models on validation pictures, through the same path ``predict.py`` takes.

Validation-fold records (never test, never ecg-image-kit pages) are drawn as pictures — half with ecgcls's own
look, half with the domain-randomized renderer, seeded — read exactly as :func:`~ecgcls.predict.run_predict`
reads a file (digitizer with the predict config's ink, the picture preprocessing of the bundle), and one
temperature per bundle is fitted to the labels (:func:`ecgcls.metrics.fit_temperature`). The bundle's JSON gets
``calibration`` (temperature, pages, ECE before/after) and its thresholds move with it.

    ecgcls calibrate cnn1d patchecg pic2dx rhythm [--folds 8 9] [--pages-per-record 2]
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ecgcls.digitize.pipeline import DEFAULT_INK
from ecgcls.data.pagestore import worker_pool
from ecgcls.predict.engine import PageResult, batched, read_page

RENDERERS = ("random", "randomized")


def pack_root() -> tuple[Path, str]:
    """(PTB-XL root, cache folder) of the records the validation pictures are drawn from: the pack's archive
    under ``$ECGCLS_SHARED/data`` (default: ``shared/`` beside the project), unpacked into ``$ECGCLS_CACHE``
    (default ``~/.cache/ecgcls``)."""
    from ecgcls.data import resolve_root

    shared = os.environ.get("ECGCLS_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
    cache = os.path.expanduser(os.environ.get("ECGCLS_CACHE", "~/.cache/ecgcls"))
    return resolve_root(archive=os.path.join(shared, "data", "ptbxl-mini.tar.xz"), cache_dir=cache), cache


def _val_page(job) -> PageResult:
    """Worker: render one validation page and read it like predict does."""
    from ecgcls.data.pagestore import worker_signals
    from ecgcls.render import RenderConfig, render

    root, cache, ecg_id, k, seed, fs_model, n_model, dig_kw, image_prep = job
    rng = np.random.default_rng([seed, ecg_id, k, 11])
    if k % 2:
        cfg = RenderConfig.randomized(rng, dpi=(100.0, 300.0), artifact_prob=0.3)
    else:
        cfg = RenderConfig.random(rng, artifact_prob=0.4)
    page = render(worker_signals(root, cache).get(ecg_id), 500, cfg, rng=rng)
    r = read_page(str(ecg_id), page.image, fs_model, n_model, dig_kw, image_prep=image_prep)
    r.layout = r.layout or cfg.layout
    return r


def validation_pages(root: str, cache: str, ids, pages_per_record: int = 2, seed: int = 20261201,
                     fs_model: int = 100, n_model: int = 1000, dig_kw: dict | None = None,
                     image_prep: tuple | None = None, workers: int | None = None) -> tuple[list[int], list[PageResult]]:
    """(ecg_id per page, :class:`PageResult` per page) for ``pages_per_record`` seeded pages of each record."""
    jobs = [(root, cache, int(i), k, seed, fs_model, n_model, dict(dig_kw or {"ink": DEFAULT_INK}), image_prep)
            for i in ids for k in range(pages_per_record)]
    with worker_pool(workers or os.cpu_count() or 1) as ex:
        res = list(tqdm(ex.map(_val_page, jobs, chunksize=4), total=len(jobs), desc="validation pages", unit="page"))
    return [j[2] for j in jobs], res


def _logits(net, results: list[PageResult]) -> tuple[np.ndarray, np.ndarray]:
    """(row indices answered, logits) of a bundled model over pages."""
    if net.input == "picture":
        keep = [k for k, r in enumerate(results) if r.picture is not None]
        x = torch.stack([net.picture_tensor(results[k].picture) for k in keep])
    else:
        keep = [k for k, r in enumerate(results) if r.signal is not None]
        x = torch.from_numpy(np.stack([results[k].signal for k in keep]))
    return np.asarray(keep), batched(net.logits, x)


def calibrate(models: list[str], folds=(8, 9), pages_per_record: int = 2, seed: int = 20261201,
              ink: str = DEFAULT_INK, workers: int | None = None, write: bool = True, limit: int | None = None) -> dict:
    """Fit and (``write``) store a temperature for each bundled model; returns what was measured."""
    from ecgcls import metrics as M
    from ecgcls.data import derive_labels, load_database
    from ecgcls.predict.bundle import load_bundle, set_calibration

    nets = {m: load_bundle(m) for m in models}
    root, cache = pack_root()
    db = load_database(root)
    pic = [n for n in nets.values() if n.input == "picture"]
    sig = [n for n in nets.values() if n.input == "signal"]
    if len({(n.fs, n.n_samples) for n in sig}) > 1 or len({(n.image_size, n.preprocess) for n in pic}) > 1:
        raise ValueError("calibrate: models with different inputs; calibrate them in separate calls")
    image_prep = (pic[0].image_size, pic[0].preprocess, pic[0].picture.get("ink_gain")) if pic else None
    fs_model, n_model = (sig[0].fs, sig[0].n_samples) if sig else (100, 1000)
    val_ids = [int(i) for i in db.index[db.strat_fold.isin(list(folds))]][:limit]
    ids, results = validation_pages(str(root), cache, val_ids, pages_per_record, seed, fs_model, n_model,
                                    {"ink": ink}, image_prep, workers)
    out: dict = {}
    cal_probs: dict = {}
    for name, net in nets.items():
        labels = derive_labels(root, (net.card.get("data") or {}).get("task", "superdiagnostic"), db=db)
        missing = [c for c in net.classes if c not in labels.columns]
        if missing:
            raise ValueError(f"calibrate {name}: labels {missing} not in the data")
        keep, z = _logits(net, results)
        have = np.array([ids[k] in labels.index for k in keep], bool)
        keep, z = keep[have], z[have]
        y = labels.loc[[ids[k] for k in keep], net.classes].to_numpy(np.float32)
        t_fit = M.fit_temperature(z, y)
        before, after = torch.sigmoid(torch.from_numpy(z)), torch.sigmoid(torch.from_numpy(z) / t_fit)
        cal = {"method": "temperature", "temperature": round(t_fit, 4),
               "fit_on": {"folds": list(folds), "records": len({ids[k] for k in keep}), "pages": int(len(keep)),
                          "pages_per_record": pages_per_record, "renderers": list(RENDERERS), "seed": seed,
                          "digitizer_ink": ink if net.input == "signal" else None},
               "ece_before": round(M.ece(before, y), 4), "ece_after": round(M.ece(after, y), 4),
               "macro_auroc_val_pages": round(M.macro_auroc(before, y), 4),
               "command": f"ecgcls calibrate {' '.join(models)} --folds {' '.join(map(str, folds))} "
                          f"--pages-per-record {pages_per_record}"}
        out[name] = cal
        cal_probs[name] = dict(zip(keep.tolist(), after.numpy()))
        if write:
            set_calibration(name, cal)
        print(f"{name}: T = {t_fit:.3f} on {len(keep)} validation pages; ECE {cal['ece_before']:.3f} -> "
              f"{cal['ece_after']:.3f} (macro AUROC {cal['macro_auroc_val_pages']:.3f})")
    if {"patchecg", "pic2dx"} <= set(nets):
        out["combine"] = fit_combine(cal_probs["patchecg"], cal_probs["pic2dx"], results, ids, root, db)
    return out


def fit_combine(p_sig: dict, p_img: dict, results: list[PageResult], ids: list[int], root, db) -> dict:
    """Choose ``model=both``'s weighting (:func:`ecgcls.predict.combine.signal_weight`) on the validation pages:
    the grid point with the best macro AUROC over all pages (a page the digitizer refused is the picture
    path alone, as in predict)."""
    from ecgcls import metrics as M
    from ecgcls.data import derive_labels
    from ecgcls.predict.combine import signal_weight

    labels = derive_labels(root, "superdiagnostic", db=db)
    pages = [k for k in p_img if ids[k] in labels.index]
    y = labels.loc[[ids[k] for k in pages]].to_numpy(np.float32)
    grid = []
    for max_w in (0.0, 0.25, 0.5, 0.75, 1.0):
        for full_db in (6.0, 12.0, 18.0):
            p = np.stack([(lambda w: w * p_sig[k] + (1 - w) * p_img[k])(signal_weight(results[k].snr_db, full_db, 0.0, max_w))
                          if k in p_sig else p_img[k] for k in pages])
            grid.append({"max_weight": max_w, "full_db": full_db, "zero_db": 0.0,
                         "macro_auroc": round(M.macro_auroc(p, y), 4)})
            if max_w == 0.0:
                break  # the full_db does not matter without the signal path
    best = max(grid, key=lambda g: g["macro_auroc"])
    print(f"model=both on {len(pages)} validation pages: best {best} (picture alone {grid[0]['macro_auroc']:.4f})")
    return {"best": best, "grid": grid, "pages": len(pages)}


def add_parser(sub) -> None:
    p = sub.add_parser("calibrate", help="fit a temperature for bundled models on validation-fold pictures")
    p.add_argument("models", nargs="+", help="bundled names or bundle .json paths")
    p.add_argument("--folds", nargs="+", type=int, default=[8, 9], help="validation strat_folds (never test)")
    p.add_argument("--pages-per-record", type=int, default=2)
    p.add_argument("--ink", default=DEFAULT_INK, help="the digitizer's ink for signal models (as predict.py)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--dry-run", action="store_true", help="measure only; do not write the bundles")
    p.add_argument("--out", help="also write what was measured (temperatures, ECE, the model=both grid) as JSON")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    import json

    res = calibrate(args.models, tuple(args.folds), args.pages_per_record, ink=args.ink, workers=args.workers,
                    write=not args.dry_run)
    if args.out:
        from pathlib import Path

        Path(args.out).write_text(json.dumps(res, indent=1))
        print(f"wrote {args.out}")
    return 0
