"""The training loop, the same for every model: precision, optional torch.compile, optimizer and schedule,
gradient accumulation and clipping, logging and evaluation at intervals, checkpoint and resume.
It knows nothing of images or tokens: the task says what a batch means (landmarks/tasks/base.py).

`fit` reads the trainer's settings (`TrainerConfig`, below) and the optimizer's: `start` builds the run's
`TrainState` (landmarks/engine/state.py, which a checkpoint saves and restores), `train_steps` runs `train_step`
with parts that each do one job (landmarks/engine/parts.py: a `Clock`, `TrainLog` for the scalars, a `Target` for
speedruns), and `finish` (landmarks/engine/report.py) evaluates and reports."""

import contextlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from landmarks.engine import distributed, wall
from landmarks.engine.budget import steps_within
from landmarks.engine.checkpoint import BEST_NAME, CHECKPOINT_NAME
from landmarks.engine.device import autocast_context, device_available, resolve_precision
from landmarks.engine.flops import backward_every_phase, no_trace, peak_flops, train_flops_per_sample
from landmarks.engine.lookahead import Lookahead
from landmarks.engine.optimizers import OptimConfig
from landmarks.engine.parts import (
    Clock,
    EarlyStopping,
    Hit,
    Progress,
    ProgressBar,
    Silent,
    StopOnSignal,
    Target,
    TrainLog,
)
from landmarks.engine.phases import Phase, build_phases, phase_loss, schedule
from landmarks.engine.report import finish
from landmarks.engine.state import TrainState, elapsed, save_best
from landmarks.hooks import hook
from landmarks.schema import at_least_zero, fraction, positive, rule
from landmarks.tasks.base import Task, unwrap


@dataclass
class TrainerConfig:
    """`trainer.*`: how the loop runs, the same keys for every model (configs/train.yaml says each one's use)."""

    device: str = rule(
        lambda name: isinstance(name, str) and device_available(name),
        "a device this machine has: auto, cpu, cuda, cuda:N or mps",
        default="auto",
    )
    precision: str = rule(lambda p: p in ("auto", "bf16", "fp32"), "auto, bf16 or fp32", default="auto")
    compile: bool = False
    num_threads: int | None = rule(positive, "a number of threads > 0, or null for PyTorch's choice", default=None)
    epochs: float | None = rule(
        positive, "a number of passes > 0 (fractions allowed), e.g. trainer.epochs=3", default=10.0
    )
    steps: int | None = rule(
        positive, "a number of steps > 0, or null to count the run in trainer.epochs", default=None
    )
    steps_floor: int | None = rule(
        positive, "a number of steps > 0 that a run counted in epochs is raised to, or null", default=None
    )
    steps_ceiling: int | None = rule(
        positive, "a number of steps > 0 that a run counted in epochs is cut to, or null", default=None
    )
    time_budget: float | None = rule(
        positive, "seconds of training > 0 to fit the run's length to, or null", default=None
    )
    flop_budget: float | None = rule(
        positive, "training FLOPs > 0 to size the run to (the loop's count a sample), e.g. 1e13, or null", default=None
    )
    time_cap: float | None = rule(
        positive, "seconds of training > 0 that the run's length is held within, or null", default=None
    )
    max_steps: int | None = rule(positive, "a number of steps > 0, or null to run the whole schedule", default=None)
    batch_size: int = rule(positive, "a number of samples > 0, e.g. trainer.batch_size=128", default=128)
    grad_accum: int = rule(positive, "a number of micro-batches > 0 that divides trainer.batch_size", default=1)
    grad_clip: float | None = rule(positive, "a gradient norm > 0, or null for no clipping", default=None)
    label_smoothing: float = rule(fraction, "a value in [0, 1), e.g. trainer.label_smoothing=0.1", default=0.0)
    adversarial: str | None = None  # an attack to train on (landmarks/config.py checks it), with attack.*
    lookahead: float | None = rule(
        lambda d: positive(d) and d < 1, "a decay in (0, 1), e.g. 0.95, or null for none", default=None
    )
    log_every: int = rule(positive, "a number of steps > 0, e.g. trainer.log_every=50", default=50)
    eval_every: int = rule(at_least_zero, "a number of steps >= 0 (0 = validate only at the end)", default=200)
    ckpt_every: int = rule(at_least_zero, "a number of steps >= 0 (0 = a checkpoint only at the end)", default=500)
    target: str | None = rule(
        lambda t: re.fullmatch(r"(val/)?\w+:[-+.\deE]+", str(t)), "<metric>:<value>, e.g. acc:0.91", default=None
    )
    early_stopping: str | None = rule(
        lambda e: re.fullmatch(r"(val/)?\w+:\d+", str(e)), "<metric>:<patience>, e.g. bleu:5", default=None
    )
    peak_flops: float | None = rule(positive, "the device's peak FLOP/s > 0, or null to measure it", default=None)
    resume: str | None = None
    progress: bool = True
    pictures: bool = True


LENGTHS = ("steps", "time_budget", "flop_budget")  # the settings that each set a run's length in full


def run_length(trainer: TrainerConfig, task: Task) -> tuple[int, int, str]:
    """The schedule's length in steps, the step to stop at (trainer.max_steps cuts a run short; the schedule keeps
    its length) and how the length was chosen. Counted in epochs, it is held within trainer.steps_floor and
    trainer.steps_ceiling (which wins where they cross: the floor is generic, configs/train.yaml), so that one
    recipe gives a small corpus enough steps and a large one no more than it needs. (trainer.time_budget's
    length, and trainer.time_cap's cut, are measured later, by `fit`.)"""
    per_epoch, floor, ceiling = task.steps_per_epoch, trainer.steps_floor, trainer.steps_ceiling
    lengths = [f"trainer.{key}={value:g}" for key in LENGTHS if (value := getattr(trainer, key))]
    if len(lengths) > 1:
        raise ValueError(f"{' and '.join(lengths)} each set the run's length; keep one (the others =null)")
    if trainer.time_cap and (trainer.time_budget or trainer.flop_budget):
        raise ValueError(
            f"{lengths[0]} sizes the run, trainer.time_cap={trainer.time_cap:g} only shortens it; keep one "
            "(trainer.time_cap=null)"
        )
    if trainer.steps:
        total, how = trainer.steps, "trainer.steps"
    else:
        counted = max(1, round(trainer.epochs * per_epoch))
        raised = max(counted, floor or counted)
        total = min(raised, ceiling or raised)
        how = "trainer.steps_floor" if total > counted else "trainer.steps_ceiling" if total < counted else ""
        how = f"trainer.epochs={trainer.epochs:g}" + (f" -> {how}" if how else "")
    return total, min(total, trainer.max_steps or total), describe_length(total, per_epoch, how)


def describe_length(total: int, per_epoch: int, how: str) -> str:
    """ "4,000 steps: 80 epochs of 50 batches (trainer.epochs=6 -> trainer.steps_floor)"."""
    return f"{total:,} steps: {total / per_epoch:.3g} epochs of {per_epoch:,} batches ({how})"


def micro_batches(batch: tuple, count: int):
    """Split a batch of tensors along dim 0 into `count` micro-batches for gradient accumulation."""
    return list(zip(*(tensor.chunk(count) for tensor in batch))) if count > 1 else [batch]


def train_step(task: Task, model, batch: tuple, phases: list[Phase], trainer, autocast) -> dict:
    """One optimizer step over `batch`, this process's share of the global batch, for each phase in turn (one for
    most models; a GAN's discriminator, then its generator), each in trainer.grad_accum micro-batches and clipped
    over its own parameters. Returns the step's loss (the phases' summed) and metrics, the gradient norm and the
    learning rate each phase used, as device tensors or floats (no host sync)."""
    logs = {"loss": 0}
    for phase in phases:
        sums = accumulate_gradients(task, model, batch, phase, trainer, autocast)
        parameters = list(phase.module.parameters())
        if trainer.grad_clip:
            grad_norm = torch.nn.utils.clip_grad_norm_(parameters, trainer.grad_clip)
        else:  # the norm alone: clipping at infinity would rescale every gradient by 1
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None])
        lr = phase.optimizer.param_groups[0]["lr"]
        phase.optimizer.step()
        model.zero_grad(set_to_none=True)  # every gradient: a discriminator's loss reaches the generator too
        logs["loss"] = logs["loss"] + sums["loss"]
        logs |= {phase.key(name): value for name, value in {**sums, "grad_norm": grad_norm, "lr": lr}.items()}
    if after_step := hook(unwrap(model), "after_step"):
        after_step()
    for phase in phases:
        phase.scheduler.step()
    return logs


def accumulate_gradients(task: Task, model, batch: tuple, phase: Phase, trainer, autocast) -> dict:
    """The gradients of `phase`'s loss over `batch` in trainer.grad_accum micro-batches (under DDP only the last
    one all-reduces, as nanoGPT does); each micro-batch's mean loss weighted by its share of the global batch's loss
    terms (`task.loss_weight`: samples, or target tokens), so that micro-batches and processes of unequal lengths
    give the gradient of one big batch. Returns the loss and metrics, weighted alike."""
    micros = micro_batches(batch, trainer.grad_accum)
    weights = [task.loss_weight(micro) for micro in micros]
    world, local = distributed.world_size(), sum(weights)  # samples (equal in every process) or tokens (a tensor)
    total = local * world if isinstance(local, int) else distributed.sum_over_processes(local).clamp(min=1)
    scale = world / total  # DDP averages the processes' gradients
    sums = {}
    for index, (micro, weight) in enumerate(zip(micros, weights)):
        last = index == len(micros) - 1
        with contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync(), autocast:
            loss, metrics = phase_loss(task, model, micro, phase.name)
        share = weight * scale
        (loss * share).backward()
        for name, value in {"loss": loss, **metrics}.items():
            sums[name] = sums.get(name, 0) + value.detach() * share
    return sums


def check_batch_split(trainer, world: int) -> None:
    if trainer.batch_size % (trainer.grad_accum * world):
        raise ValueError(
            f"trainer.batch_size={trainer.batch_size} must be divisible by trainer.grad_accum={trainer.grad_accum}"
            + (f" times the {world} processes" if world > 1 else "")
        )


COUNTED_BATCHES, COUNTED_SAMPLES = 4, 8


def count_flops_per_sample(model, task: Task, step: int, autocast) -> float:
    """Training FLOPs per sample, counted on the first samples of the next few steps' batches from `step`:
    per-sample FLOPs do not depend on a batch's size, but do on its padded length, which varies from step to step."""
    rank, world = distributed.rank(), distributed.world_size()
    batches = [task.local_batch(step + i, rank, world) for i in range(COUNTED_BATCHES)]
    first_samples = [tuple(tensor[:COUNTED_SAMPLES] for tensor in batch) for batch in batches]
    shapes = [tuple(tuple(tensor.shape) for tensor in batch) for batch in first_samples]
    per_shape = {}  # batches of one shape (every batch of images or text windows) are counted once
    for shape, batch in zip(shapes, first_samples):
        if shape not in per_shape:
            per_shape[shape] = train_flops_per_sample(model, task, [batch], autocast)
    return sum(per_shape[shape] for shape in shapes) / len(shapes)


def measure_efficiency(model, task: Task, step: int, trainer, device, autocast) -> tuple[float, tuple[float, str]]:
    """Training FLOPs per sample (`count_flops_per_sample`) and the device's peak FLOP/s with its source."""
    flops_per_sample = count_flops_per_sample(model, task, step, autocast)
    if trainer.peak_flops:
        return flops_per_sample, (trainer.peak_flops, "trainer.peak_flops")
    precision = resolve_precision(device, trainer.precision)
    return flops_per_sample, peak_flops(device, precision, write=distributed.is_main())  # one writer of the record


def check_every_parameter_trains(model, task: Task, step: int, autocast) -> None:
    """Under DDP every parameter must get a gradient at every step, or the second step stops with PyTorch's
    "Expected to have finished reduction": one backward pass on the first samples of the run's next batch (no
    trace left) finds those that get none, and the run stops naming them (a head its task does not train)."""
    batch = tuple(tensor[:COUNTED_SAMPLES] for tensor in task.local_batch(step, 0, 1))
    with no_trace(model, batch[0].device):
        backward_every_phase(model, task, batch, autocast)
        idle = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    if idle:
        raise ValueError(
            f"{', '.join(idle[:4])}{' ...' if len(idle) > 4 else ''} get no gradient from this task's loss, which "
            "DistributedDataParallel cannot train: build the model without them (e.g. no next-sentence head)"
        )


def wrap(model, compile_model: bool, world: int):
    """The module that trains (DDP over processes, optionally compiled) and the one that evaluates: never
    the DDP wrapper, since rank 0 evaluates alone."""
    train_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    train_model = torch.compile(train_model) if compile_model else train_model
    eval_model = train_model if world == 1 else torch.compile(model) if compile_model else model
    return train_model, eval_model


@dataclass
class Run:
    """What the steps of one run share: its task and trainer settings, its state, the modules that train and
    evaluate (compiled, DDP), where it writes, and its precision."""

    task: Task
    trainer: TrainerConfig
    state: TrainState
    train_model: torch.nn.Module
    eval_model: torch.nn.Module
    writer: object
    log: TrainLog
    run_dir: Path
    config: dict  # the run's whole resolved config: in every checkpoint, and against the metrics in HPARAMS
    device: torch.device
    autocast: object

    def save(self) -> None:
        self.state.save(self.run_dir / CHECKPOINT_NAME, self.config, self.device)


@dataclass
class Ended:
    """How a run's steps ended: at the target (`hit`), with the last step's validation metrics if the loop
    measured them, or on a signal (`interrupted`: to resume)."""

    hit: Hit | None = None
    val: dict[str, float] | None = None
    signal: str | None = None
    interrupted: bool = False


def fit(
    model,
    task: Task,
    trainer: TrainerConfig,
    optim: OptimConfig,
    *,
    run_dir: Path,
    device,
    config: dict,
    resume_state: dict | None = None,
) -> dict:
    """Train `model` on `task` as `trainer` and `optim` say, continuing from `resume_state` (a loaded checkpoint)
    if given; return the final metrics. `config` is the run's whole resolved config, kept in every checkpoint and
    set against the final metrics in TensorBoard's HPARAMS. Under torchrun every process calls it."""
    check_batch_split(trainer, distributed.world_size())
    target = Target.for_run(trainer, task.eval_metrics)
    autocast = autocast_context(device, trainer.precision)
    state, train_model, eval_model = start(model, task, trainer, optim, device, autocast, resume_state, run_dir)
    flops_per_sample, peak = measure_efficiency(model, task, state.step, trainer, device, autocast)
    writer = open_writer(run_dir, state.step) if distributed.is_main() else Silent()
    log = TrainLog(writer, run_dir / CHECKPOINT_NAME, flops_per_sample, peak[0], trainer.batch_size, device)
    run = Run(task, trainer, state, train_model, eval_model, writer, log, run_dir, config, device, autocast)
    first_step, state.clock = state.step, Clock(device, *elapsed(resume_state))  # set-up not counted
    wall.lap("set-up")
    ended = train_steps(run, target)
    state.clock.stop()  # the final checkpoint, evaluation and pictures are not training
    if log.steps:  # steps since the last log (after a signal): their loss must be finite too
        log.flush(state.step, state.clock.lap())
    run.save()
    wall.lap("training")
    if ended.interrupted or not distributed.is_main():
        writer.close()
        if ended.interrupted and distributed.is_main():
            stopped = f"{ended.signal or 'another process'}: stopped at step {state.step}"
            print(f"{stopped}; resume with trainer.resume={run_dir}")
        return {"step": state.step, "interrupted": ended.interrupted, "history": log.history}
    return finish(run, Progress(first_step, target, ended.hit, ended.val, flops_per_sample, peak))


def start(
    model,
    task: Task,
    trainer: TrainerConfig,
    optim: OptimConfig,
    device,
    autocast,
    resume_state: dict | None,
    run_dir: Path,
) -> tuple[TrainState, torch.nn.Module, torch.nn.Module]:
    """The run's state at its first step (a resumed run's, from its checkpoint), and the modules that train and
    evaluate. The schedule's length is the one run_length counts, or measured (trainer.time_budget, time_cap), or
    counted in FLOPs (trainer.flop_budget)."""
    total_steps, _, _ = run_length(trainer, task)
    task.init_model(model)
    if distributed.world_size() > 1:
        check_every_parameter_trains(model, task, resume_state["step"] if resume_state else 0, autocast)
    phases = build_phases(optim, model, device)
    train_model, eval_model = wrap(model, trainer.compile, distributed.world_size())
    if resume_state and (trainer.time_budget or trainer.time_cap or trainer.flop_budget):
        total_steps = resume_state["total_steps"]  # the length measured once, then kept in the checkpoint
    elif trainer.time_budget or trainer.time_cap:
        total_steps = fit_to_budget(trainer, task, train_model, model, phases, optim, device, autocast, total_steps)
    elif trainer.flop_budget:
        total_steps = fit_to_flops(trainer, task, model, autocast)
    state = TrainState(model, schedule(phases, optim, total_steps), total_steps)
    if resume_state:
        state.load_state_dict(resume_state, device, run_dir)
    state.lookahead = Lookahead.for_run(trainer.lookahead, model, total_steps, resume_state)
    state.early = EarlyStopping.for_run(trainer, task.eval_metrics, resume_state)
    return state, train_model, eval_model


def train_steps(run: Run, target: Target | None) -> Ended:
    """Optimizer steps until the schedule's end or trainer.max_steps, the target, early stopping or a signal;
    scalars, validation and checkpoints at their intervals; a step in which torch.compile compiled is set aside."""
    state, trainer, task = run.state, run.trainer, run.task
    stop_step = min(state.total_steps, trainer.max_steps or state.total_steps)
    bar = ProgressBar(trainer.progress and distributed.is_main(), state.step, stop_step)
    hit, ended_early, signalled, validated = None, False, False, None
    state.model.train()
    with StopOnSignal() as stop:
        while state.step < stop_step and not (signalled or hit is not None or ended_early):
            graphs, began = trainer.compile and compiled_graphs(), time.perf_counter()
            batch = task.local_batch(state.step, distributed.rank(), distributed.world_size())
            run.log.add(train_step(task, run.train_model, batch, state.phases, trainer, run.autocast))
            if trainer.compile and compiled_graphs() != graphs:  # Dynamo compiled in this step: not training
                state.clock.add_aside(time.perf_counter() - began)
            state.step += 1
            if state.lookahead:
                state.lookahead.step(state.model, state.step)
            bar.update()
            checkpoint_due = trainer.ckpt_every and state.step % trainer.ckpt_every == 0
            log_due = state.step % trainer.log_every == 0 or checkpoint_due or state.step == stop_step
            if log_due:
                bar.show(state.step, run.log.flush(state.step, state.clock.lap()))
            if trainer.eval_every and state.step % trainer.eval_every == 0:
                validated, hit, ended_early = validate_at(run, target)
            if checkpoint_due:
                run.save()
            if log_due or distributed.world_size() == 1:  # processes agree on a signal at log steps only (each
                # agreement is a host sync; torchrun kills its workers 30 s after forwarding one: log within that)
                signalled = distributed.any_process(bool(stop.requested), run.device)
    bar.close()
    last_val = validated[1] if validated and validated[0] == state.step else None  # the loop's, at this step
    return Ended(hit, last_val, stop.requested, signalled and hit is None and not ended_early)


def compiled_graphs() -> int:
    """The graphs Dynamo has compiled in this process (a host counter: reading it waits for nothing); a step that
    changes it compiled, the first step or a later one (a new sequence length, a guard that failed)."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def validate_at(run: Run, target: Target | None) -> tuple[tuple[int, dict], Hit | None, bool]:
    """A validation pass at the state's step (rank 0 evaluates, the others get {}), best.pt under early stopping;
    every process agrees whether the target is reached and early stopping is exhausted."""
    state, main = run.state, distributed.is_main()
    with state.clock.validating():
        metrics = validate(run) if main else {}
        if main and state.early and state.early.update(metrics, state.step):
            save_best(run.run_dir / BEST_NAME, state.model, state.step, state.early)
    reaching = bool(target and metrics and target.reached(metrics))
    hit = state.clock.hit(state.step) if distributed.any_process(reaching, run.device) else None
    ended_early = distributed.any_process(bool(state.early and main and state.early.exhausted), run.device)
    return (state.step, metrics), hit, ended_early


def fit_to_budget(trainer, task: Task, train_model, model, phases, optim, device, autocast, counted: int) -> int:
    """trainer.time_budget's number of steps, or the `counted` steps cut to what fits in trainer.time_cap: measured
    on the run's first steps with a provisional schedule and then undone (landmarks/engine/budget.py); printed
    with which bound decided and the setting that repeats the run."""
    provisional = schedule(phases, optim, 1_000_000)
    rank, world = distributed.rank(), distributed.world_size()

    def take_step(step: int) -> None:
        train_step(task, train_model, task.local_batch(step, rank, world), provisional, trainer, autocast)

    key, seconds = ("time_budget", trainer.time_budget) if trainer.time_budget else ("time_cap", trainer.time_cap)
    fitting, step_s, timed = steps_within(seconds, take_step, model, phases, device)
    steps = fitting if key == "time_budget" else min(fitting, counted)
    if distributed.is_main():
        measured = f"{step_s:.3g} s a step over {timed} timed steps"
        print(
            f"trainer.time_cap={seconds:g} s: the {counted:,} steps fit ({measured}), kept"
            if steps == counted and key == "time_cap"
            else f"trainer.{key}={seconds:g} s decides: {describe_length(steps, task.steps_per_epoch, measured)}; "
            f"the same run again: trainer.{key}=null trainer.steps={steps}"
        )
    return steps


def fit_to_flops(trainer, task: Task, model, autocast) -> int:
    """trainer.flop_budget's number of steps: the budget over the training FLOPs of a step (the loop's count a
    sample, as MFU's, times the batch), printed with the setting that repeats the run."""
    per_step = count_flops_per_sample(model, task, 0, autocast) * trainer.batch_size
    steps = max(1, round(trainer.flop_budget / per_step))
    if distributed.is_main():
        counted = describe_length(steps, task.steps_per_epoch, f"{per_step:.3g} FLOPs a step")
        print(
            f"trainer.flop_budget={trainer.flop_budget:g} decides: {counted}; "
            f"the same run again: trainer.flop_budget=null trainer.steps={steps}"
        )
    return steps


def open_writer(run_dir: Path, step: int):
    """The run's TensorBoard writer; a resumed run's events from after `step` are purged."""
    from torch.utils.tensorboard import SummaryWriter  # imported late: it is slow to import

    return SummaryWriter(str(run_dir), purge_step=step or None)


def validate(run: Run) -> dict[str, float]:
    """A validation pass at the run's step (in fp32, so that GPU and CPU records compare) and, unless
    trainer.pictures is off, the task's samples, logged; its metrics."""
    task, model, writer, step = run.task, run.eval_model, run.writer, run.state.step
    metrics = task.evaluate(model, "val")
    if run.trainer.pictures:
        with run.autocast:
            task.log_samples(writer, model, step)
    for name, value in metrics.items():
        writer.add_scalar(f"val/{name}", value, step)
    return metrics
