"""A run's state at a step, in one object: the model, its phases' optimizers and schedules, lookahead's slow weights,
early stopping's count, the schedule's length, the step and the clock. What a checkpoint holds is its
`state_dict`, and a resumed run continues from `load_state_dict` as if it had never stopped."""

from dataclasses import dataclass
from pathlib import Path

import torch

from landmarks.engine import distributed
from landmarks.engine.checkpoint import CHECKPOINT_NAME, save_checkpoint
from landmarks.engine.device import rng_state, set_rng_state
from landmarks.engine.lookahead import Lookahead
from landmarks.engine.parts import Clock, EarlyStopping
from landmarks.engine.phases import Phase, load_optimizer_states, load_schedule_states, optimizer_states
from landmarks.tasks.base import unwrap


@dataclass
class TrainState:
    model: torch.nn.Module
    phases: list[Phase]  # an optimizer and its schedule each (landmarks/engine/phases.py)
    total_steps: int  # the schedule's length: measured once under trainer.time_budget or time_cap, then kept
    lookahead: Lookahead | None = None
    early: EarlyStopping | None = None
    step: int = 0
    clock: Clock | None = None  # started when the steps start: set-up is not training

    def state_dict(self, config: dict, device: torch.device) -> dict | None:
        """Everything a resumed run needs, with the run's whole `config`; every process's random state (under
        torchrun each draws its own dropout masks), gathered to rank 0, which alone gets the dict (None elsewhere)."""
        rng = distributed.gather(rng_state(device))
        if not distributed.is_main():
            return None
        return {
            "model": unwrap(self.model).state_dict(),
            "optimizer": optimizer_states(self.phases),
            "scheduler": [phase.scheduler.state_dict() for phase in self.phases],
            "step": self.step,
            "rng": rng,
            "lookahead": self.lookahead.state_dict() if self.lookahead else None,
            "elapsed_s": self.clock.wall_s,
            "eval_s": self.clock.eval_s,
            "config": config,
            "total_steps": self.total_steps,
            "early_stopping": self.early.state_dict() if self.early else None,
        }

    def load_state_dict(self, state: dict, device: torch.device, run_dir: Path) -> None:
        """Continue from a checkpoint: weights, optimizer, schedule, step and this process's random state
        (lookahead and early stopping read theirs when they are built, `Lookahead.for_run`, `EarlyStopping.for_run`)."""
        self.model.load_state_dict(state["model"])
        load_optimizer_states(self.phases, state["optimizer"])
        load_schedule_states(self.phases, state["scheduler"])
        self.step = state["step"]
        rngs = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]  # one per process; one before 0.2
        if distributed.rank() < len(rngs):  # a process the checkpoint did not know keeps its seed_process stream
            set_rng_state(rngs[distributed.rank()], device)
        if distributed.is_main():
            print(f"resumed from {run_dir / CHECKPOINT_NAME} at step {state['step']}")

    def save(self, path: Path, config: dict, device: torch.device) -> None:
        """The checkpoint, written atomically by rank 0 (every process takes part in gathering it)."""
        state = self.state_dict(config, device)
        if state is not None:
            save_checkpoint(path, state)


def elapsed(state: dict | None) -> tuple[float, float]:
    """The seconds a checkpoint's run had spent, and of them validating: where its clock continues."""
    return (state["elapsed_s"], state.get("eval_s", 0.0)) if state else (0.0, 0.0)


def save_best(path: Path, model: torch.nn.Module, step: int, early: EarlyStopping) -> None:
    """best.pt: the weights of the best validation pass so far, which the final report and load_run use."""
    save_checkpoint(path, {"model": unwrap(model).state_dict(), "step": step, early.metric: early.best})
