"""bench/gpu_check.py, the one command that verifies a GPU machine, as a dry run of its own logic: every command
it would run is a valid config (composed and validated here, no training), each check passes or fails on what
it measures, and any failure makes the exit code non-zero; and bench/records.py's side-by-side with an old commit."""

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

from landmarks.config import validate
from tests.conftest import CONFIGS, compose_config

BENCH = Path(CONFIGS).parent / "bench"
sys.path.append(str(BENCH))  # as when run from bench/: the scripts import bench/common.py


def bench_module(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_check, gpu_wheels, records = bench_module("gpu_check"), bench_module("gpu_wheels"), bench_module("records")


def validating_train(commands: list):
    """Stands in for train.py: checks that the overrides compose and validate, and measures the same each time."""

    def train(run_dir, *overrides, processes=1, timeout=600):
        if not any(override.startswith("trainer.resume=") for override in overrides):
            validate(compose_config(*overrides))
        commands.append((overrides, processes))
        return {"val/loss": 2.0, "mfu": 0.4, "target_reached": True, "time_to_target_s": 9.0, "compile_s": 1.0} | {
            "samples_per_s": 100.0,
            "peak_flops": "989e12 (H100 datasheet, bf16)",
        }

    return train


def test_every_check_runs_valid_commands_and_the_table_says_ok(monkeypatch, capsys, tmp_path):
    commands = []
    monkeypatch.setattr(gpu_check, "train", validating_train(commands))
    monkeypatch.setattr(gpu_check, "against_references", lambda device, timeout: (True, f"on {device}"))
    monkeypatch.setattr(gpu_check, "sync_audit", lambda toy: (True, "no syncs"))
    found = gpu_check.checks(dry_run=False, gpus=2)  # what a 2-GPU machine runs
    assert list(found)[:3] == ["sync_audit", "resume", "gpt2_124m"]  # the most telling first: a short slot ends
    assert {"speedrun_ddpm", "speedrun_ddpm_eager", "torchrun_transformer", "models_vs_reference"} <= set(found)
    assert all(found[name](tmp_path, 60)[0] for name in found)
    speedruns = [set(overrides) for overrides, _ in commands if overrides[0].startswith("experiment=speedrun_")]
    compiled = [o for o in speedruns if "trainer.compile=true" in o]
    assert len(compiled) == len(speedruns) - len(compiled) == 9 and all(
        "trainer.precision=bf16" in o for o in speedruns
    )
    gpt2 = next(set(overrides) for overrides, _ in commands if "model.name=gpt2" in overrides)
    assert {"data.block_size=1024", "trainer.max_steps=50", "trainer.compile=true"} <= gpt2
    assert sorted(processes for _, processes in commands if processes > 1) == [2, 2, 2]
    assert gpu_check.main(["--dry-run", "--only", "speedrun_gpt", "resume", "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("gpu_check on CPU (dry run)") and [row.split()[:2] for row in table[2:]] == [
        ["resume", "ok"],
        ["speedrun_gpt", "ok"],
    ]
    saved = json.loads((tmp_path / "gpu_check.json").read_text())  # rewritten after each row: a killed run reports
    assert [row["check"] for row in saved["rows"]] == ["resume", "speedrun_gpt"]


def test_a_failing_check_fails_the_command_and_a_spent_budget_skips_the_rest(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(gpu_check, "train", lambda run_dir, *overrides, **kwargs: {"error": "CUDA out of memory"})
    assert gpu_check.main(["--dry-run", "--only", "resume", "gpt2_124m", "--budget", "5", "--out", str(tmp_path)]) == 0
    assert [row.split()[:2] for row in capsys.readouterr().out.splitlines()[2:]] == [
        ["resume", "skipped"],
        ["gpt2_124m", "skipped"],
    ]
    assert gpu_check.main(["--dry-run", "--only", "resume", "--out", str(tmp_path)]) == 1
    assert "resume                    FAILED" in capsys.readouterr().out


def test_a_command_past_its_timeout_is_killed_with_every_process_it_started(tmp_path):
    """A shell that starts a sleeping child stands in for torchrun and its workers: both end at the timeout."""
    started = time.perf_counter()
    script = f"sleep 30 & echo $! > {tmp_path / 'child'}; wait"
    assert gpu_check.within(["bash", "-c", script], timeout=1) is None and time.perf_counter() - started < 10
    child = int((tmp_path / "child").read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_resumed_losses_that_differ_beyond_the_tolerance_fail(monkeypatch):
    losses = iter([2.0, 2.0, 2.5])  # whole, half, resumed

    def train(run_dir, *overrides, processes=1, timeout=600):
        return {"val/loss": next(losses)}

    monkeypatch.setattr(gpu_check, "train", train)
    assert gpu_check.resume(Path("unused"), gpu_check.TOY, 60) == (False, "val loss 2.5000 resumed, 2.0000 whole")


def test_the_sync_audit_fails_on_a_sync_it_does_not_know(monkeypatch):
    syncs = {"experiment=speedrun_seq2seq": 2}  # RNNsearch's lengths: known, and said
    monkeypatch.setattr(gpu_check, "count_syncs", lambda experiment, *rest: syncs.get(experiment, 0))
    passed, measured = gpu_check.sync_audit([])
    assert passed and "seq2seq 2" in measured and "resnet 0" in measured
    syncs["experiment=speedrun_gpt"] = 1
    assert gpu_check.sync_audit([])[0] is False


def test_the_wheels_for_a_gpu_machine_are_this_projects_needs_less_pytorchs():
    """bench/gpu_wheels.py's list, read from the installed project's metadata (no download here)."""
    needed = gpu_wheels.closure("3.12")
    assert {"hydra_core", "omegaconf", "antlr4_python3_runtime", "tensorboard", "sacrebleu"} <= set(needed)
    assert not {"torch", "torchvision", "numpy", "pillow"} & set(needed)
    assert "importlib_resources" not in needed  # omegaconf's backport for Python < 3.9: markers are evaluated


def test_an_old_commit_runs_its_own_code_not_the_installed_package(tmp_path):
    records.checkout("HEAD", tmp_path)
    where = "import importlib.util; print(importlib.util.find_spec('landmarks.models').origin)"
    found = subprocess.run([sys.executable, "-c", where], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()).resolve() == (tmp_path / "models" / "__init__.py").resolve()


def test_side_by_side_records_the_old_commit_then_the_new_and_says_the_ratio(monkeypatch, tmp_path, capsys):
    ran = []

    def speedrun(experiment, repo=records.REPO):
        ran.append(repo)
        new = repo == records.REPO
        return {"seconds": 10.0 if new else 20.0, "steps": 300 if new else 500, "wall": 15.0 if new else 25.0}

    (tmp_path / "configs" / "experiment").mkdir(parents=True)
    (tmp_path / "configs" / "experiment" / "speedrun_gpt.yaml").touch()  # the old commit has GPT's speedrun only
    monkeypatch.setattr(records, "checkout", lambda rev, into: tmp_path)
    monkeypatch.setattr(records, "speedrun", speedrun)
    monkeypatch.setattr(records, "machine", lambda: "a CPU")
    monkeypatch.setattr(records, "matmul_gflops", lambda: 100.0)
    monkeypatch.setattr(records, "RECORDS", tmp_path / "records.json")
    records.main(["speedrun_gpt", "speedrun_dcgan"], record=True, against="HEAD")
    assert ran == [tmp_path, records.REPO, records.REPO]  # alternating: the old first, then the new first
    gpt, dcgan = capsys.readouterr().out.splitlines()[1:]
    assert "10.0 s,   300 steps,   15.0 s whole | nothing to compare with the record | 0.50x the old" in gpt
    assert "old:   20.0 s,   500 steps,   25.0 s whole" in gpt and "old: no such speedrun" in dcgan
    kept = json.loads((tmp_path / "records.json").read_text())
    assert [(entry["experiment"], entry["seconds"], entry["steps"]) for entry in kept] == [
        ("speedrun_gpt", 20.0, 500),
        ("speedrun_gpt", 10.0, 300),
        ("speedrun_dcgan", 10.0, 300),
    ]
