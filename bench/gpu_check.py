"""Everything a GPU changes, verified in one command that fits a short slot on a GPU machine (docs/scaling.md):

    python bench/gpu_wheels.py --python 3.12          # where pip works: the wheels the GPU machine lacks, in .wheels/
    python bench/gpu_check.py --wheels .wheels        # on the GPU machine, offline: install them, then every check
    python bench/gpu_check.py --only sync_audit resume
    python bench/gpu_check.py --dry-run               # the same code on CPU at toy sizes, in under 2 minutes

The checks, most telling first, each within its own timeout and all within --budget seconds (8 minutes; what
would start later is reported as skipped):
1. sync_audit: three training steps of each speedrun's task under torch.cuda.set_sync_debug_mode("warn"), the
   host syncs counted (none expected, but RNNsearch's sentence lengths, which cuDNN takes on the CPU);
2. resume: a run resumed half-way against the uninterrupted one (GPU kernels are not bitwise deterministic and
   deterministic algorithms stay off, as in training: the losses must agree to RESUME_RTOL);
3. gpt2_124m: GPT-2 124M at context 1024 on tiny Shakespeare for 50 compiled bf16 steps: tokens/s and MFU
   against the datasheet;
4. speedrun_<name>: each speedrun with bf16 and torch.compile (time to target, MFU, compile time), then
   speedrun_<name>_eager without compile;
5. torchrun_<model>: 2 GPUs, where there are 2, against 1 (final validation loss within DDP_RTOL);
6. models_vs_reference: our models against torchvision's and nn.Transformer's speed, at REFERENCE_BAR at least.

Each row is printed as it finishes and gpu_check.json rewritten in --out, beside every check's run dirs, so that
a run killed at its slot's end still reports what it did. Exit status: 0 if every check that ran passed.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from subprocess import PIPE

REPO = Path(__file__).resolve().parents[1]
SPEEDRUNS = ("resnet", "alexnet", "vit", "seq2seq", "transformer", "gpt", "bert", "dcgan", "ddpm")
DDP_MODELS = ("resnet", "transformer", "gpt")  # one per task
KNOWN_SYNCS = {"seq2seq": "pack_padded_sequence takes the sentence lengths on the CPU (docs/scaling.md)"}
RESUME_RTOL, DDP_RTOL, REFERENCE_BAR = 1e-2, 5e-2, 0.97
TIMEOUT_S = {"sync_audit": 150, "resume": 150, "gpt2_124m": 150, "speedrun": 120, "torchrun": 120, "models": 180}
TOY = ["trainer.device=cpu", "trainer.eval_every=2", "trainer.log_every=1", "trainer.num_threads=1"]  # --dry-run


def train(run_dir: Path, *overrides: str, processes: int = 1, timeout: float = 600) -> dict:
    """train.py with `overrides` into `run_dir`; its metrics.json, or {"error": the last line it printed}."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command = [*(launch if processes > 1 else [sys.executable]), str(REPO / "train.py"), *overrides]
    resuming = any(override.startswith("trainer.resume=") for override in overrides)  # it keeps its own run dir
    command += ["trainer.progress=false", *([] if resuming else [f"hydra.run.dir={run_dir}"])]
    done = within(command, timeout)
    if done is None:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]}
    return json.loads((run_dir / "metrics.json").read_text())


def within(command: list[str], timeout: float) -> subprocess.CompletedProcess | None:
    """`command` run from the repository, its output kept; None if it ran past `timeout` seconds, when it and every
    process it started (torchrun's workers, which would hold the GPU) are killed."""
    process = subprocess.Popen(command, cwd=REPO, stdout=PIPE, stderr=PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def speedrun(name: str, folder: Path, toy: list[str], compiled: bool, timeout: float) -> tuple[bool, str]:
    fast = ["trainer.max_steps=2"] if toy else ["trainer.precision=bf16", *(["trainer.compile=true"] * compiled)]
    metrics = train(folder, f"experiment=speedrun_{name}", *fast, *toy, timeout=timeout)
    if "error" in metrics:
        return False, metrics["error"]
    reached = metrics.get("target_reached") or bool(toy)  # toy runs are too short to reach it
    to_target = f"{metrics['time_to_target_s']:.1f} s to target" if "time_to_target_s" in metrics else "target missed"
    return reached, f"{to_target}, MFU {metrics['mfu']:.1%}, compile {metrics.get('compile_s', 0):.1f} s"


def resume(folder: Path, toy: list[str], timeout: float) -> tuple[bool, str]:
    """Half a run, resumed to the end, against the whole run: the same validation loss at the end."""
    steps = 4 if toy else 40
    length = [f"trainer.steps={steps}", f"trainer.ckpt_every={steps // 2}", *toy]
    whole = train(folder / "whole", "model=gpt", *length, timeout=timeout / 3)
    half = train(folder / "half", "model=gpt", *length, f"trainer.max_steps={steps // 2}", timeout=timeout / 3)
    if "error" in whole or "error" in half:
        return False, whole.get("error") or half.get("error")
    resumed = train(
        folder / "half", f"trainer.resume={folder / 'half'}", f"trainer.max_steps={steps}", timeout=timeout / 3
    )
    if "error" in resumed:
        return False, resumed["error"]
    expected, got = whole["val/loss"], resumed["val/loss"]
    return abs(got - expected) <= RESUME_RTOL * abs(expected), f"val loss {got:.4f} resumed, {expected:.4f} whole"


def gpt2_124m(folder: Path, toy: list[str], timeout: float) -> tuple[bool, str]:
    """GPT-2 small as a GPU trains it: tokens/s and MFU over 50 steps (toy: gpt_tiny at 64 tokens, 2 steps)."""
    size = ["model.name=gpt_tiny", "data.block_size=64", "trainer.max_steps=2"] if toy else [
        "model.name=gpt2", "data.block_size=1024", "trainer.max_steps=50", "trainer.batch_size=16",
        "trainer.precision=bf16", "trainer.compile=true",
    ]  # fmt: skip
    quiet = ["trainer.eval_every=0", "data.val_windows=16", "data.sample_length=8", "~recipe"]
    metrics = train(folder, "model=gpt", *size, *quiet, *toy, timeout=timeout)
    if "error" in metrics:
        return False, metrics["error"]
    tokens = metrics["samples_per_s"] * (64 if toy else 1024)
    return True, f"{tokens:,.0f} tokens/s, MFU {metrics['mfu']:.1%} of {metrics['peak_flops']}"


def sync_audit(toy: list[str]) -> tuple[bool, str]:
    """Host syncs in three training steps of each speedrun's model and data, as the loop takes them (after one
    warm-up step, which draws the epoch's order); on CPU (a dry run) the same code counts none."""
    import torch

    counts = {name: count_syncs(f"experiment=speedrun_{name}", *(toy and ["trainer.device=cpu"])) for name in SPEEDRUNS}
    unexpected = {name: n for name, n in counts.items() if n and name not in KNOWN_SYNCS}
    where = "" if torch.cuda.is_available() and not toy else " (CPU: CUDA's sync debug mode is off)"
    return not unexpected, ", ".join(f"{name} {n}" for name, n in counts.items()) + f" syncs in 3 steps{where}"


def count_syncs(*overrides: str) -> int:
    import torch

    from landmarks.build import build_model, build_task
    from landmarks.config import validate
    from landmarks.engine.device import autocast_context, configure, pick_device
    from landmarks.engine.loop import train_step
    from landmarks.engine.phases import build_phases, schedule
    from landmarks.launch import compose_run

    run = validate(compose_run(list(overrides)))
    device = pick_device(run.trainer.device)
    configure(device, run.trainer.precision)
    task = build_task(run, device)
    model = build_model(run, task, device)
    phases = schedule(build_phases(run.optim, model, device), run.optim, 100)
    autocast = autocast_context(device, run.trainer.precision)
    train_step(task, model, task.local_batch(0, 0, 1), phases, run.trainer, autocast)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("warn")
        try:
            for step in range(1, 4):
                train_step(task, model, task.local_batch(step, 0, 1), phases, run.trainer, autocast)
        finally:
            if device.type == "cuda":
                torch.cuda.set_sync_debug_mode(0)
    return sum("synchroniz" in str(warning.message) for warning in caught)


def data_parallel(name: str, folder: Path, toy: list[str], timeout: float) -> tuple[bool, str]:
    short = ["trainer.max_steps=4" if toy else "trainer.max_steps=100"]
    one = train(folder / "one", f"model={name}", *short, *toy, timeout=timeout / 2)
    two = train(folder / "two", f"model={name}", *short, *toy, processes=2, timeout=timeout / 2)
    if "error" in one or "error" in two:
        return False, one.get("error") or two.get("error")
    a, b = one["val/loss"], two["val/loss"]
    return abs(a - b) <= DDP_RTOL * abs(a), f"val loss {b:.4f} on 2 processes, {a:.4f} on 1"


def against_references(device: str, timeout: float) -> tuple[bool, str]:
    """bench/models_vs_reference.py, which exits non-zero below its bar (not enforced at the dry run's toy sizes)."""
    command = [sys.executable, str(REPO / "bench" / "models_vs_reference.py"), "--device", device]
    command += ["--rounds", "1", "--batch", "2", "--bar", "0", "resnet18"] if device == "cpu" else []
    done = within(command, timeout)
    if done is None:
        return False, f"timed out after {timeout:.0f} s"
    lines = done.stdout.strip().splitlines()
    return done.returncode == 0, (lines[-1] if lines else done.stderr.strip().splitlines()[-1])


def checks(dry_run: bool, gpus: int) -> dict:
    """name -> a function of (its scratch folder, its timeout in s) that returns (passed, what it measured). A dry
    run takes one speedrun and one torchrun model: the same code, at a size that ends in under 2 minutes."""
    toy = TOY if dry_run else []
    found = {
        "sync_audit": lambda folder, timeout: sync_audit(toy),
        "resume": lambda folder, timeout: resume(folder, toy, timeout),
        "gpt2_124m": lambda folder, timeout: gpt2_124m(folder, toy, timeout),
    }
    for name in ("gpt",) if dry_run else SPEEDRUNS:
        found[f"speedrun_{name}"] = lambda folder, timeout, n=name: speedrun(n, folder, toy, True, timeout)
        found[f"speedrun_{name}_eager"] = lambda folder, timeout, n=name: speedrun(n, folder, toy, False, timeout)
    if gpus >= 2 or dry_run:  # two gloo processes stand in for two GPUs in a dry run
        for name in ("gpt",) if dry_run else DDP_MODELS:
            found[f"torchrun_{name}"] = lambda folder, timeout, n=name: data_parallel(n, folder, toy, timeout)
    found["models_vs_reference"] = lambda folder, timeout: against_references("cpu" if dry_run else "cuda", timeout)
    return found


def install(wheels: Path) -> None:
    """The project and the wheels it lacks here (bench/gpu_wheels.py's), from the folder alone: no index."""
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels)]
    subprocess.run([*command, "--no-build-isolation", "-e", str(REPO)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="the checks' code on CPU at toy sizes")
    parser.add_argument("--only", nargs="*", default=None, help="a subset of the checks, by name")
    parser.add_argument("--wheels", type=Path, help="install the project and these wheels first (no index needed)")
    parser.add_argument("--budget", type=float, default=480, help="seconds for all the checks (default 8 minutes)")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "gpu_check" / time.strftime("%Y-%m-%d_%H-%M-%S"))
    args = parser.parse_args(argv)
    if args.wheels:
        install(args.wheels)
    import torch

    gpus = torch.cuda.device_count()
    if not gpus and not args.dry_run:
        print("gpu_check: no CUDA GPU here; run it on a GPU machine, or with --dry-run to check its logic on CPU")
        return 2
    where = "CPU (dry run)" if args.dry_run else f"{gpus} x {torch.cuda.get_device_name(0)}"
    found = checks(args.dry_run, gpus)
    chosen = [name for name in found if args.only is None or name in args.only]
    print(f"gpu_check on {where}, torch {torch.__version__}, run dirs in {args.out}", flush=True)
    print(f"{'check':<26}{'result':<9}{'wall':>6}  measured", flush=True)
    rows, start = [], time.perf_counter()
    for name in chosen:
        left = args.budget - (time.perf_counter() - start)
        timeout = min(TIMEOUT_S.get(name) or TIMEOUT_S[name.split("_")[0]], left)
        began = time.perf_counter()
        if timeout < 10:
            passed, measured, result = True, f"not run: the {args.budget:.0f} s budget is spent", "skipped"
        else:
            try:
                passed, measured = found[name](args.out / name, timeout)
            except Exception as error:  # one check's failure is its row, not the end of the others
                passed, measured = False, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            result = "ok" if passed else "FAILED"
        rows.append(
            {"check": name, "result": result, "wall_s": round(time.perf_counter() - began, 1), "measured": measured}
        )
        print(f"{name:<26}{result:<9}{rows[-1]['wall_s']:>5.0f}s  {measured}", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.json").write_text(
            json.dumps({"device": where, "torch": torch.__version__, "rows": rows}, indent=2)
        )
    return 0 if all(row["result"] != "FAILED" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
