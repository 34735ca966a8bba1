"""Picture → 12-lead signals with validity masks.

>>> from ecgcls.digitize import load_image, digitize
>>> page = digitize(load_image("scan.jpg"))
>>> page.record.signal      # (12, 5000) mV, NaN where not printed / not readable
>>> page.layout, page.quality, page.status, page.px_per_mm, page.scale_method
>>> digitize(load_image("scan.jpg"), ink="net")   # the learned trace segmentation instead of a threshold
"""
from ecgcls.digitize.io import IMAGE_EXTS, PDF_EXTS, ImageError, find_pictures, load_image, load_pages
from ecgcls.digitize.pipeline import DEFAULT_INK, DIGITIZER_VERSION, INK_METHODS, digitize
from ecgcls.digitize.stages import DigitizedPage, DigitizeError

__all__ = ["DEFAULT_INK", "DIGITIZER_VERSION", "INK_METHODS", "IMAGE_EXTS", "PDF_EXTS", "ImageError", "find_pictures", "load_image", "load_pages", "DigitizedPage",
           "DigitizeError", "digitize"]
