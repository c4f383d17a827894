"""Every config file composes, and bad choices fail before training with a message naming the fix."""
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from landmarks.build import build_task
from tests.conftest import CONFIGS, compose_config


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (Path(CONFIGS) / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["model", "data", "optim", "experiment"])
def test_every_config_composes(group):
    for option in options(group):
        cfg = compose_config(f"{group}={option}")
        OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
        assert cfg.model.num_classes == cfg.data.num_classes


def test_unknown_config_option_lists_the_choices():
    with pytest.raises(ConfigCompositionException, match="(?s)Could not find 'model/vgg'.*Available options in 'model'.*resnet20"):
        compose_config("model=vgg")


def test_unknown_config_key_is_rejected():
    with pytest.raises(ConfigCompositionException, match="trainer.epoch"):
        compose_config("trainer.epoch=3")


def test_unknown_dataset_names_the_choices():
    cfg = compose_config("data.name=imagenet")
    with pytest.raises(RuntimeError, match=r"Unknown dataset 'imagenet'; choose one of \['cifar10', 'fashion_mnist', 'mnist'\]"):
        build_task(cfg, "cpu")


def test_missing_dataset_names_the_command_that_fetches_it(tmp_path):
    cfg = compose_config("data=cifar10", f"data.root={tmp_path}")
    with pytest.raises(RuntimeError, match=rf"not found. Fetch it with `python -m landmarks.datasets cifar10 --root {tmp_path}`"):
        build_task(cfg, "cpu")
