"""Lookahead as airbench uses it (Jordan 2024, Sec. 3, after Zhang et al. 2019, "Lookahead Optimizer: k steps
forward, 1 step back"): every k = 5 steps a slow copy of the weights moves towards the fast weights the
optimizer trains, slow <- slow + (1 - d) (fast - slow), and the fast weights restart from it, fast <- slow.
The decay d = decay^k (step / total)^3 grows from 0 (no averaging early on) to decay^k at the end, and the run
ends on the slow weights. Batch-norm running statistics are averaged with the weights, as in airbench."""

import torch

EVERY = 5


class Lookahead:
    def __init__(self, model: torch.nn.Module, decay: float, total_steps: int):
        self.decay, self.total_steps = decay, total_steps
        self.slow = {name: value.detach().clone() for name, value in self._floats(model).items()}

    @classmethod
    def for_run(cls, decay: float | None, model, total_steps: int, checkpoint: dict | None) -> "Lookahead | None":
        """A run's lookahead (trainer.lookahead; None when off), its slow weights those of the checkpoint if any."""
        if not decay:
            return None
        lookahead = cls(model, decay, total_steps)
        if checkpoint and checkpoint.get("lookahead"):
            lookahead.load_state_dict(checkpoint["lookahead"])
        return lookahead

    @staticmethod
    def _floats(model: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {name: value for name, value in model.state_dict().items() if value.is_floating_point()}

    @torch.no_grad()
    def step(self, model: torch.nn.Module, step: int) -> None:
        """Call after optimizer step `step` (counted from 1)."""
        if step % EVERY == 0:
            self._sync(model, self.decay**EVERY * (step / self.total_steps) ** 3)
        if step == self.total_steps:
            self._sync(model, 1.0)

    def _sync(self, model: torch.nn.Module, decay: float) -> None:
        for name, fast in self._floats(model).items():
            slow = self.slow[name]
            slow.lerp_(fast, 1 - decay)
            fast.copy_(slow)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.slow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, value in state.items():
            self.slow[name].copy_(value)
