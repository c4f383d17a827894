"""The task contract: the loop's only view of what a batch means. A task is one file (image_classification.py,
translation.py, language_modeling.py) whose class subclasses `Task` and is named in landmarks/build.py's TASKS.

A batch is a tuple of tensors whose dim 0 counts samples, so that the loop may split it into micro-batches
(gradient accumulation) or shards (one per process under torchrun) without knowing what it holds.
"""

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Task(Protocol):
    """What the loop calls. `cfg` below is the composed config (configs/train.yaml)."""

    eval_metrics: tuple[str, ...]  # the names `evaluate` returns, valid in trainer.target
    steps_per_epoch: int  # optimizer steps in one pass over the training split
    notes: dict[str, str] = {}  # kept beside the metrics in metrics.json, e.g. the BLEU signature; never mutated

    @classmethod
    def from_config(cls, cfg, device: torch.device) -> "Task":
        """Load the data of `cfg.data` onto `device` and build the task."""

    def model_kwargs(self) -> dict:
        """Constructor arguments that only the data knows (e.g. a vocabulary's size), passed to create_model."""

    def init_model(self, model: torch.nn.Module) -> None:
        """Initialise what a model sets from data, before the first step (airbench's patch whitening); nothing by
        default. A resumed run then loads its checkpoint over it."""

    def train_batch(self, step: int) -> tuple[torch.Tensor, ...]:
        """The global batch of optimizer step `step`, a function of (seed, step) only: resume draws the same."""

    def loss(self, model: torch.nn.Module, batch: tuple) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The scalar loss to minimise, a mean over the batch's `loss_weight` terms, and detached per-batch
        metrics (e.g. accuracy), all on the device."""

    def loss_weight(self, batch: tuple) -> torch.Tensor | int:
        """How many terms the batch's loss averages: its samples, or e.g. its target tokens for translation. The
        loop weighs micro-batches and processes by it, so that accumulation equals one big batch."""
        return len(batch[0])

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """The `eval_metrics` over a whole split ("val" or "test"), in eval mode, without gradients."""

    def log_samples(self, writer, model: torch.nn.Module, step: int) -> None:
        """Cheap samples for TensorBoard at each validation (translations, generated text); none by default."""

    def report(self, model: torch.nn.Module) -> str:
        """Text for the end of the console report, beyond the metrics (a generated sample); none by default."""
        return ""

    def log_pictures(self, writer, model: torch.nn.Module, step: int) -> None:
        """Pictures and samples for TensorBoard at the end of a run (attention maps, alignments, mistakes)."""

    def export(self) -> dict:
        """What a trained model needs to be used without the data (landmarks.runs.load_run): the normalisation
        and class names, the tokenizer, or the alphabet. Plain values and tensors."""
        return {}


@contextlib.contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Eval mode and no gradients inside; the model's previous mode restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def check_batch_size(batch_size: int, available: int, what: str) -> None:
    if batch_size > available:
        raise ValueError(f"trainer.batch_size={batch_size} exceeds the {available} {what}; lower trainer.batch_size")


class EpochOrder:
    """The batches of each epoch, drawn once per epoch by `draw(epoch)` (a list of index tensors, a function of
    (seed, epoch) only), so that step `s` always gets the same batch, in a resumed run too."""

    def __init__(self, draw: Callable[[int], Sequence[torch.Tensor]], steps_per_epoch: int):
        self.draw, self.steps_per_epoch = draw, steps_per_epoch
        self._epoch, self._batches = -1, []

    def __call__(self, step: int) -> torch.Tensor:
        epoch, index = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, self.draw(epoch)
        return self._batches[index]
