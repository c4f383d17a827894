"""A shared run dir cannot make Python import a module of its choosing: a run whose model is a class of its own
(model._target_) loads only when the user says trust_code, from every door (load_run, eval.py, trainer.resume,
model.init_from); registered models load as before. The payload below must not run unless trusted."""

import sys

import pytest
import torch
from omegaconf import OmegaConf

from eval import evaluate
from landmarks import load_run
from landmarks.engine.checkpoint import CheckpointError, load_checkpoint
from landmarks.export import read_pretrained
from landmarks.instantiate import UntrustedCode
from tests.conftest import compose_config, tiny_run_overrides
from train import run

PAYLOAD = """
import pathlib

import torch
from omegaconf import OmegaConf

pathlib.Path(__file__).with_name("payload_ran").write_text("imported")


class Net(torch.nn.Module):
    def __init__(self, *, num_classes: int, in_chans: int):
        super().__init__()
        self.head = torch.nn.Linear(in_chans, num_classes)

    def forward(self, x):
        return self.head(x.mean(dim=(2, 3)))
"""


@pytest.fixture
def run_with_payload(tiny_fashion_mnist, tmp_path, monkeypatch):
    """A run dir of model._target_=payload.Net, the payload module beside it, the working directory there and on
    Python's path (as `cd <run>; python -c ...` has it), and no payload imported yet."""
    source, run_dir = tmp_path / "src", tmp_path / "run"
    source.mkdir()
    (source / "payload.py").write_text(PAYLOAD)
    monkeypatch.syspath_prepend(str(source))
    overrides = tiny_run_overrides(tiny_fashion_mnist, "model=custom", "model._target_=payload.Net")
    run(compose_config(*overrides, "trainer.max_steps=2", "trainer.eval_every=0", "data.test_size=64"), run_dir)
    sys.path.remove(str(source))
    del sys.modules["payload"]
    (source / "payload_ran").unlink()
    (run_dir / "payload.py").write_text(PAYLOAD)
    monkeypatch.chdir(run_dir)
    monkeypatch.syspath_prepend("")
    yield run_dir
    sys.modules.pop("payload", None)  # the next test imports its own


def test_a_run_naming_a_class_of_its_own_is_refused_until_trusted_and_the_payload_does_not_run(run_with_payload):
    run_dir = run_with_payload
    for door in (
        lambda: load_run(run_dir),
        lambda: load_run(run_dir, weights="last"),  # model.pt's description, not model.json's
        lambda: evaluate(str(run_dir)),
    ):
        with pytest.raises(UntrustedCode, match=r"names model._target_=payload.Net, a class of its own, .* trust_code"):
            door()
    with pytest.raises(CheckpointError, match=r"^model.init_from=.*names model._target_=payload.Net.*trust_code"):
        read_pretrained(run_dir)
    state = load_checkpoint(run_dir)
    with pytest.raises(UntrustedCode, match=r"checkpoint.pt names model._target_=payload.Net"):
        run(OmegaConf.create(state["config"]), run_dir, state)  # trainer.resume without trust
    assert not (run_dir / "payload_ran").exists() and "payload" not in sys.modules

    trusted = load_run(run_dir, trust_code=True)
    assert type(trusted.model).__name__ == "Net" and (run_dir / "payload_ran").exists()
    assert trusted.model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_train_py_takes_trust_code_from_its_own_command_line_only(run_with_payload):

    state = load_checkpoint(run_with_payload)
    saved = OmegaConf.create({**state["config"], "trust_code": True})  # a run dir cannot vouch for itself
    with pytest.raises(UntrustedCode):
        run(saved, run_with_payload, state)
    resumed = run(saved, run_with_payload, {**state}, trust_code=True)
    assert resumed["step"] == 2
