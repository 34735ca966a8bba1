"""The learned ink map: the trace segmentation network (:mod:`ecgcls.models.traceseg`) run on a picture.

Pure function of the picture (and the bundled weights): RGB uint8 (H, W, 3) in, per-pixel probabilities
(len(CHANNELS), H, W) float32 out, at the picture's own resolution. The network sees the picture resized so its
long side is the bundle's ``long_side`` (px) — the size it was trained at — and its output is resized back.

Two runtimes give the same probabilities (to ~1e-5): PyTorch, and onnxruntime on ``traceseg.onnx`` — a graph
exported from the same weights (:func:`export_trace_onnx`, ``ecgcls traceseg-onnx``) that carries the SHA-256 of
the ``.safetensors`` it came from. onnxruntime runs this network faster on CPU (batch norms folded into the
convolutions; ``ink=net`` on 200 DPI pages 4.2 → 5.1 pictures/s on 2 cores, ``bench/results/digitize_speed.json``),
so ``runtime="auto"`` uses it wherever onnxruntime is installed and the graph matches the weights, and PyTorch
otherwise (a graph left over from other weights is never used). The onnxruntime path reads only the JSON card and
the graph: the PyTorch network (and with it segmentation-models-pytorch, timm and torchvision, ~4 s of imports in
each predict worker process) is built only where it runs.
"""
from __future__ import annotations

import functools
import hashlib
import json
import warnings
from pathlib import Path

import cv2
import numpy as np

#: bundled weights (safetensors) and their card (JSON beside them); the ONNX graph of the same weights beside them
DEFAULT_TRACE_NET = Path(__file__).resolve().parents[1] / "weights" / "traceseg.safetensors"
RUNTIMES = ("auto", "onnx", "torch")


@functools.lru_cache(maxsize=4)
def load_trace_card(path: str | Path | None = None) -> dict:
    """The bundle metadata (``traceseg.json``) of ``traceseg.safetensors``; FileNotFoundError where either is
    missing. Reading it builds no network (and imports neither PyTorch's model zoo nor timm)."""
    path = Path(path or DEFAULT_TRACE_NET)
    card = path.with_suffix(".json")
    if not path.is_file() or not card.is_file():
        raise FileNotFoundError(f"{path}: trace network weights (and {card.name}) not found; train them with "
                                f"`python train.py experiment=trace_seg` or use ink='classic'")
    return json.loads(card.read_text())


@functools.lru_cache(maxsize=4)
def load_trace_net(path: str | Path | None = None):
    """(network in eval mode, bundle metadata) from ``traceseg.safetensors`` + ``traceseg.json``."""
    import torch
    from safetensors.torch import load_file

    from ecgcls.models import create

    meta = load_trace_card(path)
    path = Path(path or DEFAULT_TRACE_NET)
    cfg = dict(meta["net"])
    net = create(cfg.pop("name", "traceseg"), **cfg)
    net.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    # NHWC convolutions run this network ~1.4-1.7x faster on CPU than NCHW (bench/results/channels_last.json): the
    # weights and the picture (see trace_probability) both channels-last; outputs equal to ~1e-5
    net.eval().to(memory_format=torch.channels_last)
    return net, meta


def weights_digest(path: str | Path) -> str:
    """SHA-256 (hex) of a weights file: what ties an exported graph to the weights it was exported from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _graph_module(net):
    """``x`` (B, 3, H, W) RGB in [0, 1], H and W multiples of the encoder stride → probabilities (B, C, H, W):
    the network's normalisation, U-Net and sigmoid, without the padding (done in numpy, see :func:`_padded_input`)."""
    import torch

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet, self.mean, self.std = net.unet, net.mean, net.std

        def forward(self, x):
            return torch.sigmoid(self.unet((x - self.mean) / self.std))

    return Graph().eval()


def _padded_input(small: np.ndarray, stride: int) -> np.ndarray:
    """RGB uint8 (h, w, 3) → float32 (1, 3, h', w') in [0, 1], edge-padded right and below to multiples of
    ``stride`` (as :meth:`PaddedUnet.padded` pads: replicate)."""
    h, w = small.shape[:2]
    x = np.pad(small, ((0, (-h) % stride), (0, (-w) % stride), (0, 0)), mode="edge")
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)


def export_trace_onnx(weights: str | Path | None = None, out: str | Path | None = None, atol: float = 1e-4
                      ) -> tuple[Path, float]:
    """Write the trace network of ``weights`` (default: the bundled one) as an ONNX graph (default: beside the
    weights, ``.onnx``) with dynamic height and width, stamped with the weights' SHA-256; check it against PyTorch
    with onnxruntime on a random picture. Returns (path, max |onnxruntime − PyTorch|); ValueError beyond ``atol``."""
    import copy

    import torch

    try:
        import onnx
        import onnxruntime as ort
    except ImportError as exc:
        raise ValueError(f"exporting the trace network needs onnx and onnxruntime (pip install 'ecgcls[onnx]'): "
                         f"{exc}") from None
    weights = Path(weights or DEFAULT_TRACE_NET)
    net, meta = load_trace_net(weights)
    net = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
    graph, out = _graph_module(net), Path(out) if out else weights.with_suffix(".onnx")
    x = torch.from_numpy(_padded_input(np.random.default_rng(0).integers(0, 256, (200, 328, 3), np.uint8), net.stride))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (x,), str(out), input_names=["x"], output_names=["probs"], opset_version=17,
                          dynamic_axes={"x": {2: "height", 3: "width"}, "probs": {2: "height", 3: "width"}},
                          dynamo=False)
    model = onnx.load(str(out))
    for key, value in {"safetensors_sha256": weights_digest(weights), "stride": str(net.stride),
                       "channels": json.dumps(meta.get("channels", []))}.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(out))
    # check at a second size the export never saw: the graph's shapes must really be dynamic
    y = torch.from_numpy(_padded_input(np.random.default_rng(1).integers(0, 256, (120, 250, 3), np.uint8), net.stride))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        err = max(float(np.abs(sess.run(None, {"x": t.numpy()})[0] - graph(t).numpy()).max()) for t in (x, y))
    if err > atol:
        raise ValueError(f"{out}: onnxruntime differs from PyTorch by {err:.2e} (> {atol})")
    return out, err


@functools.lru_cache(maxsize=4)
def load_trace_session(path: str | Path | None = None, threads: int = 1):
    """(onnxruntime session, None) for the ONNX graph beside ``path`` (default: the bundled weights), or (None,
    why not): onnxruntime missing, no graph, or a graph exported from other weights (SHA-256 differs)."""
    path = Path(path or DEFAULT_TRACE_NET)
    graph = path.with_suffix(".onnx")
    try:
        import onnxruntime as ort
    except ImportError:
        return None, "onnxruntime is not installed"
    if not graph.is_file():
        return None, f"{graph} not found (write it with `ecgcls traceseg-onnx`)"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = max(1, int(threads)), 1
    sess = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
    stamp = sess.get_modelmeta().custom_metadata_map.get("safetensors_sha256")
    if not path.is_file() or stamp != weights_digest(path):
        return None, f"{graph} was exported from other weights than {path.name} (re-export: `ecgcls traceseg-onnx`)"
    return sess, None


def _run_onnx(small: np.ndarray, weights) -> tuple[np.ndarray | None, str | None]:
    """(probabilities (C, h, w) of the network-sized picture ``small``, None), or (None, why onnxruntime can't).
    The padding stride is the one stamped in the graph at export."""
    import torch

    sess, why = load_trace_session(weights, torch.get_num_threads())
    if sess is None:
        return None, why
    stride = sess.get_modelmeta().custom_metadata_map.get("stride")
    if stride is None:
        return None, "the ONNX graph carries no stride (re-export: `ecgcls traceseg-onnx`)"
    h, w = small.shape[:2]
    return sess.run(None, {"x": _padded_input(small, int(stride))})[0][0, :, :h, :w], None


def trace_probability(image: np.ndarray, weights: str | Path | None = None, long_side: int | None = None,
                      runtime: str = "auto") -> np.ndarray:
    """Probability of trace ink (channel 0) and calibration pulse (channel 1) for every pixel of ``image``.

    ``image``: RGB uint8 (H, W, 3). ``long_side``: px the network works at (default: the bundle's training
    size). ``runtime``: "torch", "onnx" (onnxruntime; an error where its graph of these weights is missing) or
    "auto" (onnxruntime where it can, else PyTorch). Returns float32 (2, H, W) in [0, 1].
    """
    import torch

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"trace_probability: expected RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if runtime not in RUNTIMES:
        raise ValueError(f"trace_probability: runtime={runtime!r}; choose from {', '.join(RUNTIMES)}")
    meta = load_trace_card(weights)  # the PyTorch network is built only where onnxruntime is not used
    h, w = image.shape[:2]
    side = int(long_side or meta.get("card", {}).get("data", {}).get("long_side", 1024))
    k = side / max(h, w)
    size = (max(16, int(round(w * k))), max(16, int(round(h * k))))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    p, why = _run_onnx(small, weights) if runtime != "torch" else (None, None)
    if p is None and runtime == "onnx":
        raise RuntimeError(f"trace_probability: runtime='onnx' but {why}")
    if p is None:
        net, _ = load_trace_net(weights)
        x = (torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255.0).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            p = torch.sigmoid(net(x))[0].numpy()
    return np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in p]).astype(np.float32)


#: Is the picture an ECG at all? Only where the trace network finds pen strokes that, each at least
#: ``STROKE_MIN_WIDTH`` of the page's width wide, together span ``ECG_MIN_COVER`` page widths. A 12-lead page's
#: rows span it several times (own renders 1-9 page widths); random noise, text pages and a blank grid give 0 and
#: natural photographs (sklearn's and matplotlib's sample pictures) at most 0.27 at the picture path's threshold
#: (0.5). Chosen on those synthetic negatives and own renders, never on the ecg-image-kit pages
#: (docs/serving.md, "Not an ECG").
STROKE_MIN_WIDTH = 0.1
ECG_MIN_COVER = 0.5
#: the probability a stroke pixel needs: for the picture path (its input is this map) and, fainter, for a page
#: the digitizer read but is unsure of (it found rows; only a page where the network sees no stroke at all is
#: refused: noise gives 0 at 0.1 too)
PICTURE_STROKE_P, FAINT_STROKE_P = 0.5, 0.1


def stroke_cover(prob: np.ndarray, threshold: float = PICTURE_STROKE_P, min_width: float = STROKE_MIN_WIDTH,
                 work_side: int = 1024) -> float:
    """How many page widths the trace strokes span: the summed horizontal extent of the connected components of
    ``prob > threshold`` that are at least ``min_width`` of the page wide, over the page's width (rows whose
    strokes touch — a 12×1 page at 20 mm/mV — count once, as one component). ``prob``: the trace network's ink
    probability (H, W), measured at ``work_side`` px on its long side so the figure does not depend on the
    picture's resolution."""
    if prob.ndim != 2 or prob.size == 0:
        raise ValueError(f"stroke_cover: expected a 2-D probability map, got shape {prob.shape}")
    k = work_side / max(prob.shape)
    small = cv2.resize(prob.astype(np.float32), (max(1, int(round(prob.shape[1] * k))),
                                                 max(1, int(round(prob.shape[0] * k)))),
                       interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    mask = (small > threshold).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    w = stats[1:, cv2.CC_STAT_WIDTH]
    return float(w[w >= min_width * mask.shape[1]].sum() / mask.shape[1])


def not_an_ecg(prob: np.ndarray, name: str = "picture", threshold: float = PICTURE_STROKE_P) -> str | None:
    """The reason ``name`` is not taken for an ECG (see :data:`ECG_MIN_COVER`), or None where it is."""
    cover = stroke_cover(prob, threshold)
    if cover >= ECG_MIN_COVER:
        return None
    return (f"{name}: not an ECG (no trace found): the trace network finds pen strokes spanning {cover:.2f} page "
            f"widths, an ECG page's rows span at least {ECG_MIN_COVER}")
