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
from tests.conftest import CONFIGS, compose_config, tiny_run_overrides
from train import run

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


@pytest.mark.slow
def test_a_users_own_model_trains_from_outside_the_repository_and_loads_back(tmp_path):
    package = tmp_path / "src" / "my_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(TINY_NET)
    run_dir = tmp_path / "run"
    overrides = ["data.val_size=256", "data.test_size=256", "trainer.max_steps=4", "trainer.batch_size=32"]
    overrides += ["trainer.num_threads=1"]  # beside the other pytest worker
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
    check = "from landmarks import load_run; r = load_run('run', trust_code=True); "  # the user's own class
    check += "print(type(r.model).__name__, r.model.conv.out_channels)"
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


def drop_in(monkeypatch, tmp_path, registry, package, code: str) -> None:
    """Put a module into `package`'s folder for this test, as a contributor adds a file, and let `registry` read
    the folder again (its entries restored after the test)."""
    folder = tmp_path / package.__name__.replace(".", "_")
    folder.mkdir()
    (folder / "added.py").write_text(textwrap.dedent(code))
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    for attribute in ("_entries", "_configs"):
        monkeypatch.setattr(registry, attribute, dict(getattr(registry, attribute)))
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.delitem(sys.modules, f"{package.__name__}.added", raising=False)


def test_an_optimizer_file_dropped_in_its_folder_trains(tmp_path, monkeypatch, tiny_fashion_mnist):
    """The documented walkthrough: one optimizer file in the optimizers' folder and its config; no other edit."""
    import landmarks.engine.optimizers as optimizers

    code = """
        import torch
        from landmarks.engine.optimizers import OPTIMIZERS, OptimConfig

        @OPTIMIZERS.register("plain_sgd", config=OptimConfig)
        def plain_sgd(cfg, groups, model, device):
            return torch.optim.SGD(groups, lr=cfg.lr)
        """
    drop_in(monkeypatch, tmp_path, OPTIMIZERS, optimizers, code)
    (tmp_path / "configs" / "optim").mkdir(parents=True)
    (tmp_path / "configs" / "optim" / "plain_sgd.yaml").write_text("name: plain_sgd\nlr: 0.01\nwarmup: 0.0\n")
    overrides = tiny_run_overrides(tiny_fashion_mnist, "optim=plain_sgd", "trainer.max_steps=2")
    cfg = compose_config(f"hydra.searchpath=[file://{tmp_path / 'configs'}]", *overrides)
    assert cfg.optim.name == "plain_sgd" and run(cfg, tmp_path / "run")["step"] == 2


def test_a_dataset_file_dropped_in_its_tasks_folder_trains(tmp_path, monkeypatch):
    """The documented walkthrough: one dataset file in its task's datasets/ and its config; no other edit."""
    import landmarks.tasks.translation.datasets as translation_datasets

    code = """
        from landmarks.tasks.translation.datasets import DATASETS, TranslationDataConfig

        @DATASETS.register("numbers", config=TranslationDataConfig)
        def load(cfg):
            pairs = [(f"number {i}", f"Nummer {i}") for i in range(80)]
            return {"train": pairs[:60], "val": pairs[60:70], "test": pairs[70:]}
        """
    drop_in(monkeypatch, tmp_path, TRANSLATION_DATASETS, translation_datasets, code)
    (tmp_path / "configs" / "data").mkdir(parents=True)
    fields = {"name": "numbers", "task": "translation", "source": "numbers", "level": "word", "beam_size": 1}
    sizes = {"val_size": 10, "test_size": 10}
    lines = [f"{key}: {value}" for key, value in (fields | sizes).items()]
    (tmp_path / "configs" / "data" / "numbers.yaml").write_text("\n".join(lines) + "\n")
    quick = ["trainer.batch_size=20", "trainer.max_steps=2", "trainer.progress=false", "trainer.eval_every=0"]
    cfg = compose_config(
        f"hydra.searchpath=[file://{tmp_path / 'configs'}]", "model=transformer", "data=numbers", *quick
    )
    results = run(cfg, tmp_path / "run")
    assert results["step"] == 2 and "test/bleu" in results


def test_a_users_own_config_folder_joins_through_the_search_path(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "my_run.yaml").write_text("# @package _global_\ntrainer:\n  steps: 7\n")
    cfg = compose_config(f"hydra.searchpath=[file://{tmp_path}]", "experiment=my_run")
    assert cfg.trainer.steps == 7


TOY_TASK = """
from dataclasses import dataclass

import torch

from landmarks.registry import Registry
from landmarks.tasks.base import DataConfig, Task, evaluating

DATASETS = Registry("toy dataset", "data.source")


@dataclass
class ToyData(DataConfig):
    size: int = 64


@DATASETS.register("line", config=ToyData)
def line(cfg):
    x = torch.linspace(-1, 1, cfg.size)[:, None]
    return x, 3 * x - 1


class Regression(Task):
    eval_metrics = {"loss": "min"}
    data_config, datasets, model_sizes, predictor = ToyData, DATASETS, ("features",), None

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size, self.steps_per_epoch = x, y, batch_size, len(x) // batch_size

    @classmethod
    def from_config(cls, data, *, trainer, seed, device):
        x, y = DATASETS[data.source](data)
        return cls(x.to(device), y.to(device), trainer.batch_size)

    def model_kwargs(self):
        return {"in_features": self.x.shape[1]}

    def train_batch(self, step):
        start = step % self.steps_per_epoch * self.batch_size
        return self.x[start : start + self.batch_size], self.y[start : start + self.batch_size]

    def loss(self, model, batch):
        return torch.nn.functional.mse_loss(model(batch[0]), batch[1]), {}

    def evaluate(self, model, split):
        with evaluating(model):
            return {"loss": self.loss(model, (self.x, self.y))[0].item()}
"""


def test_a_task_is_one_package_and_one_line(tmp_path, monkeypatch):
    """A toy regression task in a package of its own, named by one line in TASKS, trains a user's model."""
    from landmarks.tasks import TASKS

    (tmp_path / "toy_tasks").mkdir()
    (tmp_path / "toy_tasks" / "__init__.py").write_text("")
    (tmp_path / "toy_tasks" / "regression.py").write_text(TOY_TASK)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(TASKS, "regression", "toy_tasks.regression:Regression")
    (tmp_path / "configs" / "data").mkdir(parents=True)
    (tmp_path / "configs" / "data" / "toy.yaml").write_text("name: toy\ntask: regression\nsource: line\nsize: 64\n")
    overrides = ["model=custom", "model._target_=torch.nn.Linear", "+model.out_features=1", "data=toy"]
    quick = ["trainer.batch_size=16", "trainer.steps=100", "optim.lr=0.1", "trainer.progress=false"]
    cfg = compose_config(f"hydra.searchpath=[file://{tmp_path / 'configs'}]", *overrides, *quick)
    results = run(cfg, tmp_path / "run")
    assert results["step"] == 100 and results["val/loss"] < 0.01  # it learnt y = 3x - 1
