"""Where on the page a class came from: attribution from a bundled classifier back to the picture.

- **Signal models** (PatchECG, the 1-D CNN): integrated gradients (Captum) of the class logit with respect to the
  digitized leads, against an all-zero (flat-line) baseline; samples that were not read (NaN) stay NaN along the
  path and get no attribution. :func:`per_patch` sums it over windows (PatchECG's own patches), and
  :func:`draw_signal_evidence` maps those windows through the digitizer's placement of each printed segment
  (:func:`ecgcls.digitize.stages.place`) onto the page, with the measured fiducials.
- **Picture models** (the Pic2Diagnosis ensemble): Grad-CAM (Captum ``LayerGradCam``) on each member's last
  convolution with a spatial map, averaged over members, drawn on the picture as the model saw it.

Pure functions on arrays; coordinates in picture px, times in s.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ecgcls.data.transforms import fill_missing
from ecgcls.digitize.stages import place
from ecgcls.types import LEADS

#: fiducial → BGR colour and label for the drawings
FIDUCIAL_STYLE = {"p_on": ((200, 90, 0), "P on"), "p_off": ((200, 90, 0), "P off"),
                  "qrs_on": ((0, 0, 220), "QRS on"), "qrs_off": ((0, 0, 220), "QRS off"),
                  "t_off": ((0, 150, 0), "T end")}


class _Logit(nn.Module):
    """A bundled signal model's calibrated logit, differentiable (the bundle's own forward is no-grad)."""

    def __init__(self, bundle) -> None:
        super().__init__()
        self.bundle = bundle

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bundle.net(fill_missing(x, self.bundle.input_fill)) / self.bundle.temperature


def integrated_gradients(bundle, signal: np.ndarray, targets: list[int], steps: int = 32) -> np.ndarray:
    """Integrated gradients of each target class's logit for one (12, T) input (mV, NaN where not read) of a
    bundled signal model → (len(targets), 12, T) float32, 0 where the input is NaN. Completeness: each map sums
    to logit(x) − logit(flat line) up to the path integral's error (``steps`` Riemann steps)."""
    from captum.attr import IntegratedGradients

    if bundle.input != "signal":
        raise ValueError(f"integrated_gradients needs a signal model, {bundle.name} reads pictures")
    x = torch.as_tensor(np.asarray(signal, np.float32))[None]
    base = torch.where(torch.isnan(x), x, torch.zeros_like(x))  # the path keeps unread samples unread
    ig = IntegratedGradients(_Logit(bundle))
    out = []
    for t in targets:
        a = ig.attribute(x, baselines=base, target=int(t), n_steps=steps, internal_batch_size=steps)
        out.append(torch.nan_to_num(a[0].detach(), nan=0.0).numpy())
    return np.stack(out).astype(np.float32)


def per_patch(attr: np.ndarray, patch_len: int) -> np.ndarray:
    """(..., T) attribution → (..., ceil(T / patch_len)) sums over consecutive windows of ``patch_len`` samples
    (PatchECG's tokens when ``patch_len`` is its own)."""
    t = attr.shape[-1]
    n = -(-t // patch_len)
    pad = np.zeros((*attr.shape[:-1], n * patch_len - t), attr.dtype)
    return np.concatenate([attr, pad], -1).reshape(*attr.shape[:-1], n, patch_len).sum(-1)


def patch_len_of(bundle, fs: float) -> int:
    """The window attribution is shown in: PatchECG's patch length, else 0.25 s."""
    return int(getattr(bundle.net, "patch_len", 0) or max(1, round(0.25 * fs)))


def _conv_layers(member: nn.Module, x: torch.Tensor) -> nn.Module:
    """The last Conv2d whose output still has a spatial map (> 1 × 1) for input ``x``."""
    shapes: dict[nn.Module, tuple] = {}
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.__setitem__(m, tuple(o.shape)))
             for m in member.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            member(x)
    finally:
        for h in hooks:
            h.remove()
    spatial = [m for m, s in shapes.items() if s[-1] * s[-2] > 1]
    if not spatial:
        raise ValueError(f"{type(member).__name__}: no convolution with a spatial output")
    return spatial[-1]


def gradcam(bundle, x: torch.Tensor, target: int) -> np.ndarray:
    """Grad-CAM of class ``target`` for one picture tensor ``x`` (1, H, W) of a bundled picture model →
    (H, W) float32 in [0, 1] (ReLU'd, upsampled bilinearly, averaged over ensemble members, max-normalised).
    Thread-safe: works on a copy of each member, so concurrent predictions with the same bundle are untouched."""
    from captum.attr import LayerAttribution, LayerGradCam

    if bundle.input != "picture":
        raise ValueError(f"gradcam needs a picture model, {bundle.name} reads signals")
    xb = x[None].float()
    members = list(getattr(bundle.net, "members", [bundle.net]))
    maps = []
    for shared in members:
        # captum hooks the layer; a hook on the shared module would also fire on (and record) forwards that
        # other threads run meanwhile (the web service answers several pages at once), so hook a private copy
        m = copy.deepcopy(shared)
        layer = _conv_layers(m, xb)
        cam = LayerGradCam(m, layer).attribute(xb, target=int(target), relu_attributions=True)
        maps.append(LayerAttribution.interpolate(cam, tuple(xb.shape[-2:]), "bilinear")[0, 0].detach())
    cam = torch.stack(maps).mean(0).clamp_min(0).numpy()
    return (cam / cam.max() if cam.max() > 0 else cam).astype(np.float32)


def draw_gradcam(prepared: np.ndarray, cam: np.ndarray, scale: int = 3) -> np.ndarray:
    """The picture as the model saw it (uint8 (H, W), ink bright) with a Grad-CAM map on top → BGR uint8."""
    import cv2

    base = cv2.cvtColor(255 - prepared, cv2.COLOR_GRAY2BGR)
    heat = cv2.applyColorMap((np.clip(cam, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    out = np.where(cam[..., None] > 0.15, cv2.addWeighted(base, 0.55, heat, 0.45, 0), base)
    return cv2.resize(out, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)


def draw_signal_evidence(overlay: np.ndarray, scale: float, placement: list[dict], fiducials: dict | None = None,
                         attribution: np.ndarray | None = None, fs: float = 100.0, window: int = 25,
                         title: str = "") -> np.ndarray:
    """Draw on a copy of the digitizer's overlay (BGR, ``scale`` × the de-skewed picture's px):

    - ``attribution`` (12, T) at ``fs`` Hz (one class): each ``window``-sample window of a lead that pushed the
      class up is shaded red over where that lead was printed, opacity ∝ its share of the page's largest window;
    - ``fiducials`` ({lead: {"p_on": [s, ...], ...}} from :func:`ecgcls.measure.measure`): ticks at each
      P on/off (blue), QRS on/off (red) and T end (green) on the lead's baseline."""
    import cv2

    img = overlay.copy()
    if attribution is not None:
        w = per_patch(np.clip(attribution, 0, None), window)  # evidence for the class only
        top = float(w.max())
        shade = img.copy()
        alpha = np.zeros(img.shape[:2], np.float32)
        for i, lead in enumerate(LEADS):
            for j in np.flatnonzero(w[i] > 0.05 * top) if top > 0 else []:
                t = np.array([j * window / fs, min((j + 1) * window, attribution.shape[-1]) / fs - 1e-6])
                x, y0, k = place(placement, lead, t)
                k = np.abs(k)
                if not np.isfinite(x).all():
                    continue
                half = 1.2 * k[0]  # ±1.2 mV around the lead's baseline
                x0, x1 = int(x[0] * scale), int(x[1] * scale)
                ya, yb = int((y0[0] - half) * scale), int((y0[0] + half) * scale)
                cv2.rectangle(shade, (x0, ya), (x1, yb), (0, 0, 255), -1)
                alpha[max(ya, 0):max(yb, 0), max(x0, 0):max(x1, 0)] = np.maximum(
                    alpha[max(ya, 0):max(yb, 0), max(x0, 0):max(x1, 0)], 0.55 * w[i, j] / top)
        img = (img * (1 - alpha[..., None]) + shade * alpha[..., None]).astype(np.uint8)
    for lead, f in (fiducials or {}).items():
        for key, (colour, _) in FIDUCIAL_STYLE.items():
            t = np.array([np.nan if v is None else v for v in f.get(key, [])], float)
            if not len(t):
                continue
            x, y0, k = place(placement, lead, t)
            k = np.abs(k)
            lw = max(1, int(round(img.shape[1] / 1400)))
            for xi, yi, ki in zip(x, y0, k):
                if np.isfinite(xi):  # a short tick below the baseline, out of the trace's way
                    cv2.line(img, (int(xi * scale), int((yi + 0.15 * ki) * scale)),
                             (int(xi * scale), int((yi + 0.45 * ki) * scale)), colour, lw, cv2.LINE_AA)
    if title:
        s = img.shape[1] / 1500
        cv2.putText(img, title, (10, int(img.shape[0] - 15 * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * s, (0, 0, 200),
                    max(1, int(2 * s)), cv2.LINE_AA)
    return img
