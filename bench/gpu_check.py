"""Everything a GPU changes, verified in one command on whatever GPUs the machine has (docs/scaling.md):

    python bench/gpu_check.py                 # every check, about 10 minutes on one modern GPU
    python bench/gpu_check.py --only speedrun_gpt resume
    python bench/gpu_check.py --dry-run       # the same logic on CPU at toy sizes (tests/test_bench.py runs it)

1. each speedrun with bf16 autocast and torch.compile: time to target, MFU, compile time;
2. a run resumed half-way reproduces the uninterrupted one (GPU kernels are not bitwise deterministic:
   deterministic algorithms stay off, as in training, so the losses must agree to RESUME_RTOL, not exactly);
3. torchrun on 2 GPUs, if there are 2, for one model per task, against 1 GPU (final validation loss to DDP_RTOL);
4. bench/models_vs_reference.py on the GPU: our models against torchvision's and nn.Transformer's speed.

It prints one table and exits non-zero if any check failed.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEEDRUNS = ("resnet", "alexnet", "vit", "seq2seq", "transformer", "gpt")
DDP_MODELS = ("resnet", "transformer", "gpt")  # one per task
RESUME_RTOL, DDP_RTOL = 1e-2, 5e-2
TOY = ["trainer.device=cpu", "trainer.eval_every=2", "trainer.log_every=1", "trainer.num_threads=1"]  # --dry-run


def train(run_dir: Path, *overrides: str, processes: int = 1) -> dict:
    """train.py with `overrides` into `run_dir`; its metrics.json, or {"error": the last line it printed}."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command = [*(launch if processes > 1 else [sys.executable]), str(REPO / "train.py"), *overrides]
    resuming = any(override.startswith("trainer.resume=") for override in overrides)  # it keeps its own run dir
    command += ["trainer.progress=false", *([] if resuming else [f"hydra.run.dir={run_dir}"])]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]}
    return json.loads((run_dir / "metrics.json").read_text())


def speedrun(name: str, folder: Path, toy: list[str]) -> tuple[bool, str]:
    fast = ["trainer.max_steps=4"] if toy else ["trainer.precision=bf16", "trainer.compile=true"]
    metrics = train(folder / name, f"experiment=speedrun_{name}", *fast, *toy)
    if "error" in metrics:
        return False, metrics["error"]
    reached = metrics.get("target_reached") or bool(toy)  # toy runs are too short to reach it
    to_target = f"{metrics['time_to_target_s']:.1f} s to target" if "time_to_target_s" in metrics else "no target"
    return reached, f"{to_target}, MFU {metrics['mfu']:.1%}, compile {metrics.get('compile_s', 0):.1f} s"


def resume(folder: Path, toy: list[str]) -> tuple[bool, str]:
    """Half a run, resumed to the end, against the whole run: the same validation loss at the end."""
    steps = 4 if toy else 40
    length = [f"trainer.steps={steps}", f"trainer.ckpt_every={steps // 2}", *toy]
    whole = train(folder / "whole", "model=gpt", *length)
    half = train(folder / "half", "model=gpt", *length, f"trainer.max_steps={steps // 2}")
    if "error" in whole or "interrupted" in half:
        return False, whole.get("error") or half.get("error")
    resumed = train(folder / "half", f"trainer.resume={folder / 'half'}", f"trainer.max_steps={steps}")
    if "error" in resumed:
        return False, resumed["error"]
    expected, got = whole["val/loss"], resumed["val/loss"]
    return abs(got - expected) <= RESUME_RTOL * abs(expected), f"val loss {got:.4f} resumed, {expected:.4f} whole"


def data_parallel(name: str, folder: Path, toy: list[str]) -> tuple[bool, str]:
    short = ["trainer.max_steps=4" if toy else "trainer.max_steps=100"]
    one = train(folder / f"{name}1", f"model={name}", *short, *toy)
    two = train(folder / f"{name}2", f"model={name}", *short, *toy, processes=2)
    if "error" in one or "error" in two:
        return False, one.get("error") or two.get("error")
    a, b = one["val/loss"], two["val/loss"]
    return abs(a - b) <= DDP_RTOL * abs(a), f"val loss {b:.4f} on 2 processes, {a:.4f} on 1"


def against_references(device: str) -> tuple[bool, str]:
    command = [sys.executable, str(REPO / "bench" / "models_vs_reference.py"), "--device", device]
    command += ["--rounds", "1", "--batch", "2", "resnet18"] if device == "cpu" else []
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    return done.returncode == 0, (lines[-1] if lines else done.stderr.strip().splitlines()[-1])


def checks(dry_run: bool, gpus: int) -> dict:
    """name -> a function of the scratch folder that returns (passed, what it measured)."""
    toy = TOY if dry_run else []
    found = {f"speedrun_{name}": (lambda folder, n=name: speedrun(n, folder, toy)) for name in SPEEDRUNS}
    found["resume"] = lambda folder: resume(folder, toy)
    if gpus >= 2 or dry_run:  # two gloo processes stand in for two GPUs in a dry run
        found |= {f"torchrun_{n}": (lambda folder, n=n: data_parallel(n, folder, toy)) for n in DDP_MODELS}
    found["models_vs_reference"] = lambda folder: against_references("cpu" if dry_run else "cuda")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="the checks' logic on CPU at toy sizes")
    parser.add_argument("--only", nargs="*", default=None, help="a subset of the checks, by name")
    args = parser.parse_args(argv)
    import torch

    gpus = torch.cuda.device_count()
    if not gpus and not args.dry_run:
        print("gpu_check: no CUDA GPU here; run it on a GPU machine, or with --dry-run to check its logic on CPU")
        return 2
    where = "CPU (dry run)" if args.dry_run else f"{gpus} x {torch.cuda.get_device_name(0)}"
    found = checks(args.dry_run, gpus)
    chosen = [name for name in found if args.only is None or name in args.only]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in chosen:
            start = time.perf_counter()
            passed, measured = found[name](Path(scratch) / name)
            rows.append((name, "ok" if passed else "FAILED", f"{time.perf_counter() - start:.0f} s", measured))
    print(f"gpu_check on {where}, torch {torch.__version__}")
    widths = [max(len(row[i]) for row in rows + [("check", "result", "wall", "measured")]) for i in range(4)]
    for row in [("check", "result", "wall", "measured"), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    return 0 if all(row[1] == "ok" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
