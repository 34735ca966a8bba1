"""Copy the summaries (not the per-page rows) of digitizer bench runs into bench/results/ as JSON + markdown.

    python bench/results_summary.py bench/out/digitize_foreign.json bench/out/digitize.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def summarize(path: Path) -> tuple[dict, list[str]]:
    data = json.loads(path.read_text())
    out, md = {}, [f"# {path.stem}", ""]
    for key, val in data.items():
        if isinstance(val, dict) and ("summary" in val or "snr_db" in val or "real_images" in val):
            s = val.get("summary") or {k: v for k, v in val.items() if k not in ("pages",)}
            out[key] = s
            md.append(f"## ink={key}")
            md.append("```")
            md.append(json.dumps(s, indent=1))
            md.append("```")
        elif not isinstance(val, (dict, list)) or key in ("ecg_ids", "folds"):
            out[key] = val
    return out, md


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    for p in map(Path, sys.argv[1:]):
        out, md = summarize(p)
        (RESULTS / f"{p.stem}.json").write_text(json.dumps(out, indent=1))
        (RESULTS / f"{p.stem}.md").write_text("\n".join(md) + "\n")
        print(f"wrote {RESULTS / (p.stem + '.json')}")


if __name__ == "__main__":
    main()
