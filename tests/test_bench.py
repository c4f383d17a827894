"""bench/gpu_check.py, the one command that verifies a GPU machine, as a dry run of its own logic: every command
it would run is a valid config (composed and validated here, no training), each check passes or fails on what
it measures, and any failure makes the exit code non-zero."""

import importlib.util
from pathlib import Path

from landmarks.config import validate
from tests.conftest import CONFIGS, compose_config

SPEC = importlib.util.spec_from_file_location("gpu_check", Path(CONFIGS).parent / "bench" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(gpu_check)


def validating_train(commands: list):
    """Stands in for train.py: checks that the overrides compose and validate, and measures the same each time."""

    def train(run_dir, *overrides, processes=1):
        if not any(override.startswith("trainer.resume=") for override in overrides):
            validate(compose_config(*overrides))
        commands.append((overrides, processes))
        return {"val/loss": 2.0, "mfu": 0.4, "target_reached": True, "time_to_target_s": 9.0, "compile_s": 1.0}

    return train


def test_every_check_runs_valid_commands_and_the_table_says_ok(monkeypatch, capsys):
    commands = []
    monkeypatch.setattr(gpu_check, "train", validating_train(commands))
    monkeypatch.setattr(gpu_check, "against_references", lambda device: (True, f"on {device}"))
    found = gpu_check.checks(dry_run=False, gpus=2)  # what a 2-GPU machine runs
    assert set(found) >= {"speedrun_gpt", "resume", "torchrun_transformer", "models_vs_reference"}
    assert all(found[name](Path("unused"))[0] for name in found)
    speedruns = [overrides for overrides, _ in commands if overrides[0].startswith("experiment=speedrun_")]
    assert len(speedruns) == 6 and all({"trainer.precision=bf16", "trainer.compile=true"} <= set(o) for o in speedruns)
    assert sorted(processes for _, processes in commands if processes > 1) == [2, 2, 2]
    assert gpu_check.main(["--dry-run", "--only", "speedrun_gpt", "resume"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("gpu_check on CPU (dry run)") and [row.split()[:2] for row in table[2:]] == [
        ["speedrun_gpt", "ok"],
        ["resume", "ok"],
    ]


def test_a_failing_check_fails_the_command(monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "train", lambda run_dir, *overrides, processes=1: {"error": "CUDA out of memory"})
    assert gpu_check.main(["--dry-run", "--only", "resume"]) == 1
    assert "resume  FAILED" in capsys.readouterr().out


def test_resumed_losses_that_differ_beyond_the_tolerance_fail(monkeypatch):
    losses = iter([2.0, 2.0, 2.5])  # whole, half, resumed

    def train(run_dir, *overrides, processes=1):
        return {"val/loss": next(losses)}

    monkeypatch.setattr(gpu_check, "train", train)
    assert gpu_check.resume(Path("unused"), gpu_check.TOY) == (False, "val loss 2.5000 resumed, 2.0000 whole")
