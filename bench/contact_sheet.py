"""Contact sheet of every layout and every artifact, for looking at by eye; and what the picture classifiers
see (plain inverted grayscale vs the "ink" preprocessing) on rendered photos and on the real pictures.

    python bench/contact_sheet.py   ->  bench/out/contact_sheet_layouts.png, contact_sheet_artifacts.png,
                                        contact_sheet_preprocess.png
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import OUT, ptbxl_signals  # noqa: E402

from ecgcls.geometry import LAYOUTS  # noqa: E402
from ecgcls.render import ARTIFACTS, PRESETS, RenderConfig, render  # noqa: E402


def tile(images, titles, cols=3, width=900):
    cells = []
    for im, title in zip(images, titles):
        h, w = im.shape[:2]
        im = cv2.resize(im, (width, int(h * width / w)), interpolation=cv2.INTER_AREA)
        im = cv2.copyMakeBorder(im, 36, 6, 6, 6, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        cv2.putText(im, title, (8, 27), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
        cells.append(im)
    hmax = max(c.shape[0] for c in cells)
    cells = [cv2.copyMakeBorder(c, 0, hmax - c.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255)) for c in cells]
    while len(cells) % cols:
        cells.append(np.full_like(cells[0], 255))
    rows = [np.hstack(cells[i:i + cols]) for i in range(0, len(cells), cols)]
    return np.vstack(rows)


def main() -> None:
    ids, sigs = ptbxl_signals(500, 12)
    OUT.mkdir(exist_ok=True)
    grids = ["red", "pink", "green", "blue", "gray", "orange", "none"]
    ims, titles = [], []
    for k, name in enumerate(LAYOUTS):
        cfg = RenderConfig(layout=name, grid=grids[k % len(grids)])
        ims.append(render(sigs[k], 500, cfg, rng=k, record_id=str(ids[k])).image)
        titles.append(f"{name}  grid={cfg.grid}  ecg {ids[k]}")
    for k, (speed, gain) in enumerate([(50.0, 10.0), (25.0, 20.0)]):
        ims.append(render(sigs[k + 7], 500, RenderConfig(layout="3x4+II", speed_mm_s=speed, gain_mm_mv=gain), rng=k).image)
        titles.append(f"3x4+II  {speed:g} mm/s  {gain:g} mm/mV")
    path = OUT / "contact_sheet_layouts.png"
    cv2.imwrite(str(path), cv2.cvtColor(tile(ims, titles), cv2.COLOR_RGB2BGR))
    print(f"wrote {path}")
    ims, titles = [], []
    for k, name in enumerate([*ARTIFACTS, "scan", "photo"]):
        cfg = RenderConfig(layout="3x4+II", artifacts=(name,), grid=grids[k % 3])
        ims.append(render(sigs[k % len(sigs)], 500, cfg, rng=k).image)
        titles.append(f"{name}" + (f" = {'+'.join(PRESETS[name])}" if name in PRESETS else ""))
    path = OUT / "contact_sheet_artifacts.png"
    cv2.imwrite(str(path), cv2.cvtColor(tile(ims, titles, cols=4, width=700), cv2.COLOR_RGB2BGR))
    print(f"wrote {path}")
    preprocess_sheet(sigs)


def preprocess_sheet(sigs, size=(224, 288)) -> None:
    """Rendered photos and scans, and the first real pictures: gray | ink, at the classifiers' size."""
    from ecgcls.data.images import preprocess
    from ecgcls.digitize import load_image

    pics, titles = [], []
    for k, preset in enumerate(["photo", "scan", "photo", "photo"]):
        cfg = RenderConfig(layout=("3x4+II", "6x2", "12x1", "cabrera")[k], artifacts=(preset,), grid=("red", "gray", "pink", "green")[k])
        pics.append(render(sigs[k], 500, cfg, rng=k).image)
        titles.append(f"rendered {preset}, {cfg.grid} grid")
    real = Path(os.environ.get("ECGCLS_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "real-images"
    for f in sorted(p for p in real.glob("ecg*") if p.suffix.lower() in (".png", ".jpg", ".bmp"))[:4]:
        pics.append(load_image(f))
        titles.append(f"real {f.name}")
    ims, names = [], []
    for pic, title in zip(pics, titles):
        for method in ("gray", "ink"):
            ims.append(cv2.cvtColor(preprocess(pic, size, method), cv2.COLOR_GRAY2RGB))
            names.append(f"{title}: {method}")
    path = OUT / "contact_sheet_preprocess.png"
    cv2.imwrite(str(path), cv2.cvtColor(tile(ims, names, cols=4, width=600), cv2.COLOR_RGB2BGR))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
