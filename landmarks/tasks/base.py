"""The task contract: the loop's only view of what a batch means. A task is one package under landmarks/tasks/
(its task, data, datasets, pictures and predictor) whose `Task` subclass is named in landmarks/tasks/__init__.py.
Beside the contract, the pieces every task shares: `evaluating`, `EpochOrder`, `unwrap`, `new_figure`.

A batch is a tuple of tensors whose dim 0 counts samples, so that the loop may split it into micro-batches
(gradient accumulation) or shards (one per process under torchrun) without knowing what it holds.
"""

import abc
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from omegaconf import MISSING

from landmarks.registry import Registry


@dataclass
class DataConfig:
    """The `data.*` keys of every dataset of every task; each task's schema extends it with its own."""

    name: str = MISSING  # shown in the opening line and the report
    task: str = MISSING  # a key of landmarks.tasks.TASKS
    source: str = MISSING  # a name in the task's `datasets`


class Task(abc.ABC):
    """What the loop calls. A subclass implements the abstract methods and may override the others, whose
    bodies here are the defaults. It is an abstract class rather than a Protocol so that the defaults live in
    one place and a task missing a method fails when it is built, not at the first step that calls it."""

    eval_metrics: dict[str, str | None]  # what `evaluate` returns: name -> "min" or "max" (which way is better,
    # for trainer.target and trainer.early_stopping), or None for a metric no model changes (reported only)
    steps_per_epoch: int  # optimizer steps in one pass over the training split
    batch_size: int  # samples per optimizer step: trainer.batch_size, fitted to a small training split
    data_config: type  # the schema of its `data.*` keys that every dataset shares: a DataConfig
    datasets: Registry  # its datasets: data.source -> loader, each with its own schema
    model_sizes: tuple[str, ...]  # the constructor arguments that `model_kwargs` passes, documented for users
    predictor: type  # what load_run offers for a trained model: (model, exported, device) -> classify, ...
    config_sections: dict[str, type] = {}  # top-level config sections of its own, each typed by its schema
    fine_tunes_from: tuple[str, ...] = ()  # the tasks whose runs model.init_from may name (from_config's `pretrained`)
    pretrained = None  # the landmarks.runs.Pretrained run it starts from, whose weights build_model copies

    @classmethod
    @abc.abstractmethod
    def from_config(cls, data, *, trainer, seed: int, device: torch.device) -> "Task":
        """Load the data of `data` (the typed `data.*` config) onto `device` and build the task; `trainer` is the
        loop's TrainerConfig (batch size, label smoothing)."""

    @classmethod
    def run_options(cls, trainer, sections: dict) -> dict:
        """What `from_config` takes from the run's config beyond its data, trainer and seed, made from the task's
        `config_sections` (typed): image classification's adversarial training, say. A task that takes none
        refuses trainer.adversarial, a setting of the loop that only a task with an attack can honour."""
        if trainer.adversarial is not None:
            raise ValueError(
                f"trainer.adversarial={trainer.adversarial} perturbs images: it needs an image classification run, "
                f"not {cls.__name__}; drop trainer.adversarial"
            )
        return {}

    @abc.abstractmethod
    def model_kwargs(self) -> dict:
        """The constructor arguments that only the data knows (`model_sizes`: a vocabulary's size, the classes)."""

    def init_model(self, model: torch.nn.Module) -> None:
        """Initialise what a model sets from data, before the first step (airbench's patch whitening); nothing by
        default. A resumed run then loads its checkpoint over it."""

    @abc.abstractmethod
    def train_batch(self, step: int) -> tuple[torch.Tensor, ...]:
        """The global batch of optimizer step `step`, a function of (seed, step) only: resume draws the same."""

    def local_batch(self, step: int, rank: int, world: int) -> tuple[torch.Tensor, ...]:
        """This process's contiguous share of the global batch of `step` (all of it in one process). A task whose
        batches are costly to make (images decoded from files) may make only its share."""
        batch = self.train_batch(step)
        return batch if world == 1 else tuple(tensor.chunk(world)[rank] for tensor in batch)

    @abc.abstractmethod
    def loss(self, model: torch.nn.Module, batch: tuple) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The scalar loss to minimise, a mean over the batch's `loss_weight` terms, and detached per-batch
        metrics (e.g. accuracy), all on the device. For a model with phases (the `phases` hook: a GAN's
        discriminator and generator, landmarks/engine/phases.py), the loop calls it once a phase with `phase=name`."""

    def loss_weight(self, batch: tuple) -> torch.Tensor | int:
        """How many terms the batch's loss averages: its samples, or e.g. its target tokens for translation. The
        loop weighs micro-batches and processes by it, so that accumulation equals one big batch."""
        return len(batch[0])

    @abc.abstractmethod
    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """The `eval_metrics` over a whole split ("val" or "test"), in eval mode, without gradients."""

    def notes(self) -> dict[str, str]:
        """Text kept beside the metrics in metrics.json, e.g. the BLEU signature; none by default."""
        return {}

    def log_samples(self, writer, model: torch.nn.Module, step: int) -> None:
        """Cheap samples for TensorBoard at each validation (translations, generated text); none by default."""

    def report(self, model: torch.nn.Module) -> str:
        """Text for the end of the console report, beyond the metrics (a generated sample); none by default."""
        return ""

    def log_pictures(self, writer, model: torch.nn.Module, step: int) -> None:
        """Pictures and samples for TensorBoard at the end of a run (attention maps, alignments, mistakes)."""

    def export(self) -> dict:
        """What a trained model needs to be used without the data (the task's Predictor, through
        landmarks.runs.load_run): the normalisation and class names, the tokenizer, or the alphabet. Plain
        values and tensors."""
        return {}


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under torch.compile's and DistributedDataParallel's wrappers, so that saved keys
    carry no `_orig_mod.` or `module.` prefix."""
    while hasattr(model, "_orig_mod") or hasattr(model, "module"):
        model = getattr(model, "_orig_mod", None) or model.module
    return model


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


def fit_batch_size(batch_size: int, available: int, what: str) -> int:
    """trainer.batch_size, or, where it exceeds the training split (a small folder under the generic 128), the
    largest power of two within a quarter of it: a few batches an epoch. The opening line says so."""
    if available < 1:
        raise ValueError(f"the training split has no {what}; give the run more data")
    if batch_size <= available:
        return batch_size
    return 2 ** max(0, (available // 4).bit_length() - 1)


class EpochOrder:
    """The batches of each epoch, drawn once per epoch by `draw(epoch)` (a list of index tensors, a function of
    (seed, epoch) only), so that step `s` always gets the same batch, in a resumed run too."""

    def __init__(self, draw: Callable[[int], Sequence], steps_per_epoch: int):
        self.draw, self.steps_per_epoch = draw, steps_per_epoch
        self._epoch, self._batches = -1, []

    def __call__(self, step: int):
        epoch, index = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, self.draw(epoch)
        return self._batches[index]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator of one epoch's batch order, a function of (seed, epoch) only: resume draws the same."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def new_figure(width: float, height: float):
    """A matplotlib Figure outside pyplot's global state (no display, no backend to choose), for
    SummaryWriter.add_figure."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")
