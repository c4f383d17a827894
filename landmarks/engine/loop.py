"""The training loop, the same for every model: precision, optional torch.compile, optimizer and schedule,
gradient accumulation and clipping, logging and evaluation at intervals, checkpoint and resume.
It knows nothing of images or tokens: the task says what a batch means (landmarks/tasks/base.py).

`fit` is the step loop; it reads the trainer's settings (`TrainerConfig`, below) and the optimizer's, and calls
parts that each do one job: `restore` a checkpoint, `train_step`, and from landmarks/engine/parts.py a `Clock`,
`TrainLog` for the scalars, a `Target` for speedruns; `finish` evaluates and reports."""

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from landmarks.engine import distributed
from landmarks.engine.budget import steps_within
from landmarks.engine.checkpoint import BEST_NAME, CHECKPOINT_NAME, load_safely, save_checkpoint
from landmarks.engine.device import autocast_context, device_available, resolve_precision, rng_state, set_rng_state
from landmarks.engine.flops import peak_flops, train_flops_per_sample
from landmarks.engine.lookahead import Lookahead
from landmarks.engine.optimizers import OptimConfig, build_optimizer
from landmarks.engine.parts import (
    Clock,
    EarlyStopping,
    Progress,
    ProgressBar,
    Silent,
    StopOnSignal,
    Target,
    TrainLog,
    better,
)
from landmarks.engine.schedules import build_schedule
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


def run_length(trainer: TrainerConfig, task: Task) -> tuple[int, int, str]:
    """The schedule's length in steps, the step to stop at (trainer.max_steps cuts a run short; the schedule keeps
    its length) and how the length was chosen. Counted in epochs, it is held within trainer.steps_floor and
    trainer.steps_ceiling, so that one recipe gives a small corpus enough steps and a large one no more than it
    needs. (trainer.time_budget's length, and trainer.time_cap's cut, are measured later, by `fit`.)"""
    per_epoch, floor, ceiling = task.steps_per_epoch, trainer.steps_floor, trainer.steps_ceiling
    if trainer.time_budget and trainer.steps:
        raise ValueError(
            f"trainer.time_budget={trainer.time_budget:g} and trainer.steps={trainer.steps} both set the run's "
            "length; keep one (trainer.steps=null)"
        )
    if trainer.time_budget and trainer.time_cap:
        raise ValueError(
            f"trainer.time_budget={trainer.time_budget:g} sizes the run to a time, trainer.time_cap="
            f"{trainer.time_cap:g} only shortens it; keep one (trainer.time_cap=null)"
        )
    if floor and ceiling and floor > ceiling:
        raise ValueError(f"trainer.steps_floor={floor} is above trainer.steps_ceiling={ceiling}; swap them")
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


def restore(state: dict | None, model, optimizer, scheduler, device: torch.device, run_dir: Path):
    """Load a checkpoint's weights, optimizer, schedule and random state, if there is one; return its step
    and the seconds it had spent (wall, of which validation): zeros for a new run."""
    if state is None:
        return 0, 0.0, 0.0
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rngs = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]  # one per process; one before 0.2
    rng = rngs[distributed.rank()] if distributed.rank() < len(rngs) else None
    if rng is not None:  # a process the checkpoint did not know keeps its seed_process stream
        set_rng_state(rng, device)
    if distributed.is_main():
        print(f"resumed from {run_dir / CHECKPOINT_NAME} at step {state['step']}")
    return state["step"], state["elapsed_s"], state.get("eval_s", 0.0)


def save(path: Path, config: dict, model, optimizer, scheduler, lookahead, step: int, clock: Clock, device,
         run_state: dict) -> None:  # fmt: skip
    """The checkpoint: everything a resumed run needs to continue as if never stopped. `run_state` holds the
    schedule's length (measured, under trainer.time_budget) and early stopping's count."""
    rng = distributed.gather(rng_state(device))  # each process's: under torchrun they draw different dropout masks
    if distributed.is_main():
        state = {"model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict()}
        state |= {"scheduler": scheduler.state_dict(), "step": step, "rng": rng}
        state |= {"lookahead": lookahead.state_dict() if lookahead else None}
        state |= {"elapsed_s": clock.wall_s, "eval_s": clock.eval_s, "config": config, **run_state}
        save_checkpoint(path, state)


def save_best(path: Path, model, step: int, early: EarlyStopping) -> None:
    """best.pt: the weights of the best validation pass so far, which the final report and load_run use."""
    save_checkpoint(path, {"model": unwrap(model).state_dict(), "step": step, early.metric: early.best})


def micro_batches(batch: tuple, count: int):
    """Split a batch of tensors along dim 0 into `count` micro-batches for gradient accumulation."""
    return list(zip(*(tensor.chunk(count) for tensor in batch))) if count > 1 else [batch]


def train_step(task: Task, model, batch: tuple, optimizer, scheduler, trainer, autocast) -> dict:
    """One optimizer step over `batch`, this process's share of the global batch, in trainer.grad_accum
    micro-batches (under DDP only the last one all-reduces the gradients, as nanoGPT does). Each micro-batch's
    mean loss is weighted by its share of the global batch's loss terms (`task.loss_weight`: samples, or target
    tokens), so that micro-batches and processes of unequal lengths give the gradient of one big batch. Returns
    the step's loss and metrics, the gradient norm and the learning rate it used, as device tensors or floats
    (no host sync)."""
    micros = micro_batches(batch, trainer.grad_accum)
    weights = [task.loss_weight(micro) for micro in micros]
    world, local = distributed.world_size(), sum(weights)  # samples (equal in every process) or tokens (a tensor)
    total = local * world if isinstance(local, int) else distributed.sum_over_processes(local).clamp(min=1)
    scale = world / total  # DDP averages the processes' gradients
    sums = {}
    for index, (micro, weight) in enumerate(zip(micros, weights)):
        last = index == len(micros) - 1
        with contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync(), autocast:
            loss, metrics = task.loss(model, micro)
        share = weight * scale
        (loss * share).backward()
        for name, value in {"loss": loss, **metrics}.items():
            sums[name] = sums.get(name, 0) + value.detach() * share
    if trainer.grad_clip:
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), trainer.grad_clip)
    else:  # the norm alone: clipping at infinity would rescale every gradient by 1
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return {**sums, "grad_norm": grad_norm, "lr": lr}


def check_batch_split(trainer, world: int) -> None:
    if trainer.batch_size % (trainer.grad_accum * world):
        raise ValueError(
            f"trainer.batch_size={trainer.batch_size} must be divisible by trainer.grad_accum={trainer.grad_accum}"
            + (f" times the {world} processes" if world > 1 else "")
        )


COUNTED_BATCHES, COUNTED_SAMPLES = 4, 8


def measure_efficiency(model, task: Task, step: int, trainer, device, autocast) -> tuple[float, tuple[float, str]]:
    """Training FLOPs per sample and the device's peak FLOP/s with its source. The FLOPs are counted on the
    first samples of the next few steps' batches: per-sample FLOPs do not depend on a batch's size, but do on its
    padded length, which varies from step to step."""
    rank, world = distributed.rank(), distributed.world_size()
    batches = [task.local_batch(step + i, rank, world) for i in range(COUNTED_BATCHES)]
    first_samples = [tuple(tensor[:COUNTED_SAMPLES] for tensor in batch) for batch in batches]
    shapes = [tuple(tuple(tensor.shape) for tensor in batch) for batch in first_samples]
    per_shape = {}  # batches of one shape (every batch of images or text windows) are counted once
    for shape, batch in zip(shapes, first_samples):
        if shape not in per_shape:
            per_shape[shape] = train_flops_per_sample(model, task, [batch], autocast)
    flops_per_sample = sum(per_shape[shape] for shape in shapes) / len(shapes)
    if trainer.peak_flops:
        return flops_per_sample, (trainer.peak_flops, "trainer.peak_flops")
    return flops_per_sample, peak_flops(device, resolve_precision(device, trainer.precision))


def wrap(model, compile_model: bool, world: int):
    """The module that trains (DDP over processes, optionally compiled) and the one that evaluates: never
    the DDP wrapper, since rank 0 evaluates alone."""
    train_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    train_model = torch.compile(train_model) if compile_model else train_model
    eval_model = train_model if world == 1 else torch.compile(model) if compile_model else model
    return train_model, eval_model


def fit(model, task: Task, trainer: TrainerConfig, optim: OptimConfig, *, run_dir: Path, device, config: dict,
        resume_state: dict | None = None) -> dict:  # fmt: skip
    """Train `model` on `task` as `trainer` and `optim` say, continuing from `resume_state` (a loaded checkpoint)
    if given; return the final metrics. `config` is the run's whole resolved config, kept in every checkpoint and
    set against the final metrics in TensorBoard's HPARAMS. Under torchrun every process calls it."""
    world, main = distributed.world_size(), distributed.is_main()
    check_batch_split(trainer, world)
    target = Target.for_run(trainer, task.eval_metrics)
    early = EarlyStopping.for_run(trainer, task.eval_metrics, resume_state)
    total_steps, stop_step, _ = run_length(trainer, task)
    task.init_model(model)
    optimizer = build_optimizer(optim, model, device)
    autocast, checkpoint_path = autocast_context(device, trainer.precision), run_dir / CHECKPOINT_NAME
    train_model, eval_model = wrap(model, trainer.compile, world)
    if trainer.time_budget or trainer.time_cap:  # the length measured once, then kept in the checkpoint
        total_steps = resume_state["total_steps"] if resume_state else fit_to_budget(trainer, task, train_model,
            model, optimizer, optim, device, autocast, total_steps)  # fmt: skip
        stop_step = min(total_steps, trainer.max_steps or total_steps)
    scheduler = build_schedule(optim, optimizer, total_steps)
    step, wall_before, eval_before = restore(resume_state, model, optimizer, scheduler, device, run_dir)
    lookahead = Lookahead.for_run(trainer.lookahead, model, total_steps, resume_state)
    flops_per_sample, peak = measure_efficiency(model, task, step, trainer, device, autocast)
    writer = open_writer(run_dir, step) if main else Silent()
    log = TrainLog(writer, checkpoint_path, flops_per_sample, peak[0], trainer.batch_size, device)
    bar = ProgressBar(trainer.progress and main, step, stop_step)
    clock, first_step, hit, stopping = Clock(device, wall_before, eval_before), step, None, False  # set-up not counted
    ended_early = signalled = False
    validated = (None, None)  # the step of the latest validation pass and its metrics (rank 0)

    def run_state() -> dict:
        return {"total_steps": total_steps, "early_stopping": early.state_dict() if early else None}

    model.train()
    with StopOnSignal() as stop:
        while step < stop_step and not stopping:
            # the first step compiles (unless trainer.time_budget's or time_cap's measuring did): set aside
            measured = (trainer.time_budget or trainer.time_cap) and not resume_state
            compiling = trainer.compile and step == first_step and not measured
            with clock.set_aside() if compiling else contextlib.nullcontext():
                batch = task.local_batch(step, distributed.rank(), world)
                log.add(train_step(task, train_model, batch, optimizer, scheduler, trainer, autocast))
            step += 1
            if lookahead:
                lookahead.step(model, step)
            bar.update()
            checkpoint_due = trainer.ckpt_every and step % trainer.ckpt_every == 0
            log_due = step % trainer.log_every == 0 or checkpoint_due or step == stop_step
            if log_due:
                logs = log.flush(step, clock.lap())
                bar.show(step, logs)
            if trainer.eval_every and step % trainer.eval_every == 0:
                with clock.validating():
                    metrics = validate(task, eval_model, writer, step, autocast) if main else {}
                    validated = (step, metrics)
                    if main and early and early.update(metrics, step):
                        save_best(run_dir / BEST_NAME, model, step, early)
                reaching = bool(target and metrics and target.reached(metrics))
                hit = clock.hit(step) if distributed.any_process(reaching, device) else None
                ended_early = distributed.any_process(bool(early and main and early.exhausted), device)
            if checkpoint_due:
                save(checkpoint_path, config, model, optimizer, scheduler, lookahead, step, clock, device, run_state())
            # processes agree on a signal every step: torchrun kills its workers 30 s after forwarding one
            signalled = distributed.any_process(bool(stop.requested), device)
            stopping = signalled or hit is not None or ended_early
    bar.close()
    clock.stop()  # the final checkpoint, evaluation and pictures are not training
    if log.steps:  # steps since the last log (after a signal): their loss must be finite too
        log.flush(step, clock.lap())
    save(checkpoint_path, config, model, optimizer, scheduler, lookahead, step, clock, device, run_state())
    interrupted = signalled and hit is None and not ended_early
    if interrupted or not main:
        writer.close()
        if interrupted and main:
            print(
                f"{stop.requested or 'another process'}: stopped at step {step}; resume with trainer.resume={run_dir}"
            )
        return {"step": step, "interrupted": interrupted, "history": log.history}
    val = validated[1] if validated[0] == step else None  # the loop's validation at this step, if it ran
    progress = Progress(step, first_step, clock, target, hit, val, flops_per_sample, peak, log.history)
    return finish(trainer, config, task, model, eval_model, writer, run_dir, autocast, progress, early)


def fit_to_budget(trainer, task: Task, train_model, model, optimizer, optim, device, autocast, counted: int) -> int:
    """trainer.time_budget's number of steps, or the `counted` steps cut to what fits in trainer.time_cap: measured
    on the run's first steps with a provisional schedule and then undone (landmarks/engine/budget.py); printed
    with which bound decided and the setting that repeats the run."""
    provisional = build_schedule(optim, optimizer, 1_000_000)
    rank, world = distributed.rank(), distributed.world_size()

    def take_step(step: int) -> None:
        train_step(task, train_model, task.local_batch(step, rank, world), optimizer, provisional, trainer, autocast)

    key, seconds = ("time_budget", trainer.time_budget) if trainer.time_budget else ("time_cap", trainer.time_cap)
    fitting, step_s, timed = steps_within(seconds, take_step, model, optimizer, device)
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


def open_writer(run_dir: Path, step: int):
    """The run's TensorBoard writer; a resumed run's events from after `step` are purged."""
    from torch.utils.tensorboard import SummaryWriter  # imported late: it is slow to import

    return SummaryWriter(str(run_dir), purge_step=step or None)


def validate(task: Task, model, writer, step: int, autocast) -> dict[str, float]:
    """A validation pass (in fp32, so that GPU and CPU records compare) and the task's samples, logged; its
    metrics."""
    metrics = task.evaluate(model, "val")
    with autocast:
        task.log_samples(writer, model, step)
    for name, value in metrics.items():
        writer.add_scalar(f"val/{name}", value, step)
    return metrics


def finish(
    trainer: TrainerConfig,
    config: dict,
    task: Task,
    model,
    eval_model,
    writer,
    run_dir: Path,
    autocast,
    progress,
    early: EarlyStopping | None,
) -> dict:
    """The end of a run: the best validation pass's weights under early stopping (best.pt), validation and test
    metrics, pictures, the target's record, hparams against the final metrics in TensorBoard, and metrics.json."""
    step, clock, target, hit = progress.step, progress.clock, progress.target, progress.hit
    # metrics in fp32; validation only if the loop did not just measure it (a target reached, early stopping)
    splits = {"val": progress.val or task.evaluate(eval_model, "val")}
    best = {}
    if early:
        best_step = best_of_run(model, run_dir, early, step, splits["val"], counted=progress.val is not None)
        if best_step != step:
            splits["val"] = task.evaluate(eval_model, "val")
        best = {"weights": "best" if best_step != step else "last", "best_step": best_step}
    splits["test"] = task.evaluate(eval_model, "test")
    final = {f"{split}/{k}": v for split, metrics in splits.items() for k, v in metrics.items()}
    with autocast:
        task.log_pictures(writer, eval_model, step)
        report = task.report(eval_model)
    if target and hit is None and target.reached({k.removeprefix("val/"): v for k, v in final.items()}):
        hit = clock.hit(step)
    for name, value in final.items():
        writer.add_scalar(name, value, step)
    summary = {f"final/{name}": value for name, value in final.items()}
    if hit:
        writer.add_scalar("target/steps", hit.step, hit.step)
        writer.add_scalar("target/train_s", hit.train_s, hit.step)
        summary |= {"final/steps_to_target": hit.step, "final/time_to_target_s": hit.train_s}
    samples_per_s = (step - progress.first_step) * trainer.batch_size / max(clock.session_train_s, 1e-9)
    peak, peak_source = progress.peak
    results = {
        **final,
        "step": step,
        "train_time_s": round(clock.wall_s, 2),  # the loop's wall time, validation included
        "val_eval_s": round(clock.eval_s, 2),  # of which periodic validation
        "params": sum(p.numel() for p in model.parameters()),
        **({"compile_s": round(clock.aside_s, 2)} if trainer.compile else {}),  # the first step, set aside
        "flops_per_sample": progress.flops_per_sample,
        "mfu": progress.flops_per_sample * samples_per_s / (peak * distributed.world_size()),
        "peak_flops": f"{peak:.3g} ({peak_source})",
        **({"target": trainer.target, "target_reached": hit is not None} if target else {}),
        **({"steps_to_target": hit.step, "time_to_target_s": round(hit.train_s, 2)} if hit else {}),
        **({"wall_to_target_s": round(hit.wall_s, 2)} if hit else {}),
        **best,
        **task.notes(),
        "history": progress.history,
        "report": report,
    }
    hparams = {k: v for k, v in flatten(config).items() if "resume" not in k}
    writer.add_hparams(hparams, summary, run_name=".")
    writer.close()
    saved = {k: v for k, v in results.items() if k not in ("history", "report")}
    (run_dir / "metrics.json").write_text(json.dumps(saved, indent=2))
    return results


def best_of_run(model, run_dir: Path, early: EarlyStopping, step: int, val: dict, counted: bool) -> int:
    """The step whose weights end in `model`: the last step's if its validation pass (which the loop `counted` if
    it fell on a validation step) is the best, else best.pt's, loaded. A pass off the validation steps is compared
    but not counted, so that early stopping's count stays that of the whole run, and best.pt that count's best."""
    if early.best_step == step if counted else better(early.direction, val[early.metric], early.best):
        return step
    unwrap(model).load_state_dict(load_safely(run_dir / BEST_NAME)["model"])
    return early.best_step


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}, with non-scalars as strings (TensorBoard's hparams take scalars only)."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat
