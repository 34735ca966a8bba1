"""Test a trained checkpoint: ``python eval.py model=patchecg ckpt_path=logs/.../best.ckpt`` (see configs/eval.yaml)."""
import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="eval")
def main(cfg: DictConfig) -> None:
    from ecgcls.train.run import evaluate

    evaluate(cfg)


if __name__ == "__main__":
    main()
