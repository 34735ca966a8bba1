"""Does the lead separation network help the digitizer read crowded rows? Own renders with and without it.

    python bench/lead_sep.py --weights RUN/leadsep.safetensors [--n 6] [--sets clean photo] [--layouts 12x1]

Records: the first N of the validation folds (8–9), as bench/digitize.py draws them (same seeds, `ink=classic`).
Prints and writes (bench/out/lead_sep.json) per set and layout the mean PhysioNet 2024 SNR and the per-lead mean
SNR with the separation off (v22's midline rule alone) and on, and the CPU seconds per picture of digitize().
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import ptbxl_fold_signals, write_json  # noqa: E402

PRESETS = {"clean": (), "scan": ("scan",), "photo": ("photo",)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, help="a leadsep.safetensors (+ .json) from experiment=lead_sep")
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--sets", nargs="+", default=["clean", "photo"], choices=list(PRESETS))
    ap.add_argument("--layouts", nargs="+", default=["12x1"])
    ap.add_argument("--name", default="lead_sep")
    args = ap.parse_args()

    import ecgcls.digitize.pipeline as P
    from ecgcls.digitize import DigitizeError, digitize
    from ecgcls.metrics import signal_snr
    from ecgcls.render import RenderConfig, render

    ids, sigs = ptbxl_fold_signals(n=args.n)
    out: dict = {"command": "python bench/lead_sep.py " + " ".join(sys.argv[1:]), "records": ids, "results": {}}
    for s in args.sets:
        for lay in args.layouts:
            pages = [render(sig, 500, RenderConfig(layout=lay, artifacts=PRESETS[s]), rng=rid)
                     for rid, sig in zip(ids, sigs)]
            for on in (False, True):
                separate = P.Separation(on=on, weights=args.weights)
                snr, per, cpu = [], [], 0.0
                for page, sig in zip(pages, sigs):
                    t = time.process_time()
                    try:
                        d = digitize(page.image, keep_image=False, ink="classic", separate=separate)
                        ref = np.where(page.layout.coverage(500, sig.shape[1]), sig, np.nan)
                        v, pl = signal_snr(ref, d.record.signal, 500)
                    except DigitizeError:
                        v, pl = 0.0, np.full(12, np.nan)
                    cpu += time.process_time() - t
                    snr.append(float(v))
                    per.append(pl)
                key = f"{s}/{lay}/{'on' if on else 'off'}"
                out["results"][key] = {"snr_db": round(float(np.mean(snr)), 2),
                                       "per_lead_snr_db": [round(float(v), 2) for v in np.nanmean(per, axis=0)],
                                       "cpu_s_per_picture": round(cpu / len(pages), 3)}
                print(key, out["results"][key], flush=True)
    write_json(args.name, out)


if __name__ == "__main__":
    main()
