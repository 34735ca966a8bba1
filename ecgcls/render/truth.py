"""What a rendered page is: its picture and its exact truth (masks, boxes, segments), and how it is saved.

Kept apart from the renderer (:mod:`ecgcls.render.page`) so that the artifacts (:mod:`ecgcls.render.artifacts`),
which take and return pages, sit below the renderer that applies them instead of importing it back.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ecgcls.types import LEADS

if TYPE_CHECKING:  # annotations only
    from ecgcls.geometry import Layout, PageGeometry
    from ecgcls.render.page import RenderConfig, SegmentTruth

#: mask bits past the 12 leads: calibration pulses, text and separators
CAL_BIT, TEXT_BIT = 12, 13


@dataclass
class Box:
    """Axis-aligned box in image px, (x0, y0, x1, y1); ``kind`` is 'lead', 'label' or 'calibration'."""

    kind: str
    lead: str | None
    row: int
    xyxy: tuple[float, float, float, float]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "lead": self.lead, "row": self.row, "xyxy": [round(v, 2) for v in self.xyxy]}


@dataclass
class RenderedPage:
    """A drawn page and its truth.

    ``mask``: uint16 (H, W); bit ``k`` (k < 12) set where lead ``LEADS[k]``'s ink lies (overlapping
    leads keep both bits), bit 12 calibration pulses, bit 13 text and separators.
    """

    image: np.ndarray
    mask: np.ndarray
    geometry: PageGeometry
    layout: Layout
    segments: list[SegmentTruth]
    boxes: list[Box]
    config: RenderConfig
    record_id: str = ""
    header_text: list[str] = field(default_factory=list)

    def lead_mask(self, lead: str | int) -> np.ndarray:
        """Boolean (H, W) ink mask of one lead."""
        k = lead if isinstance(lead, int) else LEADS.index(lead)
        return (self.mask >> k) & 1 == 1

    def trace_mask(self) -> np.ndarray:
        """Boolean (H, W): ink of any lead (the image ensemble's stage-1 input)."""
        return (self.mask & ((1 << 12) - 1)) != 0

    def to_json(self, with_points: bool = True) -> dict:
        return {"record_id": self.record_id, "layout": self.layout.to_dict(), "geometry": self.geometry.to_dict(),
                "config": self.config.to_dict(), "image_size": list(self.image.shape[:2]),
                "segments": [s.to_dict(with_points) for s in self.segments],
                "boxes": [b.to_dict() for b in self.boxes], "header": self.header_text,
                "mask_bits": {**{lead: i for i, lead in enumerate(LEADS)}, "calibration": CAL_BIT, "text": TEXT_BIT}}

    def yolo_lines(self) -> list[str]:
        """YOLO txt rows: class = lead index (lead boxes) or 12 + lead index (name boxes), 24 = calibration."""
        h, w = self.image.shape[:2]
        out = []
        for b in self.boxes:
            cls = {"lead": 0, "label": 12}.get(b.kind, 24) + (LEADS.index(b.lead) if b.lead and b.kind != "calibration" else 0)
            x0, y0, x1, y1 = np.clip(b.xyxy, 0, [w, h, w, h])
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            out.append(f"{cls} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}")
        return out

    def save(self, out_dir: str | Path, stem: str, jpeg_quality: int | None = None, png_level: int = 1,
             mask_format: str = "png", points: str = "json", yolo: bool = True) -> dict[str, str]:
        """Write the page and its truth into ``out_dir``; returns the written paths by kind.

        - ``image``: ``stem.png`` (zlib level ``png_level`` with the "up" row filter only, lossless) or ``stem.jpg`` at ``jpeg_quality``;
        - ``mask``: the uint16 bitmask as ``stem_mask.png`` (16-bit PNG) or ``stem_mask.npz`` (only the inked
          pixels: ``y``, ``x``, ``bits`` and ``shape``, compressed — :func:`load_mask` reads both);
        - ``truth``: ``stem.json`` (layout, geometry, config, boxes, segments); every sample's (x, y) px is in it
          (``points="json"``) or in ``stem_points.npz`` (``points="npz"``: one float32 (n, 2) array per segment,
          ``seg0``, ``seg1``, ... in the JSON's segment order — compact and fast);
        - ``yolo``: ``stem.txt`` (lead and label boxes).
        Each file is written under a temporary name and renamed, so a file that exists is whole."""
        if mask_format not in ("png", "npz") or points not in ("json", "npz"):
            raise ValueError(f"mask_format must be png|npz and points json|npz, got {mask_format!r}, {points!r}")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        bgr = cv2.cvtColor(self.image, cv2.COLOR_RGB2BGR)
        paths = {}
        if jpeg_quality:
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
            paths["image"] = _write(out_dir / f"{stem}.jpg", buf, ok)
        else:
            ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level), *PNG_FAST])
            paths["image"] = _write(out_dir / f"{stem}.png", buf, ok)
        if mask_format == "png":
            ok, buf = cv2.imencode(".png", self.mask, [cv2.IMWRITE_PNG_COMPRESSION, 1, *PNG_FAST])
            paths["mask"] = _write(out_dir / f"{stem}_mask.png", buf, ok)
        else:
            nz = cv2.findNonZero(cv2.compare(self.mask, 0, cv2.CMP_NE))  # x, y pairs; ~4x np.nonzero's speed
            nz = np.zeros((0, 2), np.int32) if nz is None else nz.reshape(-1, 2)
            xs, ys = nz[:, 0], nz[:, 1]
            bio = io.BytesIO()
            np.savez_compressed(bio, y=ys.astype(np.uint16), x=xs.astype(np.uint16), bits=self.mask[ys, xs],
                                shape=np.asarray(self.mask.shape, np.int64))
            paths["mask"] = _write(out_dir / f"{stem}_mask.npz", bio.getvalue())
        truth = self.to_json(with_points=points == "json")
        if points == "npz":
            bio = io.BytesIO()
            np.savez(bio, **{f"seg{i}": s.xy.astype(np.float32) for i, s in enumerate(self.segments)})
            paths["points"] = _write(out_dir / f"{stem}_points.npz", bio.getvalue())
            truth["points_file"] = Path(paths["points"]).name
        paths["truth"] = _write(out_dir / f"{stem}.json", json.dumps(truth).encode())
        if yolo:
            paths["yolo"] = _write(out_dir / f"{stem}.txt", ("\n".join(self.yolo_lines()) + "\n").encode())
        return paths


#: PNG settings for speed: the "up" row filter alone (bench/render.py --encodings: ~2x faster than libpng's
#: adaptive filter choice at level 1 for ~20 % more bytes on a 200-DPI page)
PNG_FAST = (cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP)


def _write(path: Path, data, ok: bool = True) -> str:
    """Write bytes to ``path`` through a temporary name (a file that exists is whole)."""
    if not ok:
        raise OSError(f"{path}: could not encode")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)
    return str(path)


def load_mask(path: str | Path) -> np.ndarray:
    """A saved bitmask (``_mask.png`` or ``_mask.npz``) → uint16 (H, W)."""
    path = Path(path)
    if path.suffix == ".npz":
        z = np.load(path)
        m = np.zeros(tuple(z["shape"]), np.uint16)
        m[z["y"], z["x"]] = z["bits"]
        return m
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise ValueError(f"{path}: cannot read mask")
    return m


