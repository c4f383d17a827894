"""trainer.time_budget=300: "the best model in 5 minutes on this machine". The step time is measured over the
run's first steps, which are then undone (weights, optimizer and random state restored), and the schedule gets as
many steps as fit in the budget: the run that follows is exactly the run `trainer.steps=<that number>` gives, and
its schedule completes (the learning rate decays to its end) near the budget. Validation passes come on top."""

import copy
from collections.abc import Callable

from landmarks.engine import distributed
from landmarks.engine.device import rng_state, set_rng_state, synchronized_time
from landmarks.engine.phases import load_optimizer_states, optimizer_states

WARMUP_STEPS = 2  # compilation, cuDNN's autotuning and the allocator's first requests: not timed
MEASURED_STEPS = (3, 20)  # at least 3 timed steps; more while they take under 2% of the budget
MEASURING_SHARE = 0.02


def steps_within(budget_s: float, take_step: Callable[[int], None], model, phases, device) -> tuple[int, float, int]:
    """How many steps of `take_step(step)` fit in `budget_s` seconds, its seconds a step and the steps timed.
    Every process takes the same steps (under DDP each step all-reduces) and the same length: rank 0's."""
    saved_model, saved_optimizers = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer_states(phases))
    saved_rng = rng_state(device)
    for step in range(WARMUP_STEPS):
        take_step(step)
    timed, start = 0, synchronized_time(device)
    while timed < MEASURED_STEPS[0] or distributed.any_process(
        timed < MEASURED_STEPS[1] and synchronized_time(device) - start < MEASURING_SHARE * budget_s, device
    ):
        take_step(WARMUP_STEPS + timed)
        timed += 1
    step_s = (synchronized_time(device) - start) / timed
    model.load_state_dict(saved_model)
    load_optimizer_states(phases, saved_optimizers)
    model.zero_grad(set_to_none=True)
    set_rng_state(saved_rng, device)
    return distributed.broadcast(max(1, int(budget_s / step_s)), device), step_s, timed
