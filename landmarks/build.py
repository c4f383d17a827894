"""From a composed config to the objects the loop needs: device, data, task and model."""

import importlib
import json
import platform
import random
import subprocess
from pathlib import Path

import torch
from omegaconf import OmegaConf

from landmarks.datasets import REPO_ROOT
from landmarks.engine.flops import device_name
from landmarks.models import create_model, model_task
from landmarks.models.vit import patch_size_for
from landmarks.tasks.base import Task

# Each task: the class that implements landmarks.tasks.base.Task for it. A new task is one file and one line here.
TASKS = {
    "image_classification": "landmarks.tasks.image_classification.task:ImageClassification",
    "translation": "landmarks.tasks.translation.task:Translation",
    "language_modeling": "landmarks.tasks.language_modeling.task:LanguageModeling",
}


def pick_device(name: str) -> torch.device:
    """ "auto" picks cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too


def build_task(cfg, device: torch.device) -> Task:
    """The task of `cfg.data`, after checking that the model was built for it."""
    task_name, model_name = cfg.data.task, cfg.model.name
    if task_name not in TASKS:
        raise ValueError(f"data.task={task_name!r} is not one of {tuple(TASKS)}")
    if model_task(model_name) != task_name:
        raise ValueError(
            f"model.name={model_name} is a {model_task(model_name)} model but data={cfg.data.name} is "
            f"{task_name} data; pick data of the model's task, or a model of the data's "
            f"(python -c 'from landmarks.models import list_models; print(list_models(\"{task_name}\"))')"
        )
    module, _, name = TASKS[task_name].partition(":")
    return getattr(importlib.import_module(module), name).from_config(cfg, device)  # imported late: one task a run


def model_kwargs(cfg, task: Task) -> dict:
    """The constructor arguments of `cfg.model`: its set values (null leaves the registered variant's own),
    the sizes that only the data knows (from the task), and ViT's patch size for the data when none is set."""
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if v is not None}
    if "patch_size" in cfg.model and cfg.model.patch_size is None:
        kwargs["patch_size"] = patch_size_for(cfg.data.image_size)
    return {**kwargs, **task.model_kwargs()}


def build_model(cfg, device: torch.device, task: Task) -> torch.nn.Module:
    """The model of `cfg.model` for the data of `task`, on `device`."""
    kwargs = model_kwargs(cfg, task)
    model = create_model(kwargs.pop("name"), **kwargs).to(device)
    if cfg.data.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
    return model


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
