"""The training loop, the same for every model: precision, optional torch.compile, optimizer and schedule,
gradient accumulation and clipping, logging and evaluation at intervals, checkpoint and resume.
It knows nothing of images or tokens: the task says what a batch means."""

import contextlib
import json
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from landmarks import distributed
from landmarks.checkpoint import CHECKPOINT_NAME, save_checkpoint, unwrap
from landmarks.flops import peak_flops, train_flops_per_sample
from landmarks.optim import build_optimizer, build_schedule


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


def resolve_precision(device: torch.device, precision: str) -> str:
    """ "auto" is bf16 autocast on CUDA and fp32 elsewhere (bf16 matmul is ~100x slower on many CPUs)."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"trainer.precision={precision!r}; use auto, bf16 or fp32.")
    return precision


def autocast_context(device: torch.device, precision: str):
    if resolve_precision(device, precision) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class Target:
    """trainer.target="acc:0.91": stop as soon as a validation metric reaches a value (from below, or from
    above for a loss or perplexity), as in a speedrun's time-to-target."""

    metric: str
    value: float

    @classmethod
    def parse(cls, spec: str | None, metrics: tuple[str, ...]) -> "Target | None":
        if spec is None:
            return None
        name, _, value = str(spec).removeprefix("val/").rpartition(":")
        try:
            target = cls(name, float(value))
        except ValueError:
            target = None
        if target is None or name not in metrics:
            raise ValueError(
                f"trainer.target={spec!r}; write <metric>:<value> with a validation "
                f"metric of this task {metrics}, e.g. trainer.target={metrics[-1]}:0.9"
            )
        return target

    def reached(self, metrics: dict[str, float]) -> bool:
        value = metrics[self.metric]
        return value <= self.value if self.metric in ("loss", "ppl") else value >= self.value


def micro_batches(batch: tuple, count: int):
    """Split a batch of tensors along dim 0 into `count` micro-batches for gradient accumulation."""
    return zip(*(tensor.chunk(count) for tensor in batch)) if count > 1 else [batch]


def check_finite(loss: float, step: int, checkpoint_path: Path) -> None:
    if not math.isfinite(loss):
        raise NonFiniteLossError(
            f"loss is {loss} at step {step}; the last good checkpoint is "
            f"{checkpoint_path if checkpoint_path.exists() else 'none yet'}. "
            f"Try a lower optim.lr or trainer.grad_clip, then trainer.resume=<run dir>."
        )


class Silent:
    """Stands in for the TensorBoard writer in the processes that must not write (ranks other than 0)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def fit(
    cfg, model: torch.nn.Module, task, run_dir: Path, device: torch.device, resume_state: dict | None = None
) -> dict:
    """Train `model` on `task` as `cfg.trainer` and `cfg.optim` say, continuing from `resume_state` (a loaded
    checkpoint) if given; return the final metrics. Under torchrun every process calls it (landmarks/distributed.py)."""
    trainer = cfg.trainer
    world, main = distributed.world_size(), distributed.is_main()
    if trainer.batch_size % (trainer.grad_accum * world):
        raise ValueError(
            f"trainer.batch_size={trainer.batch_size} must be divisible by trainer.grad_accum={trainer.grad_accum}"
            + (f" times the {world} processes" if world > 1 else "")
        )
    target = Target.parse(trainer.target, task.eval_metrics)
    if target and not trainer.eval_every:
        raise ValueError(
            f"trainer.target={trainer.target} needs validation during training: set trainer.eval_every > 0"
        )
    total_steps = round(trainer.epochs * task.steps_per_epoch)  # the schedule's length
    stop_step = min(total_steps, trainer.max_steps or total_steps)  # max_steps cuts a run short
    optimizer = build_optimizer(cfg.optim, model, device)
    scheduler = build_schedule(cfg.optim, optimizer, total_steps)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    step, elapsed_before, eval_before = 0, 0.0, 0.0
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        torch.set_rng_state(resume_state["rng"]["torch"])
        if device.type == "cuda" and resume_state["rng"]["cuda"] is not None:
            torch.cuda.set_rng_state(resume_state["rng"]["cuda"])
        step, elapsed_before, eval_before = (
            resume_state["step"],
            resume_state["elapsed_s"],
            resume_state.get("eval_s", 0.0),
        )
        if main:
            print(f"resumed from {checkpoint_path} at step {step}")

    def save() -> None:
        if main:
            save_checkpoint(
                checkpoint_path,
                {
                    "model": unwrap(model).state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "step": step,
                    "elapsed_s": elapsed_before + time.perf_counter() - start,
                    "eval_s": eval_before + eval_time,
                    "rng": {
                        "torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state() if device.type == "cuda" else None,
                    },
                    "config": OmegaConf.to_container(cfg, resolve=True),
                },
            )

    autocast = autocast_context(device, trainer.precision)
    first_micro_batch = next(iter(micro_batches(distributed.shard(task.train_batch(step)), trainer.grad_accum)))
    flops_per_sample = train_flops_per_sample(model, task, first_micro_batch, autocast)
    peak, peak_source = (
        (trainer.peak_flops, "trainer.peak_flops")
        if trainer.peak_flops
        else peak_flops(device, resolve_precision(device, trainer.precision))
    )
    train_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    train_model = torch.compile(train_model) if trainer.compile else train_model
    eval_model = (
        train_model if world == 1 else torch.compile(model) if trainer.compile else model
    )  # never the DDP wrapper: rank 0 evaluates alone
    from torch.utils.tensorboard import SummaryWriter  # imported late: it is slow to import

    writer = SummaryWriter(str(run_dir), purge_step=step if step else None) if main else Silent()
    running = {}  # sums of the loss and task metrics since the last log, kept on the device (no sync)
    history = []  # (step, train loss) at each log, for the report and the resume test
    reached = None  # (step, training seconds, wall seconds) when the target was reached
    eval_time, first_step = 0.0, step
    start = last_log_time = time.perf_counter()
    last_log_step = step
    bar = tqdm(total=stop_step, initial=step, disable=not (trainer.progress and main), dynamic_ncols=True, desc="train")
    model.train()
    with StopOnSignal() as stop:
        stopping = False
        while step < stop_step and not stopping:
            batch = task.train_batch(step)
            for micro in micro_batches(distributed.shard(batch), trainer.grad_accum):
                with autocast:
                    loss, metrics = task.loss(train_model, micro)
                (loss / trainer.grad_accum).backward()  # the mean over micro-batches, as one big batch would give
                for name, value in {"loss": loss, **metrics}.items():
                    running[name] = running.get(name, 0) + value.detach() / trainer.grad_accum
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), trainer.grad_clip or math.inf)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            bar.update()

            checkpoint_due = trainer.ckpt_every and step % trainer.ckpt_every == 0
            log_due = step % trainer.log_every == 0 or checkpoint_due or step == stop_step
            if log_due:
                logs = {
                    name: value.item() / (step - last_log_step)
                    for name, value in distributed.mean_over_processes(running).items()
                }
                check_finite(logs["loss"], step, checkpoint_path)
                now = time.perf_counter()
                throughput = (step - last_log_step) * len(batch[0]) / (now - last_log_time)
                for name, value in logs.items():
                    writer.add_scalar(f"train/{name}", value, step)
                writer.add_scalar("train/grad_norm", grad_norm.item(), step)
                writer.add_scalar("train/lr", scheduler.get_last_lr()[0], step)
                writer.add_scalar("throughput/samples_per_s", throughput, step)
                writer.add_scalar("throughput/mfu", flops_per_sample * throughput / (peak * world), step)
                bar.set_postfix(
                    loss=f"{logs['loss']:.3f}", acc=f"{logs.get('acc', 0):.3f}", samples_s=f"{throughput:.0f}"
                )
                history.append((step, logs["loss"]))
                running, last_log_step, last_log_time = {}, step, now
            if trainer.eval_every and step % trainer.eval_every == 0 and step < stop_step:
                eval_start = time.perf_counter()
                hit = False
                if main:
                    with autocast:
                        val = task.evaluate(eval_model, "val")
                    for name, value in val.items():
                        writer.add_scalar(f"val/{name}", value, step)
                    hit = target is not None and target.reached(val)
                eval_time += time.perf_counter() - eval_start
                last_log_time += time.perf_counter() - eval_start  # samples/s measures training alone
                if distributed.any_process(hit, device):
                    wall = elapsed_before + time.perf_counter() - start
                    reached = (step, wall - eval_before - eval_time, wall)
            if checkpoint_due:
                save()
            if world == 1 or log_due:  # processes agree on a signal at log steps, a sync point anyway
                stopping = distributed.any_process(bool(stop.requested), device)
            stopping = stopping or reached is not None
    bar.close()
    if running:  # steps since the last log (after a signal): their loss must be finite too
        check_finite(running["loss"].item(), step, checkpoint_path)
    save()
    wall = elapsed_before + time.perf_counter() - start
    interrupted = stopping and reached is None
    if interrupted or not main:
        writer.close()
        if interrupted and main:
            print(
                f"{stop.requested or 'another process'}: stopped at step {step}; resume with trainer.resume={run_dir}"
            )
        return {"step": step, "interrupted": interrupted, "history": history}

    with autocast:
        final = {
            f"{split}/{name}": value
            for split in ("val", "test")
            for name, value in task.evaluate(eval_model, split).items()
        }
        task.log_pictures(writer, eval_model, step)
    if (
        target
        and reached is None
        and target.reached({name.removeprefix("val/"): value for name, value in final.items()})
    ):
        reached = (step, wall - eval_before - eval_time, wall)
    if reached:
        writer.add_scalar("target/steps", reached[0], reached[0])
        writer.add_scalar("target/train_s", reached[1], reached[0])
    for name, value in final.items():
        writer.add_scalar(name, value, step)
    train_s = (wall - elapsed_before) - eval_time
    results = {
        **final,
        "step": step,
        "train_time_s": round(wall, 2),  # the loop's wall time, validation included
        "val_eval_s": round(eval_before + eval_time, 2),  # of which periodic validation
        "params": sum(p.numel() for p in model.parameters()),
        "flops_per_sample": flops_per_sample,
        "mfu": flops_per_sample * (step - first_step) * trainer.batch_size / max(train_s, 1e-9) / (peak * world),
        "peak_flops": f"{peak:.3g} ({peak_source})",
        **({"target": trainer.target, "target_reached": reached is not None} if target else {}),
        **(
            {
                "steps_to_target": reached[0],
                "time_to_target_s": round(reached[1], 2),
                "wall_to_target_s": round(reached[2], 2),
            }
            if reached
            else {}
        ),
        "history": history,
    }
    hparams = {
        key: value for key, value in flatten(OmegaConf.to_container(cfg, resolve=True)).items() if "resume" not in key
    }
    summary = {f"final/{name}": value for name, value in final.items()}
    if reached:
        summary.update({"final/steps_to_target": reached[0], "final/time_to_target_s": reached[1]})
    writer.add_hparams(hparams, summary, run_name=".")
    writer.close()
    (run_dir / "metrics.json").write_text(json.dumps({k: v for k, v in results.items() if k != "history"}, indent=2))
    return results


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}, with non-scalars as strings (TensorBoard's hparams take scalars only)."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat
