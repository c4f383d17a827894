"""Faults survived: signals, SIGKILL, a non-finite loss, a crash while writing a checkpoint, bad checkpoint files."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import landmarks.engine.loop
from landmarks.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from landmarks.engine.parts import NonFiniteLossError, StopOnSignal
from landmarks.tasks.base import unwrap
from landmarks.tasks.image_classification.task import ImageClassification
from tests.conftest import REPO, cli, compose_config, not_counted, tiny_run_overrides
from train import resumed_config, run

QUICK = ["trainer.batch_size=16", "data.val_size=100", "data.test_size=100", "trainer.progress=false"]


def start_and_wait_for_a_checkpoint(run_dir: Path, *overrides: str) -> subprocess.Popen:
    """train.py in a child process, returned once its first periodic checkpoint exists: training is under way."""
    command = [sys.executable, "train.py", *QUICK, "trainer.ckpt_every=5", f"hydra.run.dir={run_dir}", *overrides]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoint.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.1)
    return process


def test_ctrl_c_asks_the_loop_to_stop_and_a_second_one_interrupts():
    """SIGINT and SIGTERM share one handler (the run below sends SIGTERM, as torchrun and schedulers do)."""
    with StopOnSignal() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.slow
def test_a_signal_saves_a_resumable_checkpoint_and_exits_cleanly(tmp_path, sig=signal.SIGTERM):
    process = start_and_wait_for_a_checkpoint(tmp_path, "trainer.max_steps=100000")
    process.send_signal(sig)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    step = load_checkpoint(tmp_path)["step"]
    assert 5 <= step < 100000
    assert f"{sig.name}: stopped at step {step}; resume with trainer.resume={tmp_path}" in output
    more = f"trainer.max_steps={step + 2}"  # the checkpoint the signal wrote resumes and trains on
    cfg, run_dir, state = resumed_config(compose_config(f"trainer.resume={tmp_path}", more), [more])
    assert run(cfg, run_dir, state)["step"] == step + 2 and load_checkpoint(tmp_path)["step"] == step + 2


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint_and_finishes(tmp_path):
    process = start_and_wait_for_a_checkpoint(tmp_path, "trainer.max_steps=100000")
    process.kill()  # SIGKILL: no handler runs, only what is on disk survives
    process.communicate(timeout=60)
    step = load_checkpoint(tmp_path)["step"]
    assert step % 5 == 0 and not (tmp_path / "metrics.json").exists()
    resumed = cli("train.py", f"trainer.resume={tmp_path}", f"trainer.max_steps={step + 3}", "trainer.progress=false")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {tmp_path / 'checkpoint.pt'} at step {step}" in resumed.stdout
    assert json.loads((tmp_path / "metrics.json").read_text())["step"] == step + 3 == load_checkpoint(tmp_path)["step"]


def test_non_finite_loss_stops_and_names_the_last_checkpoint(tiny_fashion_mnist, tmp_path, monkeypatch):
    real_loss = ImageClassification.loss
    calls = []

    def loss_turning_nan(self, model, batch):
        calls.append(1)
        loss, metrics = real_loss(self, model, batch)
        nan = len(calls) > 6  # steps 7 on are NaN
        return (loss * float("nan") if nan else loss), metrics

    monkeypatch.setattr(ImageClassification, "loss", loss_turning_nan)
    monkeypatch.setattr(landmarks.engine.loop, "measure_efficiency", not_counted)
    cfg = compose_config(*tiny_run_overrides(tiny_fashion_mnist))
    with pytest.raises(
        NonFiniteLossError, match=rf"loss is nan at step 8; the last good checkpoint is {tmp_path / 'run'}"
    ):
        run(cfg, tmp_path / "run")
    assert load_checkpoint(tmp_path / "run")["step"] == 4


def test_checkpoints_are_atomic_and_unwrapped(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    model = torch.nn.Linear(3, 3)
    assert set(unwrap(torch.compile(model)).state_dict()) == {"weight", "bias"}
    save_checkpoint(path, {"model": model.state_dict()})

    def crash_midway(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"model": {}})
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    assert "weight" in torch.load(path)["model"]  # the previous checkpoint is intact


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        load_checkpoint(tmp_path)
    truncated = tmp_path / "truncated.pt"
    torch.save({"model": torch.zeros(1000)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save(torch.zeros(3), foreign)
    with pytest.raises(CheckpointError, match=r"not a Landmarks checkpoint: it lacks \['model'"):
        load_checkpoint(foreign)


class Payload:
    """What a malicious run dir could hold: unpickling it with weights_only=False would create `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_file_with_a_pickle_payload_is_refused_at_every_door_and_never_runs(tiny_fashion_mnist, tmp_path):
    """load_run, eval.py and trainer.resume read run dirs that others send: they load tensors and plain values."""
    from landmarks import load_run

    run_dir, marker = tmp_path / "run", tmp_path / "payload_ran"
    run(compose_config(*tiny_run_overrides(tiny_fashion_mnist, "trainer.max_steps=2")), run_dir)
    (run_dir / "model.json").unlink()  # as in a run stopped before its end: load_run reads the checkpoint
    for name in ("checkpoint.pt", "model.pt"):
        state = torch.load(run_dir / name, weights_only=True)
        torch.save({**state, "model" if name == "checkpoint.pt" else "task": Payload(marker)}, run_dir / name)
    refusal = "holds objects other than tensors and plain values, which could run code when loaded; it was not loaded"
    with pytest.raises(CheckpointError, match=refusal):
        load_run(run_dir)
    with pytest.raises(CheckpointError, match=refusal):
        resumed_config(compose_config(f"trainer.resume={run_dir}"), [])  # train.py trainer.resume=<run dir>
    done = cli("eval.py", f"run={run_dir}")
    assert done.returncode == 1 and refusal in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not marker.exists()
    torch.load(run_dir / "model.pt", weights_only=False)  # the control: the payload runs where pickle is trusted
    assert marker.exists()
