"""Classifiers on *pictures*, through ``run_predict`` exactly as a user runs it: macro AUROC per set and layout,
spread over layouts, coverage (pages that got an answer), ECE, and AFIB AUROC.

    python bench/eval_pictures.py --source eik                      # ecg-image-kit pages: MEASURE ONLY
    python bench/eval_pictures.py --source render --n 100 [--layouts 3x4+II 6x2 12x1 cabrera] [--artifacts clean photo]
    python bench/eval_pictures.py --source render --records afib --n 40    # every AFIB record of the test folds
    python bench/eval_pictures.py --source render --records eik --sets clean --layouts 3x4+II --artifacts clean

``--source eik`` reads ``../shared/data/eik-validation`` (pages of the pack's test records drawn by another
generator). It is for measuring generalisation only: nothing may be trained or tuned on it.
``--source render`` draws test-fold records (strat_fold 1-7) with ecgcls's renderer into bench/out/pictures/:
the first N (``--records first``), or every record with AFIB and then the first others up to N (``--records
afib``, into bench/out/pictures_afib/: the first test records hold almost no AFIB, so AFIB AUROC needs them), or
the records of the eik-validation sets named by ``--sets`` (``--records eik``, into
bench/out/pictures_eik_<sets>/): ecgcls's own pictures of exactly the records the other generator drew, so the two
differ only in the pictures (the records come from the eik manifest; no eik picture or truth is read).

One ``run_predict(model=both, rhythm=...)`` pass per set gives PatchECG (its signal path), Pic2Diagnosis (its
picture path), ``both`` (the quality-weighted combination) and the rhythm bundle's p_AFIB on identical pages;
``cnn1d`` is a second pass. A page a model does not answer counts against its coverage, and its AUROC is over
the pages it answered.

Reference rows (no picture is read for them) split a shortfall into "the records are hard" and "the pictures are
read badly": ``<model>@record`` is the signal bundle on the record's full 12 × 10 s signal, ``<model>@page`` (eik
only) on the exact samples the page printed (the generator's truth, NaN elsewhere) — what a perfect digitizer
would give that model; ``AFIB@record`` is the rhythm bundle's AFIB AUROC on the full true signals. Where the
rhythm bundle has an RR head (:mod:`ecgcls.predict.rhythm`), ``AFIB net`` rows give its network alone on the
same pages (before the head).
Writes bench/out/<name>.json, <name>.md, <name>_reliability.png, <name>_layouts.png.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import OUT, REPO, write_json  # noqa: E402

from ecgcls import metrics as M  # noqa: E402
from ecgcls.data import derive_labels, load_database, make_splits, resolve_root  # noqa: E402
from ecgcls.data.pagestore import draw_pages  # noqa: E402
from ecgcls.digitize.foreign import EIK_LAYOUTS  # noqa: E402
from ecgcls.predict import load_bundle, run_predict  # noqa: E402

SHARED = Path(os.environ.get("ECGCLS_SHARED", REPO.parent / "shared"))


def eik_records(eik: Path, sets: list[str], test_ids: list[int]) -> list[int]:
    """ecg_ids of the eik-validation pages of ``sets`` (manifest order, each once); raises if one is not a test
    record (then own renders of it would not be held out)."""
    import pandas as pd

    m = pd.read_csv(eik / "manifest.csv")
    ids = list(dict.fromkeys(int(i) for i in m.loc[m["set"].isin(sets), "ecg_id"]))
    if not ids:
        raise ValueError(f"{eik}: no pages in sets {sets}")
    outside = sorted(set(ids) - set(test_ids))
    if outside:
        raise ValueError(f"eik records {outside[:5]} are not test-fold records")
    return ids


def page_key(path: str) -> tuple[int, str]:
    """(ecg_id, layout) from a picture named ``<ecg_id>_<layout tag>.<ext>``."""
    stem = Path(path.split("#")[0]).stem
    ecg, tag = stem.split("_", 1)
    return int(ecg), EIK_LAYOUTS.get(tag, tag.replace("p", "+"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def score(rows: list[dict], y_super, y_rhythm, classes: list[str]) -> dict:
    """rows: {'ecg_id', 'layout', 'probs': {model: array or None}, 'afib': float|None} → metrics per model."""
    res: dict = {}
    models = sorted({m for r in rows for m in r["probs"]})
    for m in models:
        ans = [r for r in rows if r["probs"].get(m) is not None and r["ecg_id"] in y_super.index]
        tot = [r for r in rows if r["ecg_id"] in y_super.index]
        entry = {"pages": len(tot), "answered": len(ans), "coverage": round(len(ans) / max(1, len(tot)), 4)}
        if ans:
            p = np.stack([r["probs"][m] for r in ans])
            y = y_super.loc[[r["ecg_id"] for r in ans], classes].to_numpy(np.float32)
            lo, hi = M.bootstrap_macro_auroc_ci(p, y)
            entry.update(macro_auroc=round(M.macro_auroc(p, y), 4), macro_auroc_ci95=[round(lo, 3), round(hi, 3)],
                         positives=dict(zip(classes, y.sum(0).astype(int).tolist())), ece=round(M.ece(p, y), 4))
            per = {}
            for lay in sorted({r["layout"] for r in ans}):
                k = [i for i, r in enumerate(ans) if r["layout"] == lay]
                per[lay] = {"n": len(k), "macro_auroc": round(M.macro_auroc(p[k], y[k]), 4)}
            entry["layouts"] = per
            vals = [v["macro_auroc"] for v in per.values() if np.isfinite(v["macro_auroc"])]
            if len(vals) > 1:
                entry["layout_spread"] = round(max(vals) - min(vals), 4)
        res[m] = entry
    for key, tag in (("afib", "AFIB"), ("afib_net", "AFIB net"), ("afib@record", "AFIB@record"),
                     ("afib_net@record", "AFIB net@record")):
        afib_auroc(res, rows, y_rhythm, key, tag)
    return res


def afib_auroc(res: dict, rows: list[dict], y_rhythm, key: str, tag: str) -> None:
    """``res[tag]``: AUROC of ``row[key]`` (p_AFIB) overall and per layout, with pages and positives."""
    af = [r for r in rows if r.get(key) is not None and r["ecg_id"] in y_rhythm.index]
    if af:
        ya = y_rhythm.loc[[r["ecg_id"] for r in af], "AFIB"].to_numpy(np.float32)
        pa = np.array([r[key] for r in af], np.float32)
        def auc(k):
            return round(M.macro_auroc(pa[k, None], ya[k, None]), 4) if 0 < ya[k].sum() < len(k) else None

        flag = [r.get(f"{key}_flag") for r in af]
        lab = {}
        if all(f is not None for f in flag):  # pages labelled AFIB: of the positives, of the others
            f = np.array(flag, bool)
            lab = {"labelled_positives": int((f & (ya > 0)).sum()), "labelled_others": int((f & (ya == 0)).sum())}
        res[tag] = {"pages": len(af), "positives": int(ya.sum()), "auroc": auc(np.arange(len(af))), **lab,
                       "layouts": {lay: {"pages": len(k), "positives": int(ya[k].sum()), "auroc": auc(k)}
                                   for lay in sorted({r["layout"] for r in af})
                                   for k in [np.array([i for i, r in enumerate(af) if r["layout"] == lay])]}}


def truth_probs(rows: dict, folder: Path, root: Path, db, source: str, rhythm: str | None = None) -> None:
    """Add the reference rows ``patchecg@record`` / ``cnn1d@record`` (full true signal) and, for eik pages,
    ``@page`` (true samples of what the page printed) to each row's probs (see the module docstring)."""
    import torch

    from ecgcls.data import read_wfdb
    from ecgcls.data.transforms import resample_nan
    from ecgcls.digitize.foreign import load_eik_page

    keys = list(rows)
    truth = {"record": [read_wfdb(Path(root) / db.loc[rows[k]["ecg_id"], "filename_hr"]) for k in keys]}
    if source == "eik":
        refs = [load_eik_page(Path(k.split("#")[0]).with_suffix(".json"), root) for k in keys]
        truth["page"] = [(r.ref, r.fs) for r in refs]
    if rhythm:  # p_AFIB of the rhythm bundle on the full true signal (with its RR head, if it has one)
        net = load_bundle(rhythm)
        x = np.stack([resample_nan(sig, fs, net.fs, net.n_samples) for sig, fs in truth["record"]])
        p_net = net(torch.from_numpy(x)).numpy()[:, net.classes.index("AFIB")]
        p = p_net
        if net.meta.get("rr_head"):
            from ecgcls.predict.rhythm import RRHead, page_inputs

            p = RRHead(net.meta["rr_head"]).mix(p_net, np.stack([page_inputs(s, net.fs) for s in x]))[0]
        for k, v, vn in zip(keys, p, p_net):
            rows[k]["afib@record"], rows[k]["afib_net@record"] = float(v), float(vn)
    for name in ("patchecg", "cnn1d"):
        net = load_bundle(name)
        for tag, sigs in truth.items():
            x = np.stack([resample_nan(sig, fs, net.fs, net.n_samples) for sig, fs in sigs])
            for k, v in zip(keys, net(torch.from_numpy(x)).numpy()):
                rows[k]["probs"][f"{name}@{tag}"] = list(v)


def read_set(folder: Path, out: Path, classes: list[str], args) -> dict:
    """One ``run_predict(model=both)`` pass over a folder → rows keyed by picture path (see :func:`score`)."""
    afib_thr = (None, None)
    if args.rhythm:  # the AFIB thresholds predict labels with: the network's, and its RR head's
        rhy = load_bundle(args.rhythm)
        t_net = float(rhy.thresholds[rhy.classes.index("AFIB")])
        afib_thr = (t_net, float((rhy.meta.get("rr_head") or {}).get("threshold", t_net)))
    run_predict(str(folder), str(out), model="both", rhythm=args.rhythm or None, jsonl=True, overwrite=True,
                workers=args.workers, digitize={"ink": "auto"})
    out.with_suffix(".csv.bak").unlink(missing_ok=True)
    rows = {}
    for j in read_jsonl(out.with_suffix(".jsonl")):
        ecg_id, layout = page_key(j["path"])
        pp = j["path_probs"]
        afib = (j["probs"] or {}).get("AFIB")
        rh = j.get("rhythm") or {}
        rows[j["path"]] = {"ecg_id": ecg_id, "layout": layout, "afib": afib,
                           # the rhythm network's own p_AFIB (before its RR head), on the same pages
                           "afib_net": rh.get("p_net", afib),
                           # labelled AFIB (at the threshold predict used for the page), and by the network alone
                           "afib_flag": None if afib is None else afib >= (afib_thr[1] if rh.get("used_rr") else afib_thr[0]),
                           "afib_net_flag": None if afib is None else rh.get("p_net", afib) >= afib_thr[0],
                           "probs": {"patchecg": pp["signal"], "pic2dx": pp["picture"],
                                     "both": [j["probs"][c] for c in classes],
                                     # the old `both`: an even average, only where the digitizer read the page
                                     "both_even": (list((np.array(pp["signal"]) + np.array(pp["picture"])) / 2)
                                                   if pp["signal"] and pp["picture"] else None)}}
    out.with_suffix(".jsonl").unlink()
    return rows


def model_probs(rows: dict, folder: Path, out: Path, classes: list[str], args, key: str = "cnn1d",
                model: str = "cnn1d") -> None:
    """A further ``run_predict(model=...)`` pass (a bundled name or a candidate bundle's .json): adds
    ``probs[key]`` to the rows."""
    import csv

    run_predict(str(folder), str(out), model=model, rhythm=None, overwrite=True, workers=args.workers,
                digitize={"ink": "auto"})
    with open(out, newline="") as fh:
        for r in csv.DictReader(fh):
            if r["path"] in rows:
                rows[r["path"]]["probs"][key] = ([float(r[f"p_{c}"]) for c in classes]
                                                 if r["status"] in ("ok", "uncertain") else None)


def paired(rows: list[dict], y_super, classes: list[str], a: str, b: str) -> dict | None:
    """Macro AUROC of ``b`` minus ``a`` on the pages both answered, with its paired 95 % bootstrap interval."""
    both = [r for r in rows if r["probs"].get(a) is not None and r["probs"].get(b) is not None
            and r["ecg_id"] in y_super.index]
    if not both:
        return None
    y = y_super.loc[[r["ecg_id"] for r in both], classes].to_numpy(np.float32)
    d, lo, hi = M.bootstrap_macro_auroc_diff_ci(np.stack([r["probs"][a] for r in both]),
                                               np.stack([r["probs"][b] for r in both]), y)
    return {"pages": len(both), "diff": round(d, 4), "ci95": [round(lo, 4), round(hi, 4)]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", choices=["eik", "render"], default="eik")
    ap.add_argument("--eik", default=str(SHARED / "data" / "eik-validation"))
    ap.add_argument("--sets", nargs="+", default=["clean", "distorted", "layouts"])
    ap.add_argument("--n", type=int, default=100, help="render: test records per layout and preset")
    ap.add_argument("--records", choices=["first", "afib", "eik"], default="first",
                    help="render: the first N test records, every AFIB record then the first others up to N, or "
                         "the records of the eik-validation sets named by --sets")
    ap.add_argument("--layouts", nargs="+", default=["3x4+II", "6x2", "12x1", "cabrera"])
    ap.add_argument("--artifacts", nargs="+", default=["clean", "photo"])
    ap.add_argument("--rhythm", default="rhythm", help="rhythm bundle ('' for none)")
    ap.add_argument("--no-cnn1d", action="store_true", help="skip the separate cnn1d pass")
    ap.add_argument("--candidates", nargs="*", default=[],
                    help="KEY=BUNDLE.json=AGAINST: score a candidate bundle as model KEY on the same pages and give "
                         "its paired difference from model AGAINST (e.g. cnn1d_new=/tmp/c/cnn1d_superdiag.json=cnn1d)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--name", default=None)
    ap.add_argument("--no-truth", action="store_true", help="skip the reference rows on true signals")
    ap.add_argument("--truth-only", action="store_true", help="only the reference rows (no picture is read)")
    args = ap.parse_args()
    candidates = []
    for spec in args.candidates:
        parts = spec.split("=")
        if len(parts) != 3:
            ap.error(f"--candidates takes KEY=BUNDLE.json=AGAINST, got {spec!r}")
        candidates.append(tuple(parts))
    name = args.name or f"eval_{args.source}"
    cache = os.path.expanduser(os.environ.get("ECGCLS_CACHE", "~/.cache/ecgcls"))
    root = resolve_root(archive=str(SHARED / "data" / "ptbxl-mini.tar.xz"), cache_dir=cache)
    db = load_database(root)
    y_super = derive_labels(root, "superdiagnostic", db=db)
    y_rhythm = derive_labels(root, "rhythm", db=db)
    classes = load_bundle("patchecg").classes
    test_ids = make_splits(db, y_super.index, {"train": [10], "val": [8, 9], "test": list(range(1, 8))})["test"]
    if args.source == "eik":
        sets = {s: Path(args.eik) / s for s in args.sets}
    else:
        ids = [int(i) for i in test_ids]
        folder = OUT / "pictures"
        if args.records == "afib":
            afib = [i for i in ids if i in y_rhythm.index and y_rhythm.loc[i, "AFIB"] > 0]
            ids, folder = afib + [i for i in ids if i not in afib], OUT / "pictures_afib"
        elif args.records == "eik":
            ids, folder = eik_records(Path(args.eik), args.sets, ids), OUT / f"pictures_eik_{'_'.join(args.sets)}"
        draw_pages(ids[: args.n], args.layouts, args.artifacts, root, cache, folder, args.workers)
        sets = {preset: folder / preset for preset in args.artifacts}
    work = OUT / name
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"source": args.source, "models": {}, "sets": {}, "test_folds": list(range(1, 8)),
                 "note": "eik-validation is for measuring only (never trained or tuned on)" if args.source == "eik"
                 else f"own renders of the first {args.n} test-fold records" if args.records == "first"
                 else f"own renders of the records of eik-validation's {', '.join(args.sets)} pages (up to {args.n})"
                 if args.records == "eik"
                 else f"own renders of {args.n} test-fold records: every one with AFIB, then the first others"}
    all_rows: list[dict] = []
    for set_name, folder in sets.items():
        rows = {} if args.truth_only else read_set(folder, work / f"{set_name}_both.csv", classes, args)
        for f in sorted(Path(folder).rglob("*")):  # pages with no answer at all (error rows)
            if f.suffix.lower() in (".jpg", ".jpeg", ".png") and str(f) not in rows:
                ecg_id, layout = page_key(str(f))
                rows[str(f)] = {"ecg_id": ecg_id, "layout": layout, "afib": None, "afib_net": None,
                                "probs": {} if args.truth_only else
                                {"patchecg": None, "pic2dx": None, "both": None, "both_even": None}}
        if not args.no_cnn1d and not args.truth_only:
            model_probs(rows, folder, work / f"{set_name}_cnn1d.csv", classes, args)
        for key, bundle, _ in candidates:
            model_probs(rows, folder, work / f"{set_name}_{key}.csv", classes, args, key, bundle)
        if not args.no_truth:
            truth_probs(rows, Path(folder), root, db, args.source, args.rhythm or None)
        rows_l = list(rows.values())
        all_rows += [{**r, "set": set_name} for r in rows_l]
        res["sets"][set_name] = score(rows_l, y_super, y_rhythm, classes)
        for key, _, against in candidates:
            res["sets"][set_name].setdefault("paired", {})[f"{key} - {against}"] = paired(rows_l, y_super, classes,
                                                                                          against, key)
        for m, e in res["sets"][set_name].items():
            if not m.startswith("AFIB"):
                print(f"{set_name:10s} {m:9s} macro AUROC {e.get('macro_auroc', float('nan')):.4f}  coverage "
                      f"{e['coverage']:.1%}  ECE {e.get('ece', float('nan')):.3f}  spread {e.get('layout_spread', '-')}")
        for tag in ("AFIB", "AFIB net", "AFIB@record", "AFIB net@record"):
            if tag in res["sets"][set_name]:
                print(f"{set_name:10s} {tag} {res['sets'][set_name][tag]}")
    res["sets"]["all"] = score(all_rows, y_super, y_rhythm, classes)
    for key, bundle, against in candidates:
        res["sets"]["all"].setdefault("paired", {})[f"{key} - {against}"] = paired(all_rows, y_super, classes,
                                                                                   against, key)
        res["models"][key] = {"bundle": bundle, **{k: v for k, v in load_bundle(bundle).card.items()
                                                  if k in ("note", "command")}}
    for m in ("cnn1d", "patchecg", "pic2dx", "both"):
        try:
            res["models"][m] = {k: v for k, v in load_bundle({"both": "pic2dx"}.get(m, m)).card.items()
                                if k in ("note", "command")}
        except (ValueError, FileNotFoundError):
            pass
    # pictures a person would rather look at
    curves, bars = {}, {}
    for m in ("cnn1d", "patchecg", "pic2dx", "both", *(c[0] for c in candidates)):
        ans = [r for r in all_rows if r["probs"].get(m) is not None and r["ecg_id"] in y_super.index]
        if ans:
            curves[m] = (np.stack([r["probs"][m] for r in ans]),
                         y_super.loc[[r["ecg_id"] for r in ans], classes].to_numpy(np.float32))
        for s, e in res["sets"].items():
            for lay, v in e.get(m, {}).get("layouts", {}).items():
                if s != "all" and np.isfinite(v["macro_auroc"]):
                    bars[f"{m} {s} {lay}"] = v["macro_auroc"]
    if curves:
        M.plot_reliability(curves, OUT / f"{name}_reliability.png", title=f"reliability ({args.source})")
    if bars:
        M.plot_bars(bars, OUT / f"{name}_layouts.png", title=f"macro AUROC per set and layout ({args.source})")
    write_json(name, res)
    (OUT / f"{name}.md").write_text(markdown(res))


def markdown(res: dict) -> str:
    lines = [f"# classifiers on pictures ({res['source']})", "", res["note"], "",
             "Macro AUROC with its 95 % bootstrap interval over records (`ecgcls.metrics.bootstrap_macro_auroc_ci`, "
             "1,000 resamples, seed 0); positives per class of the pages each model answered.", "",
             "| set | model | macro AUROC | 95 % interval | coverage | ECE | layout spread | per layout (n) | positives |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s, e in res["sets"].items():
        for m, v in e.items():
            if m.startswith("AFIB") or m == "paired":
                continue
            per = ", ".join(f"{k} {x['macro_auroc']:.3f} ({x['n']})" for k, x in v.get("layouts", {}).items())
            ci = "–".join(f"{x:.3f}" for x in v.get("macro_auroc_ci95", []))
            pos = " ".join(f"{c} {n}" for c, n in v.get("positives", {}).items())
            lines.append(f"| {s} | {m} | {v.get('macro_auroc', float('nan')):.4f} | {ci} | {v['coverage']:.1%} | "
                         f"{v.get('ece', float('nan')):.3f} | {v.get('layout_spread', '')} | {per} | {pos} |")
    pairs = [(s, k, v) for s, e in res["sets"].items() for k, v in e.get("paired", {}).items() if v]
    if pairs:
        lines += ["", "Paired differences on the pages both answered (same resamples; an interval holding 0 is no finding):",
                  "", "| set | difference | pages | macro AUROC difference | 95 % interval |", "|---|---|---|---|---|"]
        lines += [f"| {s} | {k} | {v['pages']} | {v['diff']:+.4f} | {v['ci95'][0]:+.4f} to {v['ci95'][1]:+.4f} |"
                  for s, k, v in pairs]
    lines += ["", "| set | p_AFIB from | pages | AFIB positives | AFIB AUROC | labelled AFIB: positives / others | "
              "per layout (pages, positives) |", "|---|---|---|---|---|---|---|"]
    for s, e in res["sets"].items():
        for tag, source in (("AFIB", "the picture"), ("AFIB net", "the picture, network only"),
                            ("AFIB@record", "the true signal"), ("AFIB net@record", "the true signal, network only")):
            if tag in e:
                a = e[tag]
                per = ", ".join(f"{k} {v['auroc']} ({v['pages']}, {v['positives']})"
                                for k, v in a.get("layouts", {}).items())
                lab = (f"{a['labelled_positives']} / {a['labelled_others']}" if "labelled_others" in a else "")
                lines.append(f"| {s} | {source} | {a['pages']} | {a['positives']} | {a['auroc']} | {lab} | {per} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
