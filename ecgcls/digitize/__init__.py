"""Picture → 12-lead signals with validity masks.

>>> from ecgcls.digitize import load_image, digitize
>>> page = digitize(load_image("scan.jpg"))
>>> page.record.signal      # (12, 5000) mV, NaN where not printed / not readable
>>> page.layout, page.quality, page.px_per_mm, page.scale_method
"""
from ecgcls.digitize.io import IMAGE_EXTS, PDF_EXTS, ImageError, find_pictures, load_image, load_pages
from ecgcls.digitize.pipeline import DIGITIZER_VERSION, DigitizedPage, DigitizeError, digitize

__all__ = ["DIGITIZER_VERSION", "IMAGE_EXTS", "PDF_EXTS", "ImageError", "find_pictures", "load_image", "load_pages", "DigitizedPage",
           "DigitizeError", "digitize"]
