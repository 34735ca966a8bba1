"""The picture networks in NCHW vs NHWC (channels-last) memory layout on CPU: seconds per call and the largest
output difference, for the trace segmentation network (one 200-DPI Letter page at its working size) and the
bundled Pic2Dx ensemble (a batch of 16 prepared pictures).

    python bench/channels_last.py [--repeats 3]

ecgcls runs both channels-last (``load_trace_net``, ``BundledModel``); this bench converts each back to NCHW to
time the alternative on the same weights and inputs. Timed: the network call alone (in memory, after one warm-up
call), median of ``--repeats``, with 1 torch thread (a predict worker process) and with all of them.
Writes bench/out/<name>.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from _common import write_json  # noqa: E402

from ecgcls.digitize.segment import load_trace_net  # noqa: E402
from ecgcls.predict import load_bundle  # noqa: E402


def timed(fn, x, repeats: int) -> tuple[float, torch.Tensor]:
    with torch.no_grad():
        y = fn(x)
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn(x)
            ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2], y


def compare(net: torch.nn.Module, x: torch.Tensor, repeats: int) -> dict:
    out = {}
    for threads in sorted({1, torch.get_num_threads()}):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            net.to(memory_format=torch.contiguous_format)
            t_nchw, y_nchw = timed(net, x.contiguous(), repeats)
            net.to(memory_format=torch.channels_last)
            t_nhwc, y_nhwc = timed(net, x.contiguous(memory_format=torch.channels_last), repeats)
        finally:
            torch.set_num_threads(old)
        out[f"{threads}_threads"] = {"nchw_s": round(t_nchw, 4), "nhwc_s": round(t_nhwc, 4),
                                     "speedup": round(t_nchw / t_nhwc, 2),
                                     "max_abs_output_difference": float((y_nchw - y_nhwc).abs().max())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--name", default="channels_last")
    args = ap.parse_args()
    torch.manual_seed(0)
    trace, meta = load_trace_net()
    side = int(meta.get("card", {}).get("data", {}).get("long_side", 1024))
    page = torch.rand(1, 3, round(side * 8.5 / 11), side)  # a Letter page at the network's working size
    pic = load_bundle("pic2dx")
    batch = torch.randn(16, 1, *pic.image_size)
    res = {"timed": "the network call alone, in memory, median of repeats after a warm-up call; output = logits",
           "trace_network": {"input": list(page.shape), **compare(trace, page, args.repeats)},
           "pic2dx_ensemble": {"input": list(batch.shape), **compare(pic.net, batch, args.repeats)}}
    for k, v in res.items():
        print(k, v)
    write_json(args.name, res)


if __name__ == "__main__":
    main()
