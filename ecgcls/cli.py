"""The ``ecgcls`` command: ``ecgcls render | digitize | traceseg-onnx | bundle | calibrate | rhythm-head | export | ppg2ecg | serve | bench``."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecgcls", description="ECG picture toolkit")
    sub = parser.add_subparsers(dest="command", required=True)
    from ecgcls.digitize.cli import add_parser as add_digitize
    from ecgcls.export.cli import add_parser as add_export
    from ecgcls.render.cli import add_parser as add_render

    from ecgcls.predict.bundle_cli import add_parser as add_bundle
    from ecgcls.predict.calibrate import add_parser as add_calibrate
    from ecgcls.predict.ppg2ecg import add_parser as add_ppg2ecg
    from ecgcls.predict.rhythm import add_parser as add_rhythm_head
    from ecgcls.serve.app import add_parser as add_serve
    from ecgcls.ecgbench.cli import add_parser as add_bench

    add_render(sub)
    add_digitize(sub)
    add_bundle(sub)
    add_calibrate(sub)
    add_rhythm_head(sub)
    add_export(sub)
    add_ppg2ecg(sub)
    add_serve(sub)
    add_bench(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"ecgcls {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
