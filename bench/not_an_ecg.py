"""Is it an ECG? What each model answers for pictures that are not ECGs, and how many ECG pictures it refuses.

    python bench/not_an_ecg.py [--models cnn1d patchecg pic2dx both] [--n-own 40] [--real] [--eik]

Negatives (drawn here, or shipped inside installed packages — nothing is downloaded): uniform and Gaussian noise
(colour and gray), a text page, a blank ECG grid, a line chart, and the natural photographs that scikit-learn and
matplotlib ship (china.jpg, flower.jpg, grace_hopper.jpg). Positives: own renders of validation-fold records, (a)
clean 200-DPI pages and (b) hard ones (other machines' conventions or ecgcls's look, 60-150 DPI, artifacts with
probability 0.6); with ``--real`` the 40 real pictures of ``../shared/data/real-images`` and with ``--eik`` the
120 ecg-image-kit pages (both measured only: the check's threshold was not chosen on them). Each set goes through
``run_predict`` as a user runs it; a page counts as answered when its status is ok or uncertain.
Writes bench/out/<name>.json and .md.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import OUT, REPO, ptbxl_fold_signals, write_json  # noqa: E402

from ecgcls.predict import run_predict  # noqa: E402

SHARED = Path(os.environ.get("ECGCLS_SHARED", REPO.parent / "shared"))


def package_photos() -> list[Path]:
    """Natural photographs shipped inside installed packages (scikit-learn, matplotlib)."""
    import matplotlib
    import sklearn

    return [Path(sklearn.__file__).parent / "datasets" / "images" / n for n in ("china.jpg", "flower.jpg")] + \
           [Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"]


def write_negatives(folder: Path, seed: int = 0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((1100, 1700, 3)) * 255).astype(np.uint8)).save(folder / "noise_rgb.png")
    Image.fromarray((rng.random((800, 1200)) * 255).astype(np.uint8)).save(folder / "noise_gray.png")
    Image.fromarray(np.clip(rng.normal(128, 20, (900, 1300)), 0, 255).astype(np.uint8)).save(folder / "noise_soft.png")
    page = Image.new("RGB", (1700, 2200), "white")
    draw = ImageDraw.Draw(page)
    for i in range(60):
        draw.text((100, 80 + 34 * i), f"Lorem ipsum dolor sit amet, consectetur adipiscing elit {i}", fill="black")
    page.save(folder / "text_page.png")
    grid = np.full((1100, 1700, 3), 255, np.uint8)
    for step, colour in ((8, (255, 200, 200)), (40, (240, 120, 120))):
        grid[:, ::step] = colour
        grid[::step, :] = colour
    Image.fromarray(grid).save(folder / "grid_only.png")
    fig, ax = plt.subplots(figsize=(11, 8.5))
    t = np.linspace(0, 10, 2000)
    ax.plot(t, np.sin(2 * np.pi * t) + 0.1 * rng.normal(size=t.size))
    ax.grid(True)
    fig.savefig(folder / "line_chart.png", dpi=120)
    plt.close(fig)
    for p in package_photos():
        shutil.copy(p, folder / p.name)


def write_own(folder: Path, n: int, hard: bool) -> None:
    import cv2

    from ecgcls.data.pagestore import draw_config
    from ecgcls.render import render

    folder.mkdir(parents=True, exist_ok=True)
    ids, signals = ptbxl_fold_signals((8, 9), n=n, fs=500)
    for j, (i, sig) in enumerate(zip(ids, signals)):
        rng = np.random.default_rng([7, i])
        if hard:
            cfg = draw_config(rng, "randomized" if j % 2 else "random", (60.0, 150.0), artifact_prob=0.6,
                              artifacts=("rotation", "noise", "blur", "jpeg", "lighting", "perspective"))
        else:
            cfg = draw_config(rng, "random", (200.0, 200.0), artifact_prob=0.0, dpi=(200.0,))
        page = render(sig, 500, cfg, rng=rng)
        img = page.image if page.image.ndim == 3 else cv2.cvtColor(page.image, cv2.COLOR_GRAY2RGB)
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def answered(folder: Path, model: str, work: Path, workers: int) -> dict:
    out = work / f"{folder.name}_{model}.csv"
    run_predict(str(folder), str(out), model=model, rhythm=None, overwrite=True, workers=workers)
    rows = list(csv.DictReader(open(out)))
    refused = [r for r in rows if r["status"] == "error"]
    return {"pages": len(rows), "answered": len(rows) - len(refused),
            "not_an_ecg": sum("not an ECG" in r["error"] for r in refused),
            "refused": {Path(r["path"]).name: r["error"].split(": ", 1)[-1][:160] for r in refused},
            "labelled": {Path(r["path"]).name: r["labels"] for r in rows if r["status"] != "error"}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["cnn1d", "patchecg", "pic2dx", "both"])
    ap.add_argument("--n-own", type=int, default=40)
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--eik", action="store_true", help="also the ecg-image-kit pages (measured only)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--name", default="not_an_ecg")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="not_an_ecg_"))
    sets = {"negatives": work / "negatives", "own_clean_200dpi": work / "own_clean", "own_hard_60_150dpi": work / "own_hard"}
    write_negatives(sets["negatives"])
    write_own(sets["own_clean_200dpi"], args.n_own, hard=False)
    write_own(sets["own_hard_60_150dpi"], args.n_own, hard=True)
    if args.real:
        sets["real_pictures"] = SHARED / "data" / "real-images"
    if args.eik:
        sets["eik_validation"] = SHARED / "data" / "eik-validation"
    result = {"command": "python bench/not_an_ecg.py " + " ".join(sys.argv[1:]), "sets": {}}
    for name, folder in sets.items():
        result["sets"][name] = {m: answered(folder, m, work, args.workers) for m in args.models}
    write_json(args.name, result)
    lines = [f"Command: `{result['command']}`", "", "| set | " + " | ".join(args.models) + " |",
             "|---|" + "---|" * len(args.models)]
    for name, per in result["sets"].items():
        cells = [f"{v['answered']} of {v['pages']} answered ({v['not_an_ecg']} 'not an ECG')" for v in per.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    (OUT / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
