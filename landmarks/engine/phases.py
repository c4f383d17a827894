"""The optimizers of a run, one a phase. Most models train as one module with one optimizer; a GAN alternates its
discriminator's step and its generator's (Goodfellow et al. 2014, Alg. 1), each with an optimizer and a schedule of
its own. A model names its phases with the `phases` hook (name -> module, in the order they step); the engine
builds an optimizer and a schedule for each, steps them in that order and checkpoints them all. The task computes
each phase's loss (`task.loss(model, batch, phase=name)`); a model without phases is the one unnamed phase and
its task's `loss(model, batch)` is called as ever."""

from dataclasses import dataclass

import torch

from landmarks.engine.optimizers import OptimConfig, build_optimizer
from landmarks.engine.schedules import build_schedule
from landmarks.hooks import hook


@dataclass
class Phase:
    name: str  # "" for a model without phases
    module: torch.nn.Module  # what its optimizer trains
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    def key(self, metric: str) -> str:
        """The name a phase's metric is logged under: "loss", or "discriminator/loss"."""
        return f"{self.name}/{metric}" if self.name else metric


def named_phases(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The model's phases in the order they step; {"": model} for a model that names none."""
    return phases() if (phases := hook(model, "phases")) else {"": model}


def build_phases(optim: OptimConfig, model: torch.nn.Module, device) -> list[Phase]:
    """An optimizer `optim` for each of the model's phases."""
    return [Phase(name, module, build_optimizer(optim, module, device)) for name, module in named_phases(model).items()]


def schedule(phases: list[Phase], optim: OptimConfig, total_steps: int) -> list[Phase]:
    """The phases, each with the schedule `optim` gives over `total_steps`."""
    for phase in phases:
        phase.scheduler = build_schedule(optim, phase.optimizer, total_steps)
    return phases


def phase_loss(task, model, batch: tuple, phase: str) -> tuple[torch.Tensor, dict]:
    return task.loss(model, batch, phase=phase) if phase else task.loss(model, batch)


def optimizer_states(phases: list[Phase]) -> list[dict]:
    return [phase.optimizer.state_dict() for phase in phases]


def per_phase(states: list[dict] | dict, phases: list[Phase], what: str) -> list[dict]:
    """A checkpoint's list of `what` states, one a phase (one dict: a checkpoint from before phases)."""
    states = states if isinstance(states, list) else [states]
    if len(states) != len(phases):
        names = ", ".join(phase.name or "the model" for phase in phases)
        raise ValueError(f"the checkpoint holds {len(states)} {what} for this model's {len(phases)} ({names})")
    return states


def load_optimizer_states(phases: list[Phase], states: list[dict] | dict) -> None:
    for phase, state in zip(phases, per_phase(states, phases, "optimizers")):
        phase.optimizer.load_state_dict(state)


def load_schedule_states(phases: list[Phase], states: list[dict] | dict) -> None:
    for phase, state in zip(phases, per_phase(states, phases, "schedules")):
        phase.scheduler.load_state_dict(state)
