"""Samples/s of the Landmarks loop (landmarks/engine/loop.py, as train.py runs it) against a bare twenty-line PyTorch
loop training the same model on the same resident data with the same optimizer and schedule: the cost of
the loop's logging, checks, metrics and checkpoint. Both skip augmentation and validation.

    python bench/loop_overhead.py [model=resnet] [trainer.max_steps=100] [any train.py override]
"""

import sys
import time

import torch
import torch.nn.functional as F
from common import interleaved_seconds, landmarks_loop_seconds, machine, plain_training_run, synchronize

from landmarks.build import build_model, seed_everything
from landmarks.config import validate


def bare_loop_seconds(cfg, task, device: torch.device, steps: int) -> float:
    """The loop people write by hand: shuffled slices of the resident tensors, AdamW, one-cycle, nothing else."""
    seed_everything(cfg.seed)
    model = build_model(validate(cfg), task, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    total = round(cfg.trainer.epochs * task.steps_per_epoch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, cfg.optim.lr, total_steps=total, pct_start=cfg.optim.warmup, anneal_strategy="linear"
    )
    images, labels, batch = task.data.train.images, task.data.train.labels, cfg.trainer.batch_size
    synchronize(device)
    start = time.perf_counter()
    order = torch.randperm(len(labels), device=device)
    for step in range(steps):
        index = order[step * batch : (step + 1) * batch]
        x = task.data.normalize(images[index]).contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(x), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    loss.item()
    synchronize(device)
    return time.perf_counter() - start


def main(overrides: list[str]) -> None:
    cfg, device, task = plain_training_run(overrides, steps=100)
    steps = cfg.trainer.max_steps
    seconds = interleaved_seconds(
        {
            "landmarks": lambda: landmarks_loop_seconds(cfg, task, device),
            "bare": lambda: bare_loop_seconds(cfg, task, device, steps),
        },
        device,
        rounds=3,
    )
    samples = steps * cfg.trainer.batch_size
    ours, bare = samples / seconds["landmarks"], samples / seconds["bare"]
    print(f"{cfg.model.name} on {cfg.data.name}, {steps} steps of {cfg.trainer.batch_size}, {machine()}")
    print(f"landmarks loop {ours:.0f} samples/s, bare loop {bare:.0f} samples/s: overhead {1 - ours / bare:.1%}")


if __name__ == "__main__":
    main(sys.argv[1:])
