"""SGD with Nesterov momentum (Sutskever et al. 2013)."""

from dataclasses import dataclass

import torch

from landmarks.engine.optimizers import OPTIMIZERS, OptimConfig
from landmarks.schema import fraction, rule


@dataclass
class SGDConfig(OptimConfig):
    momentum: float = rule(fraction, "a value in [0, 1), e.g. optim.momentum=0.9", default=0.9)
    nesterov: bool = True


@OPTIMIZERS.register("sgd", config=SGDConfig)
def sgd(cfg: SGDConfig, groups: list[dict], model, device) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
