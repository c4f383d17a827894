"""From a validated config (landmarks/config.py's RunConfig) to the objects the loop needs: task and model.
A model is a registered name (`model.name`) or a user's own class (`model._target_=my_pkg.nets.TinyNet`), built
with model.*'s set values and the sizes that only the data knows (the task's `model_sizes`)."""

import importlib
import inspect
import json
import platform
import random
import subprocess
from pathlib import Path

import torch
from omegaconf import DictConfig

from landmarks.config import RunConfig, validate
from landmarks.datasets import REPO_ROOT
from landmarks.engine.flops import device_name
from landmarks.models import create_model
from landmarks.tasks.base import Task


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too


def build_task(run: RunConfig | DictConfig, device: torch.device | str) -> Task:
    """The task of the run's data (a composed config is validated first), its data loaded onto `device`."""
    run = run if isinstance(run, RunConfig) else validate(run)
    attack = {"attack": run.attack} if run.attack else {}  # adversarial training: image tasks alone take it
    return run.task.from_config(run.data, trainer=run.trainer, seed=run.seed, device=torch.device(device), **attack)


def model_kwargs(run: RunConfig, task: Task) -> dict:
    """What builds the model: model.*'s set values and the task's sizes from the data, which win."""
    return {**run.model, **task.model_kwargs()}


def import_class(path: str) -> type:
    """`my_pkg.nets.TinyNet` -> the class; a ValueError naming the path and the fix if it cannot be imported."""
    module, _, name = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name) if module else None
    except (ImportError, AttributeError) as error:
        raise ValueError(
            f"model._target_={path}: cannot import it ({type(error).__name__}: {error}); put the folder that holds "
            "its package on PYTHONPATH (or pip install it)"
        ) from None
    if not isinstance(found, type) or not issubclass(found, torch.nn.Module):
        raise ValueError(f"model._target_={path}: expected an importable nn.Module class, e.g. my_pkg.nets.TinyNet")
    return found


def instantiate(kwargs: dict) -> torch.nn.Module:
    """The model that `kwargs` describe: `_target_` (a class's import path) or `name` (a registered model), and
    the constructor's keyword arguments. A constructor that refuses them raises one line naming the fix."""
    kwargs = dict(kwargs)
    target, name = kwargs.pop("_target_", None), kwargs.pop("name", None)
    if target is None:
        return create_model(name, **kwargs)
    cls = import_class(target)
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as error:
        raise ValueError(
            f"model._target_={target} does not accept the arguments {sorted(kwargs)} ({error}); its constructor "
            "takes the task's sizes from the data (docs/extending.md) and each +model.<key>=<value>"
        ) from None
    return cls(**kwargs)


def build_model(run: RunConfig, task: Task, device: torch.device) -> torch.nn.Module:
    """The model of `run.model` for the data of `task`, on `device`."""
    return laid_out(instantiate(model_kwargs(run, task)).to(device), getattr(run.data, "channels_last", False))


def laid_out(model: torch.nn.Module, channels_last: bool) -> torch.nn.Module:
    """The model in the memory layout its run trained and evaluated in (data.channels_last for convnets): the
    same layout gives the same numbers to the last digit."""
    return model.to(memory_format=torch.channels_last) if channels_last else model


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
