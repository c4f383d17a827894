"""From a validated config (landmarks/config.py's RunConfig) to the objects the loop needs: task and model.
A model is a registered name (`model.name`) or a user's own class (`model._target_=my_pkg.nets.TinyNet`), built
with model.*'s set values and the sizes that only the data knows (the task's `model_sizes`)."""

import json
import platform
import random
import subprocess
from pathlib import Path

import torch
from omegaconf import DictConfig

from landmarks.config import RunConfig, validate
from landmarks.datasets import REPO_ROOT
from landmarks.engine.batch_norm import narrow_batch_norms
from landmarks.engine.flops import device_name
from landmarks.export import Pretrained, read_pretrained
from landmarks.instantiate import instantiate
from landmarks.tasks.base import Task


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too


def build_task(run: RunConfig | DictConfig, device: torch.device | str, trust_code: bool = False) -> Task:
    """The task of the run's data (a composed config is validated first), its data loaded onto `device`; under
    model.init_from, a pretrained run whose model is a class of its own is read only if `trust_code`."""
    run = run if isinstance(run, RunConfig) else validate(run)
    extras = dict(run.options)  # what the task took from its own config sections (adversarial training)
    if run.model.get("init_from"):  # fine-tuning: tasks with fine_tunes_from alone take it (config.py checks)
        extras["pretrained"] = read_pretrained(run.model["init_from"], trust_code)
    return run.task.from_config(run.data, trainer=run.trainer, seed=run.seed, device=torch.device(device), **extras)


def model_kwargs(run: RunConfig, task: Task) -> dict:
    """What builds the model: model.*'s set values (over the pretrained run's, under model.init_from) and the
    task's sizes from the data; model.* setting one of those to another value is refused."""
    own = {key: value for key, value in run.model.items() if key != "init_from"}
    if task.pretrained is not None:
        theirs = task.pretrained.model_kwargs
        for key in ("name", "_target_"):
            if own.get(key) != theirs.get(key):
                raise ValueError(
                    f"model.init_from={task.pretrained.run_dir} trained model.{key}={theirs.get(key)}, not "
                    f"{own.get(key)}: set model.{key}={theirs.get(key)}"
                )
        own = {**theirs, **own}
    sizes = task.model_kwargs()
    for key, value in run.model.items():
        if key in sizes and value != sizes[key]:
            raise ValueError(
                f"model.{key}={value}: a {run.data.task} run sets {key}={sizes[key]} from its data and task; "
                f"drop model.{key}"
            )
    return {**own, **sizes}


def copy_pretrained(model: torch.nn.Module, pretrained: Pretrained) -> None:
    """Copy into `model` every tensor of the pretrained run's model that it has (the encoder); the others (a new
    head) stay fresh. A tensor of another shape raises ValueError naming it."""
    theirs, ours = pretrained.model.state_dict(), model.state_dict()
    for name, tensor in ours.items():
        if name in theirs and theirs[name].shape != tensor.shape:
            raise ValueError(
                f"model.init_from={pretrained.run_dir}: {name} is {tuple(theirs[name].shape)} there and "
                f"{tuple(tensor.shape)} here; fine-tune with the pretraining run's model sizes and vocabulary"
            )
    model.load_state_dict({name: theirs[name] for name in ours if name in theirs}, strict=False)


def build_model(
    run: RunConfig, task: Task, device: torch.device, trust_code: bool = True, source: object = "the command line"
) -> torch.nn.Module:
    """The model of `run.model` for the data of `task`, on `device`; under model.init_from, with the pretrained
    run's weights where it has them. A config read from `source` (a checkpoint, to resume or evaluate) that names
    a class of its own is imported only if `trust_code`; a class the user typed is theirs."""
    model = instantiate(model_kwargs(run, task), trust_code, source)
    if task.pretrained is not None:
        copy_pretrained(model, task.pretrained)
    return laid_out(model.to(device), getattr(run.data, "channels_last", False))


def laid_out(model: torch.nn.Module, channels_last: bool) -> torch.nn.Module:
    """The model in the memory layout its run trained and evaluated in (data.channels_last for convnets): the
    same layout gives the same numbers to the last digit. Channels-last batch norms of few channels get their
    backward by formula on the CPU (landmarks/engine/batch_norm.py: PyTorch's kernel is 3-6x slower there)."""
    return narrow_batch_norms(model.to(memory_format=torch.channels_last)) if channels_last else model


def environment() -> dict:
    """Versions and commit, kept beside each run so that its numbers can be traced."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "device_name": device_name(torch.device("cuda" if torch.cuda.is_available() else "cpu")),
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "git_commit": commit,
    }


def write_environment(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "environment.json").write_text(json.dumps(environment(), indent=2))
