"""The typed schema: every bad value a user can type ends in one line naming the key, the value and the fix,
before anything is built; train.py exits with it, without a traceback or a half-made run dir."""

import copy

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from landmarks.config import ConfigError, validate
from landmarks.datasets import TextError
from landmarks.tasks.translation.datasets.tsv import read_tsv
from tests.conftest import cli, compose_config


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["model=transformer", "data=tsv"],
            "data.path is required and has no value; set it on the command line, e.g. data=tsv data.path=",
        ),
        (["trainer.batch_size=0"], "trainer.batch_size=0: expected a number of samples > 0"),
        (["trainer.device=cuda:99"], "trainer.device='cuda:99': expected a device this machine has"),
        (["trainer.epochs=-1"], "trainer.epochs=-1: expected a number of passes > 0"),
        (["trainer.eval_every=-5"], "trainer.eval_every=-5: expected a number of steps >= 0"),
        (["trainer.batch_size=abc"], "trainer.batch_size='abc': expected an integer"),
        (["trainer.steps=1.5"], "trainer.steps=1.5: expected an integer, or null"),
        (["optim.lr=0"], "optim.lr=0: expected a learning rate > 0"),
        (
            ["optim.schedule=linear"],
            "optim.schedule='linear': expected one of constant, cosine, inverse_sqrt, onecycle",
        ),
        (["model.widths=[16,0]"], "model.widths=[16, 0]: expected a list of sizes > 0"),
        (["model=vit", "model.dropout=1.5"], "model.dropout=1.5: expected a probability in [0, 1)"),
        (["model.name=resnet9"], "model.name='resnet9': expected a registered model"),
    ],
)
def test_a_bad_value_names_its_key_and_the_fix(overrides, message):
    with pytest.raises(ConfigError) as error:
        validate(compose_config(*overrides))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_tsv_file_that_is_not_utf8_names_the_file_the_line_and_the_fix(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes("Hello.\tBonjour.\nCoffee.\tCaf\u00e9.\n".encode("latin-1"))
    with pytest.raises(TextError, match=rf"^{path}:2: byte 0xe9 is not UTF-8; convert the file, e.g. `iconv -f latin1"):
        read_tsv(path)


@pytest.mark.parametrize("case", ["zero batch", "latin-1 file"])
def test_train_py_ends_bad_config_with_one_line_and_no_run_dir(tmp_path, case):
    latin = tmp_path / "latin.tsv"
    latin.write_bytes(b"Caf\xe9.\tCaf\xe9.\n")
    overrides = {
        "zero batch": ["trainer.batch_size=0"],
        "latin-1 file": ["model=transformer", "data=tsv", f"data.path={latin}"],
    }[case]
    run_dir = tmp_path / "outputs" / "model" / "run"
    result = cli("train.py", *overrides, f"hydra.run.dir={run_dir}")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("train.py: "), result.stderr
    assert not (tmp_path / "outputs" / "model").exists()  # nor the empty folder it would have sat in


def leaf_keys(cfg, prefix=""):
    for key, value in cfg.items():
        if OmegaConf.is_dict(value):
            yield from leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


BASES = {"resnet": ["model=resnet"], "vit": ["model=vit"], "transformer": ["model=transformer"]}
KEYS = sorted({(base, key) for base, overrides in BASES.items() for key in leaf_keys(compose_config(*overrides))})
SKIP = ("trainer.resume", "data.name", "data.task", "data.source", "data.root", "data.path", "recipe")
VALUES = ["abc", "''", "null", "0", "-1", "-5", "0.5", "1e30", "1000000000000", "[1,2]", "[]", "true", "{a: 1}"]


BASE_CONFIGS = {base: compose_config(*overrides) for base, overrides in BASES.items()}
PARSER = OverridesParser.create()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([k for k in KEYS if not k[1].startswith(SKIP)]), st.sampled_from(VALUES))
def test_any_override_gives_a_valid_config_or_one_line_naming_its_key(base_key, value):
    """Each key of the composed configs set to a wrong type, a negative, zero, huge or empty value, as
    Hydra's override parser reads it from the command line."""
    base, key = base_key
    cfg = copy.deepcopy(BASE_CONFIGS[base])
    OmegaConf.update(cfg, key, PARSER.parse_override(f"{key}={value}").value(), merge=False)
    try:
        validate(cfg)
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message and (key in message or "does not resolve" in message), message
