"""Fast synthetic paper-ECG pictures with exact ground truth.

>>> from ecgcls.render import RenderConfig, render
>>> page = render(signal_12xT_mv, fs=500, config=RenderConfig(layout="6x2", artifacts=("photo",)), rng=0)
>>> page.image, page.mask, page.segments[0].xy, page.geometry
"""
from ecgcls.geometry import LAYOUTS, Layout, PageGeometry, Segment, get_layout, grid_layout, page_geometry
from ecgcls.render.artifacts import ARTIFACTS, PRESETS, apply_artifacts, warp_page
from ecgcls.render.page import (CAL_BIT, GRID_COLORS, TEXT_BIT, Box, RenderConfig, RenderedPage, SegmentTruth,
                                load_mask, render)

__all__ = ["LAYOUTS", "Layout", "PageGeometry", "Segment", "get_layout", "grid_layout", "page_geometry",
           "ARTIFACTS", "PRESETS", "apply_artifacts", "warp_page", "CAL_BIT", "GRID_COLORS", "TEXT_BIT", "Box",
           "RenderConfig", "RenderedPage", "SegmentTruth", "load_mask", "render"]
