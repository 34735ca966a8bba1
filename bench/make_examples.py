"""Render the bundled example pictures (examples/) from held-out PTB-XL pack records (test folds 1-7).

    python bench/make_examples.py
"""
from __future__ import annotations

import os
import sys

import cv2

sys.path.insert(0, os.path.dirname(__file__))
from _common import REPO  # noqa: E402

from ecgcls.data import derive_labels, load_database, resolve_root, SignalStore  # noqa: E402
from ecgcls.render import RenderConfig, render  # noqa: E402

CASES = [  # (ecg_id, layout, artifacts, grid)
    (161, "3x4+II", (), "red"),
    (22, "6x2", ("scan",), "pink"),
    (32, "12x1", (), "green"),
    (1, "3x4+II", ("photo",), "red"),
]


def main() -> None:
    cache = os.environ.get("ECGCLS_CACHE", "~/.cache/ecgcls")
    shared = os.environ.get("ECGCLS_SHARED", str(REPO.parent / "shared"))
    root = resolve_root(archive=f"{shared}/data/ptbxl-mini.tar.xz", cache_dir=cache)
    db = load_database(root)
    labels = derive_labels(root, "superdiagnostic", db=db)
    store = SignalStore(root, 500, cache)
    out = REPO / "examples"
    out.mkdir(exist_ok=True)
    lines = ["# Example pictures", "", "Rendered by `python bench/make_examples.py` from PTB-XL pack records of the "
             "held-out test folds (1-7; never used for training). Truth from PTB-XL `scp_codes`.", "",
             "| file | ecg_id | strat_fold | layout | artifacts | superdiagnostic truth |", "|---|---|---|---|---|---|"]
    for ecg_id, layout, arts, grid in CASES:
        fold = int(db.at[ecg_id, "strat_fold"])
        assert fold <= 7, f"ecg {ecg_id} is in fold {fold}, not a test fold"
        page = render(store.get(ecg_id), 500, RenderConfig(layout=layout, artifacts=arts, grid=grid, dpi=150),
                      rng=ecg_id, record_id=str(ecg_id))
        name = f"ecg{ecg_id:05d}_{layout.replace('+', 'p')}{'_' + arts[0] if arts else ''}.jpg"
        cv2.imwrite(str(out / name), cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        truth = ";".join(c for c in labels.columns if labels.at[ecg_id, c] == 1) if ecg_id in labels.index else "-"
        lines.append(f"| {name} | {ecg_id} | {fold} | {layout} | {'+'.join(arts) or 'clean'} | {truth} |")
        print("wrote", out / name)
    (out / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
