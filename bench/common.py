"""What the benchmarks share: interleaved timing (contenders run round after round, in alternating order, so
that a machine whose speed drifts, as shared CPUs and GPU clocks do, slows both sides alike; the median
round is kept), and the Landmarks side of a comparison: a config composed as train.py composes it, and
the loop's own timing."""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_seconds(
    contenders: dict[str, Callable[[], float | None]], device: torch.device, rounds: int = 5, warmup: int = 1
) -> dict[str, float]:
    """Median seconds of each contender over `rounds` interleaved calls, after `warmup` untimed calls each.
    A contender may return its own measurement (e.g. a loop's time without its setup) instead of being timed."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    seconds = {name: [] for name in contenders}
    for round_ in range(rounds):
        order = list(contenders.items())
        for name, fn in order if round_ % 2 == 0 else reversed(order):  # whoever runs first in a round is slower
            synchronize(device)
            start = time.perf_counter()
            measured = fn()
            synchronize(device)
            seconds[name].append(measured if measured is not None else time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}


def train_command(args: list[str], repo: Path = REPO) -> tuple[dict, float]:
    """`python train.py *args` as a user runs it, from `repo` (another commit's files: bench/records.py), in a
    temporary run dir: its metrics.json and the whole command's seconds as the shell saw them."""
    with tempfile.TemporaryDirectory() as run_dir:
        command = [sys.executable, "train.py", *args, "trainer.progress=false", f"hydra.run.dir={run_dir}"]
        start = time.perf_counter()
        subprocess.run(command, cwd=repo, check=True, stdout=subprocess.DEVNULL)
        whole = time.perf_counter() - start
        return json.loads(Path(run_dir, "metrics.json").read_text()), whole


def machine() -> str:
    from landmarks.engine.flops import device_name

    if torch.cuda.is_available():
        return device_name(torch.device("cuda"))
    return f"{device_name(torch.device('cpu'))}, {torch.get_num_threads()} threads"


def plain_training_run(overrides: list[str], steps: int):
    """The config, device and task of a train.py run of `steps` steps (unless the overrides say otherwise),
    without augmentation or validation: the work that both sides of a loop comparison do alike."""
    from hydra import compose, initialize_config_dir

    from landmarks.build import build_task
    from landmarks.engine.device import pick_device

    fixed = ["trainer.eval_every=0", "trainer.progress=false", "data.augment.flip=false", "data.augment.crop_padding=0"]
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"trainer.max_steps={steps}", *overrides, *fixed])
    device = pick_device(cfg.trainer.device)
    return cfg, device, build_task(cfg, device)


def landmarks_loop_seconds(cfg, task, device: torch.device) -> float:
    """Train a fresh model with the Landmarks loop as train.py does; the loop's own seconds (no setup or final eval)."""
    from landmarks.build import build_model, seed_everything
    from landmarks.config import validate
    from landmarks.engine.loop import fit

    seed_everything(cfg.seed)
    run = validate(cfg)
    model = build_model(run, task, device)
    with tempfile.TemporaryDirectory() as run_dir:
        places = {"run_dir": Path(run_dir), "device": device, "config": run.resolved}
        return fit(model, task, run.trainer, run.optim, **places)["train_time_s"]
