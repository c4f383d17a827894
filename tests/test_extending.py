"""Extending the project the documented way (docs/extending.md): a user's own model from their own package,
trained from a folder outside the repository and read back in a fresh process; a dataset and an optimizer added
as one file each, which their registries find with no other edit."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from landmarks.engine.optimizers import OPTIMIZERS
from landmarks.tasks.language_modeling.datasets import DATASETS as TEXT_DATASETS
from landmarks.tasks.translation.datasets import DATASETS as TRANSLATION_DATASETS
from tests.conftest import CONFIGS, compose_config

REPO = Path(CONFIGS).parent
TINY_NET = """
import torch


class TinyNet(torch.nn.Module):
    def __init__(self, *, num_classes: int, in_chans: int, width: int = 4):
        super().__init__()
        self.conv = torch.nn.Conv2d(in_chans, width, 3, padding=1)
        self.head = torch.nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.conv(x).relu().mean(dim=(2, 3)))
"""


def user_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_a_users_own_model_trains_from_outside_the_repository_and_loads_back(tmp_path):
    package = tmp_path / "src" / "my_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(TINY_NET)
    run_dir = tmp_path / "run"
    overrides = ["data.val_size=256", "data.test_size=256", "trainer.max_steps=4", "trainer.batch_size=32"]
    trained = user_command(
        tmp_path,
        sys.executable,
        str(REPO / "train.py"),
        "model=custom",
        "model._target_=my_pkg.nets.TinyNet",
        "+model.width=6",
        *overrides,
        "trainer.progress=false",
        f"hydra.run.dir={run_dir}",
    )
    assert trained.returncode == 0, trained.stderr
    assert "no tuned recipe for my_pkg.nets.TinyNet on fashion_mnist" in trained.stdout
    check = (
        "from landmarks import load_run; r = load_run('run'); print(type(r.model).__name__, r.model.conv.out_channels)"
    )
    loaded = user_command(tmp_path, sys.executable, "-c", check)
    assert loaded.returncode == 0 and loaded.stdout.split() == ["TinyNet", "6"], loaded.stderr


@pytest.mark.parametrize(
    "target, message",
    [
        ("my_pkg.nets.Missing", r"model._target_=my_pkg.nets.Missing: cannot import it .*put the folder"),
        (
            "torch.nn.Linear",
            r"model._target_=torch.nn.Linear does not accept the arguments \['in_chans', 'num_classes'\]",
        ),
    ],
)
def test_a_target_that_cannot_be_imported_or_built_names_the_fix(target, message, tiny_fashion_mnist):
    from landmarks.build import build_model, build_task
    from landmarks.config import validate

    overrides = [f"model._target_={target}", f"data.root={tiny_fashion_mnist}", "data.val_size=128"]
    run = validate(compose_config("model=custom", *overrides))
    task = build_task(run, "cpu")
    with pytest.raises(ValueError, match=message):
        build_model(run, task, torch.device("cpu"))


def test_a_recipe_is_not_applied_to_another_model_of_its_group():
    from landmarks.config import validate

    with pytest.raises(ValueError, match=r"recipe resnet_fashion_mnist .* tuned for model.name=resnet8_speedrun, not"):
        validate(compose_config("model=resnet", "+model._target_=my_pkg.nets.TinyNet"))
    assert validate(compose_config("model=resnet", "model.name=resnet20", "~recipe")).recipe is None


def test_a_new_optimizer_dataset_or_corpus_is_one_file_its_registry_finds():
    """Each registry lists the files of its folder: what docs/extending.md tells a contributor to add."""
    folders = {
        OPTIMIZERS: REPO / "landmarks" / "engine" / "optimizers",
        TRANSLATION_DATASETS: REPO / "landmarks" / "tasks" / "translation" / "datasets",
        TEXT_DATASETS: REPO / "landmarks" / "tasks" / "language_modeling" / "datasets",
    }
    for registry, folder in folders.items():
        files = {path.stem for path in folder.glob("*.py") if path.stem != "__init__"}
        assert files <= set(registry.names()), (registry.what, files - set(registry.names()))
        assert {path.stem for path in (REPO / "configs" / "optim").glob("*.yaml")} <= set(OPTIMIZERS.names())


def test_an_optimizer_file_dropped_in_its_folder_trains(tmp_path, monkeypatch, tiny_fashion_mnist):
    """The documented walkthrough: one optimizer file in the optimizers' folder, one config; no other edit."""
    import landmarks.engine.optimizers as optimizers

    folder = tmp_path / "optimizers"
    folder.mkdir()
    (folder / "plain_sgd.py").write_text(
        textwrap.dedent(
            """
            import torch
            from landmarks.engine.optimizers import OPTIMIZERS, OptimConfig

            @OPTIMIZERS.register("plain_sgd", config=OptimConfig)
            def plain_sgd(cfg, groups, model, device):
                return torch.optim.SGD(groups, lr=cfg.lr)
            """
        )
    )
    monkeypatch.setattr(optimizers, "__path__", [*optimizers.__path__, str(folder)])
    monkeypatch.setattr(OPTIMIZERS, "_loaded", False)
    monkeypatch.setattr(OPTIMIZERS, "_entries", dict(OPTIMIZERS._entries))
    monkeypatch.setattr(OPTIMIZERS, "_configs", dict(OPTIMIZERS._configs))
    from tests.conftest import tiny_run_overrides
    from train import run

    cfg = compose_config(*tiny_run_overrides(tiny_fashion_mnist, "optim.name=plain_sgd", "trainer.max_steps=2"))
    assert run(cfg, tmp_path / "run")["step"] == 2


def test_a_users_own_config_folder_joins_through_the_search_path(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "my_run.yaml").write_text("# @package _global_\ntrainer:\n  steps: 7\n")
    cfg = compose_config(f"hydra.searchpath=[file://{tmp_path}]", "experiment=my_run")
    assert cfg.trainer.steps == 7
