"""Learning-rate schedules: a multiplier of the peak learning rate at each step, after a linear warm-up over
`optim.warmup` of the run's steps. One function each, registered in SCHEDULES under its `optim.schedule` name."""

import math

import torch

from landmarks.registry import Registry

SCHEDULES = Registry("schedule", "optim.schedule")


@SCHEDULES.register("cosine")
def cosine(progress: float, step: int, warmup_steps: int) -> float:
    """Half a cosine from 1 to 0 (Loshchilov and Hutter 2017)."""
    return 0.5 * (1 + math.cos(math.pi * progress))


@SCHEDULES.register("onecycle")
def onecycle(progress: float, step: int, warmup_steps: int) -> float:
    """Linear to zero (Smith 2018)."""
    return 1 - progress


@SCHEDULES.register("constant")
def constant(progress: float, step: int, warmup_steps: int) -> float:
    return 1.0


@SCHEDULES.register("inverse_sqrt")
def inverse_sqrt(progress: float, step: int, warmup_steps: int) -> float:
    """Proportional to step^-0.5, continuous at the peak (Vaswani et al. 2017, Eq. 3)."""
    return math.sqrt(max(1, warmup_steps) / (step + 1))


def lr_factor(step: int, *, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Multiplier of the peak learning rate at `step`: (step + 1) / warmup_steps during the warm-up, then the
    schedule at `progress`, the share of the steps after the warm-up done."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return SCHEDULES[schedule](progress, step, warmup_steps)


def build_schedule(cfg, optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule `cfg.schedule` of `cfg.warmup` (a fraction of the run's steps) over `total_steps`."""
    warmup_steps, schedule = round(cfg.warmup * total_steps), cfg.schedule
    SCHEDULES.check(schedule)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(step, total_steps=total_steps, warmup_steps=warmup_steps, schedule=schedule),
    )
