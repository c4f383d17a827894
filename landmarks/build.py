"""From a composed config to the objects the loop needs: device, data, task and model."""

import json
import platform
import random
import subprocess
from pathlib import Path

import torch
from omegaconf import OmegaConf

from landmarks.data import load_image_data
from landmarks.datasets import REPO_ROOT
from landmarks.flops import device_name
from landmarks.tasks import ImageClassification
from models import create_model, model_task

TASKS = ("image_classification", "translation")


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


def build_task(cfg, device: torch.device):
    """The task of `cfg.data`, after checking that the model was built for it."""
    data_cfg = cfg.data
    if data_cfg.task not in TASKS:
        raise ValueError(f"data.task={data_cfg.task!r} is not one of {TASKS}")
    if model_task(cfg.model.name) != data_cfg.task:
        raise ValueError(
            f"model.name={cfg.model.name} is a {model_task(cfg.model.name)} model but data={data_cfg.name} is "
            f"{data_cfg.task} data; pick data of the model's task, or a model of the data's (python "
            f"-c 'from models import list_models; print(list_models(\"{data_cfg.task}\"))')"
        )
    if data_cfg.task == "translation":
        from landmarks.translation import Translation  # imported late: image runs never need it
        from landmarks.translation_data import load_translation_data

        return Translation(
            load_translation_data(data_cfg, device),
            batch_size=cfg.trainer.batch_size,
            seed=cfg.seed,
            label_smoothing=cfg.trainer.label_smoothing,
            beam_size=data_cfg.beam_size,
        )
    data = load_image_data(
        data_cfg.name,
        root=data_cfg.root,
        download=data_cfg.download,
        val_size=data_cfg.val_size,
        test_size=data_cfg.test_size,
        seed=cfg.seed,
        device=device,
    )
    return ImageClassification(
        data,
        batch_size=cfg.trainer.batch_size,
        seed=cfg.seed,
        label_smoothing=cfg.trainer.label_smoothing,
        crop_padding=data_cfg.augment.crop_padding,
        flip=data_cfg.augment.flip,
        tta_flip=data_cfg.augment.tta_flip,
        channels_last=data_cfg.channels_last,
    )


def build_model(cfg, device: torch.device, task) -> torch.nn.Module:
    """The model of `cfg.model`, with the sizes that only the data knows (a vocabulary's) from the task."""
    kwargs = {**OmegaConf.to_container(cfg.model, resolve=True), **task.model_kwargs()}
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
