"""Train an ecgcls model: ``python train.py model=cnn1d data=ptbxl_mini`` (see configs/)."""
import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> None:
    from ecgcls.train.run import train

    train(cfg)


if __name__ == "__main__":
    main()
