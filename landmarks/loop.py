"""The training loop, the same for every model: precision, optional torch.compile, optimizer and schedule,
gradient accumulation and clipping, logging and evaluation at intervals, checkpoint and resume.
It knows nothing of images or tokens: the task says what a batch means."""
import contextlib
import json
import math
import signal
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from landmarks.checkpoint import CHECKPOINT_NAME, save_checkpoint, unwrap
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


def autocast_context(device: torch.device, precision: str):
    """bf16 autocast on CUDA by default; fp32 elsewhere (bf16 matmul is ~100x slower on many CPUs)."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "fp32":
        return contextlib.nullcontext()
    raise ValueError(f"trainer.precision={precision!r}; use auto, bf16 or fp32.")


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


def fit(cfg, model: torch.nn.Module, task, run_dir: Path, device: torch.device, resume_state: dict | None = None) -> dict:
    """Train `model` on `task` as `cfg.trainer` and `cfg.optim` say, continuing from `resume_state` (a loaded
    checkpoint) if given; return the final metrics."""
    trainer = cfg.trainer
    if trainer.batch_size % trainer.grad_accum:
        raise ValueError(f"trainer.batch_size={trainer.batch_size} must be divisible by trainer.grad_accum={trainer.grad_accum}")
    total_steps = round(trainer.epochs * task.steps_per_epoch)  # the schedule's length
    stop_step = min(total_steps, trainer.max_steps or total_steps)  # max_steps cuts a run short
    optimizer = build_optimizer(cfg.optim, model, device)
    scheduler = build_schedule(cfg.optim, optimizer, total_steps)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    step, elapsed_before = 0, 0.0
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        torch.set_rng_state(resume_state["rng"]["torch"])
        if device.type == "cuda" and resume_state["rng"]["cuda"] is not None:
            torch.cuda.set_rng_state(resume_state["rng"]["cuda"])
        step, elapsed_before = resume_state["step"], resume_state["elapsed_s"]
        print(f"resumed from {checkpoint_path} at step {step}")

    def save() -> None:
        save_checkpoint(checkpoint_path, {
            "model": unwrap(model).state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "elapsed_s": elapsed_before + time.perf_counter() - start,
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state() if device.type == "cuda" else None},
            "config": OmegaConf.to_container(cfg, resolve=True),
        })

    forward_model = torch.compile(model) if trainer.compile else model
    autocast = autocast_context(device, trainer.precision)
    from torch.utils.tensorboard import SummaryWriter  # imported late: it is slow to import

    writer = SummaryWriter(str(run_dir), purge_step=step if step else None)
    running = {}  # sums of the loss and task metrics since the last log, kept on the device (no sync)
    history = []  # (step, train loss) at each log, for the report and the resume test
    start = last_log_time = time.perf_counter()
    last_log_step = step
    bar = tqdm(total=stop_step, initial=step, disable=not trainer.progress, dynamic_ncols=True, desc="train")
    model.train()
    with StopOnSignal() as stop:
        while step < stop_step and not stop.requested:
            batch = task.train_batch(step)
            for micro in micro_batches(batch, trainer.grad_accum):
                with autocast:
                    loss, metrics = task.loss(forward_model, micro)
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
            if step % trainer.log_every == 0 or checkpoint_due or step == stop_step:
                logs = {name: value.item() / (step - last_log_step) for name, value in running.items()}
                check_finite(logs["loss"], step, checkpoint_path)
                now = time.perf_counter()
                throughput = (step - last_log_step) * len(batch[0]) / (now - last_log_time)
                for name, value in logs.items():
                    writer.add_scalar(f"train/{name}", value, step)
                writer.add_scalar("train/grad_norm", grad_norm.item(), step)
                writer.add_scalar("train/lr", scheduler.get_last_lr()[0], step)
                writer.add_scalar("throughput/samples_per_s", throughput, step)
                bar.set_postfix(loss=f"{logs['loss']:.3f}", acc=f"{logs.get('acc', 0):.3f}", samples_s=f"{throughput:.0f}")
                history.append((step, logs["loss"]))
                running, last_log_step, last_log_time = {}, step, now
            if trainer.eval_every and step % trainer.eval_every == 0 and step < stop_step:
                eval_start = time.perf_counter()
                with autocast:
                    for name, value in task.evaluate(forward_model, "val").items():
                        writer.add_scalar(f"val/{name}", value, step)
                last_log_time += time.perf_counter() - eval_start  # samples/s measures training alone
            if checkpoint_due:
                save()
    bar.close()
    if running:  # steps since the last log (after a signal): their loss must be finite too
        check_finite(running["loss"].item(), step, checkpoint_path)
    save()
    train_time = elapsed_before + time.perf_counter() - start
    if stop.requested:
        writer.close()
        print(f"{stop.requested}: stopped at step {step}; resume with trainer.resume={run_dir}")
        return {"step": step, "interrupted": stop.requested, "history": history}

    with autocast:
        final = {f"{split}/{name}": value for split in ("val", "test") for name, value in task.evaluate(forward_model, split).items()}
        task.log_pictures(writer, forward_model, step)
    for name, value in final.items():
        writer.add_scalar(name, value, step)
    results = {
        **final,
        "step": step,
        "train_time_s": round(train_time, 2),
        "params": sum(p.numel() for p in model.parameters()),
        "history": history,
    }
    hparams = {key: value for key, value in flatten(OmegaConf.to_container(cfg, resolve=True)).items() if "resume" not in key}
    writer.add_hparams(hparams, {f"final/{name}": value for name, value in final.items()}, run_name=".")
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
