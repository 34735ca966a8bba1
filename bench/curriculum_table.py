"""Tables and the per-layout plot of a Pic2Dx curriculum run (from its metrics.json):

    python bench/curriculum_table.py logs/runs/<run>   ->  <run>/ablation.md, <run>/per_layout_test.png (printed)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ecgcls import metrics as M
from ecgcls.train.curriculum import ablation_markdown


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path, help="the curriculum's output folder (holds metrics.json)")
    run = ap.parse_args().run
    result = json.loads((run / "metrics.json").read_text())
    md = ablation_markdown(result)
    (run / "ablation.md").write_text(md)
    M.plot_bars({k: v["macro_auroc"] for k, v in result["per_layout"].items()}, run / "per_layout_test.png",
                title="Pic2Dx ensemble: test pictures per printed layout")
    print(md)
    print(f"wrote {run / 'ablation.md'}, {run / 'per_layout_test.png'}")


if __name__ == "__main__":
    main()
