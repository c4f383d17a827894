"""The parts the loop calls, each with one job: `StopOnSignal` turns Ctrl-C and SIGTERM into a clean stop, a
`Target` says when a speedrun is done, `EarlyStopping` when validation stopped improving, a `Clock` keeps training
and validation time apart, `TrainLog` sums the scalars on the device and writes them at intervals, `ProgressBar`
shows them, `Silent` stands in for the writer off rank 0."""

import contextlib
import math
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from landmarks.engine import distributed
from landmarks.engine.device import synchronized_time


class NonFiniteLossError(RuntimeError):
    pass


class StopOnSignal:
    """SIGINT (Ctrl-C) or SIGTERM asks the loop to stop after the current step and save a checkpoint;
    a second signal interrupts at once."""

    def __enter__(self):
        self.requested = None
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def goals(metrics: dict[str, str | None]) -> dict[str, str]:
    """A task's `eval_metrics` that a run may aim at (trainer.target, trainer.early_stopping): name -> "min" or
    "max". A metric whose direction is None (translation's copy_bleu, which no model changes) is reported only."""
    return {name: direction for name, direction in metrics.items() if direction}


def parse_aim(key: str, spec, metrics: dict[str, str | None], example: str) -> tuple[str, str, str]:
    """trainer.<key>="bleu:5" -> ("bleu", "max", "5"): a metric the task declares with its direction; one line
    naming them otherwise."""
    aims, (name, _, value) = goals(metrics), str(spec).removeprefix("val/").rpartition(":")
    if name not in aims:
        choices = ", ".join(f"{metric} ({direction})" for metric, direction in aims.items())
        raise ValueError(
            f"trainer.{key}={spec!r}; write <metric>:<{example}> with a validation metric of this task "
            f"({choices}), e.g. trainer.{key}={next(reversed(aims))}:{'5' if example == 'patience' else '0.9'}"
        )
    return name, aims[name], value


def needs_validation(key: str, spec, trainer) -> None:
    if spec is not None and not trainer.eval_every:
        raise ValueError(f"trainer.{key}={spec} needs validation during training: set trainer.eval_every > 0")


@dataclass
class Target:
    """trainer.target="acc:0.91": stop as soon as a validation metric reaches a value (from below, or from
    above for a metric the task minimises), as in a speedrun's time-to-target."""

    metric: str
    value: float
    direction: str = "max"

    @classmethod
    def for_run(cls, trainer, metrics: dict[str, str | None]) -> "Target | None":
        """trainer.target's target, which needs validation during training (trainer.eval_every > 0)."""
        target = cls.parse(trainer.target, metrics)
        needs_validation("target", trainer.target, trainer)
        return target

    @classmethod
    def parse(cls, spec: str | None, metrics: dict[str, str | None]) -> "Target | None":
        if spec is None:
            return None
        name, direction, value = parse_aim("target", spec, metrics, "value")
        try:
            return cls(name, float(value), direction)
        except ValueError:
            raise ValueError(
                f"trainer.target={spec!r}; write <metric>:<value>, e.g. trainer.target={name}:0.9"
            ) from None

    def reached(self, metrics: dict[str, float]) -> bool:
        value = metrics[self.metric]
        return value == self.value or better(self.direction, value, self.value)


def better(direction: str, value: float, than: float | None) -> bool:
    """Whether `value` of a validation metric is better than `than` (None: nothing yet) in its `direction`."""
    return than is None or (value < than if direction == "min" else value > than)


@dataclass
class EarlyStopping:
    """trainer.early_stopping="bleu:5": stop when `patience` validation passes in a row did not improve on the best
    value of a metric, as Keras's and Lightning's EarlyStopping do; the loop keeps the best pass's weights in
    best.pt. Its state travels in the checkpoint, so that a resumed run stops where the whole run would."""

    metric: str
    patience: int
    direction: str = "max"
    best: float | None = None
    best_step: int | None = None
    passes_since_best: int = 0

    @classmethod
    def for_run(cls, trainer, metrics: dict[str, str | None], state: dict | None) -> "EarlyStopping | None":
        spec = trainer.early_stopping
        if spec is None:
            return None
        name, direction, patience = parse_aim("early_stopping", spec, metrics, "patience")
        if not patience.isdigit() or int(patience) < 1:
            raise ValueError(f"trainer.early_stopping={spec!r}: the patience is a number of passes >= 1, e.g. {name}:5")
        needs_validation("early_stopping", spec, trainer)
        early = cls(name, int(patience), direction)
        if state and state.get("early_stopping") and state["early_stopping"]["metric"] == name:
            early.best, early.best_step, early.passes_since_best = (
                state["early_stopping"][key] for key in ("best", "best_step", "passes_since_best")
            )
        return early

    def update(self, metrics: dict[str, float], step: int) -> bool:
        """Count a validation pass; True if it is the best so far."""
        if better(self.direction, metrics[self.metric], self.best):
            self.best, self.best_step, self.passes_since_best = metrics[self.metric], step, 0
            return True
        self.passes_since_best += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.passes_since_best >= self.patience

    def state_dict(self) -> dict:
        return {
            "metric": self.metric,
            "best": self.best,
            "best_step": self.best_step,
            "passes_since_best": self.passes_since_best,
        }


@dataclass
class Progress:
    """What `finish` needs to know of a run's steps beyond its state."""

    first_step: int  # where this process started (a resumed run's checkpoint step)
    target: "Target | None"
    hit: "Hit | None"
    val: dict[str, float] | None  # the validation metrics of the last step, if the loop measured them
    flops_per_sample: float
    peak: tuple[float, str]  # FLOP/s and where the number came from


@dataclass
class Hit:
    """When a run reached its target: the step, and the seconds of training alone and with validation."""

    step: int
    train_s: float
    wall_s: float


class Clock:
    """Training and validation time kept apart, continuing a resumed run's totals: time to target and MFU
    count training alone, as nanoGPT and airbench do; samples/s is measured over training time between logs.
    On a GPU the clock waits for the work queued so far at every reading (`sync`), so that a lap, a validation
    or a hit counts the work it asked for; `stop` freezes it when the steps end, before the final evaluation;
    `add_aside` keeps a past span (a step in which torch.compile compiled) out of both."""

    def __init__(self, device: torch.device, wall_before: float = 0.0, eval_before: float = 0.0):
        self.device, self.wall_before, self.eval_before = device, wall_before, eval_before
        self.eval_s, self.aside_s, self.stopped = eval_before, 0.0, None
        self.start = self.last_lap = self.now()

    def now(self) -> float:
        return synchronized_time(self.device)

    @contextlib.contextmanager
    def validating(self):
        with self._apart() as span:
            yield
        self.eval_s += span[0]

    def add_aside(self, seconds: float) -> None:
        """Keep `seconds` already passed (a step in which torch.compile compiled, timed on the host) out of both."""
        self.aside_s += seconds
        self.last_lap += seconds

    @contextlib.contextmanager
    def _apart(self):
        """A span of time that is not training: it moves the lap's start on by as much."""
        span, begin = [0.0], self.now()
        yield span
        span[0] = self.now() - begin
        self.last_lap += span[0]

    def stop(self) -> None:
        self.stopped = self.now()

    @property
    def wall_s(self) -> float:
        """Seconds of the run (all sessions of it), validation included, compilation not."""
        return self.wall_before + (self.stopped or self.now()) - self.start - self.aside_s

    @property
    def train_s(self) -> float:
        return self.wall_s - self.eval_s

    @property
    def session_train_s(self) -> float:
        """Training seconds since this process started or resumed the run."""
        return self.train_s - (self.wall_before - self.eval_before)

    def lap(self) -> float:
        """Training seconds since the previous lap."""
        now = self.now()
        seconds, self.last_lap = now - self.last_lap, now
        return seconds

    def hit(self, step: int) -> Hit:
        wall_s = self.wall_s  # one reading: one sync
        return Hit(step, wall_s - self.eval_s, wall_s)


def check_finite(loss: float, step: int, checkpoint_path: Path) -> None:
    if not math.isfinite(loss):
        raise NonFiniteLossError(
            f"loss is {loss} at step {step}; the last good checkpoint is "
            f"{checkpoint_path if checkpoint_path.exists() else 'none yet'}. "
            f"Try a lower optim.lr or trainer.grad_clip, then trainer.resume=<run dir>."
        )


class TrainLog:
    """Sums each step's scalars on the device and writes their means every trainer.log_every steps: the only
    host sync of the hot loop. Keeps (step, loss) of each log as the run's history."""

    def __init__(self, writer, checkpoint_path: Path, flops_per_sample: float, peak: float, batch_size: int, device):
        self.writer, self.checkpoint_path, self.device = writer, checkpoint_path, device
        self.flops_per_sample, self.peak, self.batch_size = (
            flops_per_sample,
            peak * distributed.world_size(),
            batch_size,
        )
        self.sums, self.steps, self.history = {}, 0, []

    def add(self, scalars: dict) -> None:
        for name, value in scalars.items():
            self.sums[name] = self.sums.get(name, 0) + value
        self.steps += 1

    def flush(self, step: int, seconds: float) -> dict[str, float]:
        sums = {k: torch.as_tensor(v, dtype=torch.float32, device=self.device) for k, v in self.sums.items()}
        means = distributed.mean_over_processes(sums, self.device)  # the lr is a float: on the device too
        logs = {name: value.item() / self.steps for name, value in means.items()}
        check_finite(logs["loss"], step, self.checkpoint_path)
        samples_per_s = self.steps * self.batch_size / max(seconds, 1e-9)
        logs |= {"samples_per_s": samples_per_s, "mfu": self.flops_per_sample * samples_per_s / self.peak}
        for name, value in logs.items():
            group = "throughput" if name in ("samples_per_s", "mfu") else "train"
            self.writer.add_scalar(f"{group}/{name}", value, step)
        self.history.append((step, logs["loss"]))
        self.sums, self.steps = {}, 0
        return logs


class ProgressBar:
    """tqdm's bar on a terminal; off one (a file, CI, a cluster job) a plain line at each log step instead of a
    line per refresh, as Lightning and Hugging Face do."""

    def __init__(self, enabled: bool, step: int, stop_step: int):
        from tqdm import tqdm

        self.enabled, self.stop_step, self.terminal = enabled, stop_step, sys.stderr.isatty()
        bar_on = enabled and self.terminal
        self.bar = tqdm(total=stop_step, initial=step, disable=not bar_on, dynamic_ncols=True, desc="train")

    def update(self) -> None:
        self.bar.update()

    def show(self, step: int, logs: dict[str, float]) -> None:
        shown = {name: f"{logs[name]:.3f}" for name in ("loss", "acc") if name in logs}
        if self.terminal:
            self.bar.set_postfix(**shown, samples_s=f"{logs['samples_per_s']:.0f}")
        elif self.enabled:
            values = " ".join(f"{name} {value}" for name, value in shown.items())
            print(f"step {step}/{self.stop_step}: {values}, {logs['samples_per_s']:.0f} samples/s", flush=True)

    def close(self) -> None:
        self.bar.close()


class Silent:
    """Stands in for the TensorBoard writer in the processes that must not write (ranks other than 0)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None
