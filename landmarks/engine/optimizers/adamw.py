"""AdamW (Loshchilov and Hutter 2019): Adam with weight decay decoupled from the gradient."""

from dataclasses import dataclass

import torch

from landmarks.engine.optimizers import OPTIMIZERS, OptimConfig
from landmarks.schema import fraction, positive, rule


@dataclass
class AdamWConfig(OptimConfig):
    betas: tuple[float, float] = rule(
        lambda b: len(b) == 2 and all(map(fraction, b)), "two values in [0, 1)", default=(0.9, 0.999)
    )
    eps: float = rule(positive, "a value > 0, e.g. optim.eps=1e-8", default=1e-8)


def adamw_over(groups: list[dict], cfg: AdamWConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW over `groups`, fused (one kernel for all parameters) on CUDA and CPU."""
    fused = device.type in ("cuda", "cpu")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, fused=fused)


@OPTIMIZERS.register("adamw", config=AdamWConfig)
def adamw(cfg: AdamWConfig, groups: list[dict], model, device) -> torch.optim.Optimizer:
    return adamw_over(groups, cfg, device)
