"""Diagnose ECG pictures: ``python predict.py input=some/folder [output=preds.csv] [model=patchecg]``."""
import sys

import hydra
from omegaconf import DictConfig, OmegaConf


@hydra.main(version_base="1.3", config_path="configs/predict", config_name="predict")
def main(cfg: DictConfig) -> None:
    from ecgcls.predict import run_predict

    kw = OmegaConf.to_container(cfg, resolve=True)
    try:
        summary = run_predict(**kw)
    except (ValueError, FileNotFoundError) as exc:
        print(f"predict: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"{summary['files']} files ({summary['skipped']} already done): {summary['ok']} ok, "
          f"{summary['uncertain']} uncertain, {summary['error']} errors -> {summary['output']}")
    for e in summary["errors"]:
        print(f"  error: {e}", file=sys.stderr)
    if summary["error"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
