"""Every config file composes, and bad choices fail before training with a message naming the fix."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException
from landmarks.models import model_tasks
from omegaconf import OmegaConf

from landmarks.build import build_task, model_kwargs
from landmarks.config import validate
from landmarks.schema import ConfigError
from tests.conftest import CONFIGS, cli, compose_config


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (Path(CONFIGS) / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["model", "data", "optim", "experiment"])
def test_every_config_composes(group):
    model_for = {
        "translation": ["model=transformer"],
        "language_modeling": ["model=gpt"],
        "image_generation": ["model=ddpm"],
    }
    model_for["masked_language_modeling"] = model_for["text_classification"] = ["model=bert"]
    for option in options(group):
        task = OmegaConf.load(Path(CONFIGS) / "data" / f"{option}.yaml").task if group == "data" else None
        custom = ["model._target_=torch.nn.Identity"] if option == "custom" else []
        cfg = compose_config(f"{group}={option}", *model_for.get(task, []), *custom)
        OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
        assert custom or cfg.data.task in model_tasks(cfg.model.name)
        if not ("path" in cfg.data.keys() and OmegaConf.is_missing(cfg.data, "path")):  # tsv, text, image_folder
            assert validate(cfg).trainer.batch_size > 0  # a good config is accepted by the schema


@pytest.mark.parametrize(
    "overrides, name",
    [
        (["model=bert"], "bert_tiny-shakespeare_mlm"),
        (["experiment=bert_finetune"], "bert_tiny-shakespeare_speakers-bert_finetune"),
        (
            ["experiment=bert_finetune", "model.init_from=/runs/mlm"],
            "bert_tiny-shakespeare_speakers-bert_finetune-pretrained",
        ),
        (["data=image_folder", "data.path=/images"], "resnet8_speedrun-image_folder"),
    ],
)
def test_run_dirs_are_named_by_model_data_experiment_and_start(overrides, name):
    """outputs/<name>/<time>: runs that TensorBoard lists side by side can be told apart (configs/train.yaml)."""
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # as Hydra does before it resolves the run dir
    try:
        assert Path(cfg.hydra.run.dir).parent == Path("outputs") / name
    finally:
        HydraConfig.instance().cfg = None  # the other tests in this process run outside Hydra's app


def test_a_model_on_data_of_another_task_names_both():
    cfg = compose_config("model=transformer", "data=fashion_mnist")
    with pytest.raises(
        ValueError,
        match=r"model.name=transformer_tiny is a translation model but data=fashion_mnist is image_classification data",
    ):
        build_task(cfg, "cpu")


def test_a_size_the_data_sets_is_refused_from_the_command_line_not_overridden_silently():
    run = validate(compose_config("model=gpt", "+model.vocab_size=500"))
    task = build_task(run, "cpu")
    with pytest.raises(ValueError, match=r"^model.vocab_size=500: a language_modeling run sets vocab_size=65 from its"):
        model_kwargs(run, task)
    assert model_kwargs(validate(compose_config("model=gpt", "+model.vocab_size=65")), task)["vocab_size"] == 65


def test_unknown_config_option_lists_the_choices():
    with pytest.raises(
        ConfigCompositionException, match="(?s)Could not find 'model/vgg'.*Available options in 'model'.*resnet20"
    ):
        compose_config("model=vgg")


def test_unknown_config_key_is_rejected():
    with pytest.raises(ConfigCompositionException, match="trainer.epoch"):
        compose_config("trainer.epoch=3")


def test_unknown_dataset_names_the_choices():
    cfg = compose_config("data.source=imagenet")
    with pytest.raises(
        ValueError, match=r"data.source='imagenet': expected one of cifar10, fashion_mnist, image_folder, mnist$"
    ):
        build_task(cfg, "cpu")


def test_missing_dataset_names_the_command_that_fetches_it(tmp_path):
    cfg = compose_config("data=cifar10", f"data.root={tmp_path}")
    with pytest.raises(
        RuntimeError, match=rf"not found. Fetch it with `python -m landmarks.download cifar10 --root {tmp_path}`"
    ):
        build_task(cfg, "cpu")


def test_train_py_ends_bad_input_with_one_line_naming_the_fix(tmp_path):
    result = cli("train.py", "model=seq2seq", "data=fashion_mnist", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "train.py: model.name=seq2seq_tiny is a translation model but "
        "data=fashion_mnist is "
        "image_classification data; pick data "
        "of the model's task, or a model of the data's "
        "(python -c 'from landmarks.models import list_models; print(list_models(\"image_classification\"))')"
    )
    assert not (tmp_path / "checkpoint.pt").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("model=vgg", "train.py: In 'train': Could not find 'model/vgg'; Available options in 'model': airbench, "),
        ("model=resnt", "train.py: In 'train': Could not find 'model/resnt'; Available options in 'model': airbench, "),
        ("trainer.max_step=3", "train.py: trainer.max_step is not a key of the config; did you mean trainer.max_steps"),
        ("optim.lrr=0.1", "train.py: optim.lrr is not a key of the config; did you mean optim.lr"),
    ],
)
def test_hydras_composition_errors_end_in_one_line_with_the_closest_choices(override, message):
    """Hydra's own message is a paragraph with a stack-trace hint, and to a misspelt key it suggests appending
    it: train.py composes first and says it in one line, with the closest existing keys or options."""
    result = cli("train.py", override)
    assert result.returncode == 1 and result.stderr.startswith(message) and result.stderr.count("\n") == 1
    assert "To append" not in result.stderr
    assert ("resnet20, seq2seq" in result.stderr) == override.startswith("model=")
    assert result.stderr.rstrip().endswith("did you mean resnet or resnet20?") == (override == "model=resnt")


def test_a_misspelt_key_appended_with_a_plus_gets_the_closest_key():
    with pytest.raises(ConfigError, match=r"^trainer.max_step is not a key of trainer; did you mean trainer.max_steps"):
        validate(compose_config("+trainer.max_step=10"))
