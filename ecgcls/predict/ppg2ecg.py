"""``ecgcls ppg2ecg INPUT --out DIR``: reconstruct an ECG (lead II shape) from a PPG recording with a bundled model.

INPUT is a WFDB record (``name`` or ``name.hea``; the ``PLETH`` channel, or ``--channel``) or a CSV file (a
column named ``pleth``/``ppg``, or ``--channel``, or the only numeric column; ``--fs`` required). The PPG is
resampled to the model's rate, cut into windows with 50 % overlap, each min-max normalised as in training,
reconstructed, and overlap-added (triangular weights). Writes ``<stem>_ecg.csv`` (time_s, ppg, ecg in the
model's normalised units), ``<stem>_ecg.png`` (the first 20 s) and ``<stem>_ecg.json`` (what was done).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

BUNDLED = {"ppg2ecg": "ppg2ecg_vit", "ppg2ecg_cnn1d": "ppg2ecg_unet1d"}


def load_model(name_or_path: str):
    """(network, meta) of a PPG → ECG bundle (a bundled name or a ``.json`` path)."""
    from ecgcls.models import create
    from ecgcls.predict.bundle import WEIGHTS_DIR, read_bundle

    path = WEIGHTS_DIR / f"{BUNDLED[name_or_path]}.json" if name_or_path in BUNDLED else Path(name_or_path)
    meta, state, _ = read_bundle(path)
    if meta.get("input") != "ppg":
        raise ValueError(f"{path}: not a PPG -> ECG bundle (input {meta.get('input')!r})")
    net_cfg = dict(meta["net"])
    net = create(net_cfg.pop("name"), **net_cfg)
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval(), meta


def read_ppg(path: str | Path, channel: str | None = None, fs: float | None = None) -> tuple[np.ndarray, float]:
    """(ppg, fs) from a WFDB record or a CSV file; clear errors for anything else."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        import pandas as pd

        if fs is None:
            raise ValueError(f"{p}: a CSV has no sampling rate; pass --fs")
        df = pd.read_csv(p)
        cols = {c.lower(): c for c in df.columns}
        col = (channel if channel in df.columns else cols.get((channel or "").lower())) or cols.get("pleth") \
            or cols.get("ppg")
        if col is None:
            num = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
            if len(num) != 1:
                raise ValueError(f"{p}: which column is the PPG? found {list(df.columns)}; pass --channel")
            col = num[0]
        return df[col].to_numpy(np.float64), float(fs)
    import wfdb

    rec = p.with_suffix("") if p.suffix.lower() in (".hea", ".dat") else p
    if not Path(str(rec) + ".hea").is_file():
        raise FileNotFoundError(f"{rec}.hea: no WFDB header (INPUT is a WFDB record or a .csv)")
    sig, f = wfdb.rdsamp(str(rec))
    names = [n.strip().rstrip(",") for n in f["sig_name"]]
    want = channel or "PLETH"
    if want not in names:
        raise ValueError(f"{rec}: no {want!r} channel (has {names}); pass --channel")
    return sig[:, names.index(want)].astype(np.float64), float(f["fs"])


def reconstruct_ecg(net, ppg: np.ndarray, fs: float, model_fs: float, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(ECG in normalised units, the PPG it was made from), both at ``model_fs``, for a whole PPG recording at
    ``fs`` (see module doc)."""
    from ecgcls.data.ppg import minmax
    from ecgcls.data.transforms import resample_nan

    if not np.isfinite(ppg).all():
        raise ValueError("the PPG has NaN or infinite samples; cut or fill them first")
    if abs(fs - model_fs) > 1e-6:
        ppg = resample_nan(ppg[None], fs, model_fs, int(np.ceil(len(ppg) * model_fs / fs)))[0]
    n = len(ppg)
    if n < length:
        raise ValueError(f"the PPG is {n / model_fs:.1f} s long; the model needs at least {length / model_fs:.1f} s")
    hop = length // 2
    starts = list(range(0, n - length + 1, hop))
    if starts[-1] != n - length:
        starts.append(n - length)
    x = torch.from_numpy(minmax(np.stack([ppg[s:s + length] for s in starts])).astype(np.float32))
    with torch.no_grad():
        y = torch.cat([net(x[i:i + 256]) for i in range(0, len(x), 256)]).numpy()
    w = np.bartlett(length + 2)[1:-1]
    acc, wsum = np.zeros(n), np.zeros(n)
    for s, yi in zip(starts, y):
        acc[s:s + length] += w * yi
        wsum[s:s + length] += w
    return (acc / np.maximum(wsum, 1e-8)).astype(np.float32), ppg


def add_parser(sub) -> None:
    p = sub.add_parser("ppg2ecg", help="reconstruct an ECG from a PPG recording (WFDB or CSV)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="WFDB record (name or .hea) or CSV file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--model", default="ppg2ecg", help=f"bundled ({', '.join(BUNDLED)}) or a bundle .json")
    p.add_argument("--channel", default=None, help="PPG channel / column (default PLETH, pleth or ppg)")
    p.add_argument("--fs", type=float, default=None, help="sampling rate of a CSV input, Hz")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    net, meta = load_model(args.model)
    ppg, fs = read_ppg(args.input, args.channel, args.fs)
    model_fs, length = float(meta["ppg"]["fs"]), int(meta["ppg"]["length"])
    ecg, ppg_r = reconstruct_ecg(net, ppg, fs, model_fs, length)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.input).with_suffix("").name
    t = np.arange(len(ecg)) / model_fs
    csv_path = out / f"{stem}_ecg.csv"
    np.savetxt(csv_path, np.column_stack([t, ppg_r, ecg]), delimiter=",", header="time_s,ppg,ecg", comments="",
               fmt=["%.4f", "%.6g", "%.6f"])
    k = t < 20
    fig, ax = plt.subplots(2, 1, figsize=(12, 4), sharex=True)
    ax[0].plot(t[k], ppg_r[k], lw=0.8)
    ax[0].set_ylabel("PPG")
    ax[1].plot(t[k], ecg[k], "r", lw=0.8)
    ax[1].set_ylabel("ECG (reconstructed,\nnormalised)")
    ax[1].set_xlabel("s")
    fig.tight_layout()
    fig.savefig(out / f"{stem}_ecg.png", dpi=90)
    plt.close(fig)
    summary = {"input": str(args.input), "input_fs": fs, "model": args.model, "model_fs": model_fs,
               "window": length, "seconds": round(len(ecg) / model_fs, 2), "csv": str(csv_path),
               "units": "per-window min-max normalised (0-1), not mV", "card": meta.get("card", {})}
    (out / f"{stem}_ecg.json").write_text(json.dumps(summary, indent=1))
    print(f"reconstructed {summary['seconds']} s of ECG -> {csv_path}")
    return 0
