"""Any model on any data of its task: every (model config, data config) pair composes, builds on small files
in that dataset's real on-disk format, and trains two steps; the data keeps its standard augmentation unless
a tuned recipe changes it, and a run without one says so."""

import itertools
from pathlib import Path

import pytest
import torch
from landmarks.models import model_tasks
from omegaconf import OmegaConf

from landmarks.config import validate
from landmarks.instantiate import instantiate
from tests.conftest import (
    CONFIGS,
    compose_config,
    patch_spec,
    without_evaluation,
    write_cifar10_format,
    write_images,
    write_mnist_format,
    write_tarball,
    write_text,
    write_tsv,
)
from train import run

MODELS = sorted(path.stem for path in (Path(CONFIGS) / "model").glob("*.yaml") if path.stem != "custom")
DATA = sorted(path.stem for path in (Path(CONFIGS) / "data").glob("*.yaml"))


def serves(model: str, data: str) -> bool:
    """Whether model config `model` serves the task of data config `data`."""
    name = OmegaConf.load(f"{CONFIGS}/model/{model}.yaml").model.name
    return OmegaConf.load(f"{CONFIGS}/data/{data}.yaml").task in model_tasks(name)


PAIRS = [(m, d) for m, d in itertools.product(MODELS, DATA) if serves(m, d)]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    """Every dataset of configs/data written once, small, in its real format."""
    root = tmp_path_factory.mktemp("datasets")
    write_mnist_format(root / "fashion_mnist", train=64, test=16)
    write_mnist_format(root / "mnist", train=64, test=16, seed=1)
    write_cifar10_format(root / "cifar10", per_batch=12)
    write_tsv(root / "pairs.tsv", pairs=48)
    write_text(root / "corpus.txt")
    (root / "labelled.tsv").write_text("".join(f"line {i} of a play\t{'AB'[i % 2]}\n" for i in range(40)))
    write_images(root / "image_folder", per_class=8)
    (root / "multi30k").mkdir()
    for filename, split in zip(
        ("training.tar.gz", "validation.tar.gz", "mmt16_task1_test.tar.gz"), ("train", "val", "test")
    ):
        english = "".join(f"A dog number {i} runs.\n" for i in range(24))
        german = "".join(f"Ein Hund Nummer {i} rennt.\n" for i in range(24))
        write_tarball(root / "multi30k" / filename, {f"{split}.en": english, f"{split}.de": german})
    return root


def data_overrides(data: str, root: Path, monkeypatch) -> list[str]:
    if data.endswith("_generation"):  # image generation reads the classification data's files, at 28 px (DCGAN's)
        return [*data_overrides(data.removesuffix("_generation"), root, monkeypatch), "data.image_size=28"]
    if data in ("fashion_mnist", "mnist", "cifar10"):
        patch_spec(monkeypatch, data, root / data)
        return [f"data.root={root / data}", "data.val_size=16"]
    if data == "image_folder":
        return [f"data.path={root / 'image_folder'}", "data.val_size=4", "data.image_size=32"]
    if data == "multi30k":
        patch_spec(monkeypatch, data, root / data, algorithm="sha256")
        return [f"data.root={root / data}", "data.min_freq=1"]
    if data == "text":
        return [f"data.path={root / 'corpus.txt'}", "data.block_size=16", "data.val_windows=8", "data.sample_length=8"]
    if data == "shakespeare_char":
        return ["data.val_fraction=0.01", "data.val_windows=8", "data.sample_length=8"]
    if data in ("text_mlm", "shakespeare_mlm"):
        path = [f"data.path={root / 'corpus.txt'}"] if data == "text_mlm" else []
        return [*path, "data.vocab_size=400", "data.block_size=16", "data.val_sequences=4"]
    if data in ("labelled_text", "shakespeare_speakers"):
        path = [f"data.path={root / 'labelled.tsv'}", "data.val_fraction=0.2"] if data == "labelled_text" else []
        return [*path, "data.vocab_size=400", "data.block_size=16"]
    if data == "tsv":
        return [f"data.path={root / 'pairs.tsv'}", "data.val_size=8", "data.test_size=8", "data.min_freq=1"]
    return ["data.train_size=64", "data.val_size=8", "data.test_size=8"]


@pytest.mark.slow
@pytest.mark.parametrize("model, data", PAIRS, ids=[f"{m}-{d}" for m, d in PAIRS])
def test_every_pair_of_a_task_builds_and_trains_two_steps(model, data, written, monkeypatch, tmp_path, capsys):
    quick = ["trainer.max_steps=2", "trainer.batch_size=8", "trainer.eval_every=0", "trainer.early_stopping=null"]
    quick += ["trainer.log_every=1"]
    cfg = compose_config(f"model={model}", f"data={data}", *quick, "trainer.progress=false")
    standard = OmegaConf.load(f"{CONFIGS}/data/{data}.yaml")
    if cfg.recipe is None and "augment" in standard:
        augment = {key: cfg.data.augment[key] for key in standard.augment}
        assert augment == standard.augment  # the model config left the data's augmentation alone
    cfg = compose_config(
        f"model={model}", f"data={data}", *quick, "trainer.progress=false", *data_overrides(data, written, monkeypatch)
    )
    without_evaluation(monkeypatch, cfg)  # each task's evaluation is tested with its task; here, that a pair trains
    results = run(cfg, tmp_path)
    assert results["step"] == 2 and all(torch.isfinite(torch.tensor(loss)) for _, loss in results["history"])
    opening = capsys.readouterr().out.splitlines()[0]
    expected = f"recipe {cfg.recipe}" if cfg.recipe else f"no tuned recipe for {cfg.model.name} on {cfg.data.name}"
    assert opening.startswith(expected), opening


def test_vit_patch_comes_from_the_data_unless_a_recipe_fixes_it():
    def built(cfg):
        run = validate(cfg)
        return instantiate({**run.model, "num_classes": 10, "in_chans": run.data.in_chans}, trust_code=False)

    cifar = compose_config("model=vit", "data=cifar10")
    assert cifar.recipe is None and built(cifar).patch_size == 4  # 8x8 patches of 32 px
    assert cifar.model.image_size == 32 and cifar.data.in_chans == 3 and cifar.data.augment.crop_padding == 4
    fashion = compose_config("model=vit")
    assert fashion.recipe == "vit_fashion_mnist" and built(fashion).patch_size == 7


def test_a_step_budget_sets_the_schedule_whatever_the_epochs(tiny_fashion_mnist, tmp_path):
    from landmarks.engine.loop import run_length

    cfg = compose_config(
        f"data.root={tiny_fashion_mnist}", "data.val_size=128", "trainer.steps=7", "trainer.epochs=100"
    )

    class Task:
        steps_per_epoch = 3

    assert run_length(cfg.trainer, Task())[:2] == (7, 7)
    cfg.trainer.max_steps = 5
    assert run_length(cfg.trainer, Task())[:2] == (7, 5)
    cfg.trainer.steps = None
    assert run_length(cfg.trainer, Task())[:2] == (300, 5)
