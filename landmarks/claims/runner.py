"""A claim's sweep: every point at every seed is an ordinary run, composed from configs/ as train.py composes it
and launched in this process through landmarks.launch.run (one import of torch and one read of the data for the
whole sweep, where Hydra's multirun would start each run afresh); each leaves a normal run dir that TensorBoard,
eval.py and load_run read. Then the rows (knobs, seed, metrics, curves, time) go to claim.json, the redrawn figure to
claim.png and TensorBoard, and the table and verdict to the console."""

import contextlib
import io
import json
import os
import platform
import re
import time
from pathlib import Path

from landmarks.claims.claim import Claim
from landmarks.claims.table import table


def knob_values(overrides: list[str]) -> dict[str, str]:
    return dict(override.split("=", 1) for override in overrides)


def read_curves(run_dir: Path, tags: tuple[str, ...]) -> dict[str, list[list[float]]]:
    """The run's TensorBoard scalars `tags` as [step, value] pairs: what the figure draws."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    found = set(events.Tags()["scalars"])
    return {tag: [[e.step, e.value] for e in events.Scalars(tag)] for tag in tags if tag in found}


def run_point(claim: Claim, label: str, seed: int, overrides: list[str], knobs: list[str], out: Path) -> dict:
    """One run of the sweep (a point at a seed, or a run the points build on), its printed report kept in
    report.txt; its row of claim.json."""
    from landmarks.engine.parts import NonFiniteLossError
    from landmarks.launch import compose_run, run

    run_dir = out / re.sub(r"[^\w.-]+", "_", label) / f"seed{seed}"  # "relu, dropout 0.5" -> relu_dropout_0.5
    run_dir.mkdir(parents=True, exist_ok=True)
    started, printed, diverged, cfg = time.perf_counter(), io.StringIO(), None, compose_run(overrides)
    with contextlib.redirect_stdout(printed):
        try:
            results = run(cfg, run_dir)
        except NonFiniteLossError as error:  # a result (too high a learning rate), not a failure of the sweep
            results, diverged = {}, str(error).split(";")[0]
    (run_dir / "report.txt").write_text(printed.getvalue() + (diverged or ""))
    metrics = {k: v for k, v in results.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if "flops_per_sample" in metrics:  # the cost of a step, of the run, and its seconds a step: figures' x axes
        metrics["flops_per_step"] = metrics["flops_per_sample"] * cfg.trainer.batch_size
        metrics["train_flops"] = metrics["flops_per_step"] * metrics["step"]
        metrics["s_per_step"] = (metrics["train_time_s"] - metrics["val_eval_s"]) / metrics["step"]  # no validation
    curves = read_curves(run_dir, claim.curves)
    for tag in (tag for tag in curves if tag.startswith("train/")):  # the mean of the last tenth of its logs
        last = [value for _, value in curves[tag][-max(1, len(curves[tag]) // 10) :]]
        metrics[tag] = sum(last) / len(last)
    if claim.measure and label in claim.points and not diverged:
        metrics |= claim.measure(run_dir)
    return {
        "point": label,
        "knobs": knob_values(knobs),
        "seed": seed,
        "metrics": metrics,
        "time_s": round(time.perf_counter() - started, 1),
        "run_dir": str(run_dir.relative_to(out)),
        "command": "python train.py " + " ".join(overrides),
        "curves": curves,
        **({"diverged": diverged} if diverged else {}),
    }


def sweep(claim: Claim, seeds: int, quick: bool, out: Path) -> list[tuple[str, int, list[str], list[str]]]:
    """(label, seed, train.py overrides, the point's knobs) of every run: the runs the points build on first, then
    each seed's points, with {name} in a knob standing for that earlier run's dir."""
    shared = ["trainer.progress=false", "trainer.pictures=false"]  # the claim draws its own figure
    todo = [
        (name, 0, [*before.overrides, "seed=0", *shared, *(before.quick if quick else ())], [])
        for name, before in claim.before.items()
    ]
    for seed in range(seeds):
        for label, knobs in claim.points.items():
            for name in claim.before:
                knobs = [knob.replace(f"{{{name}}}", str(out / name / "seed0")) for knob in knobs]
            overrides = [*claim.base, *knobs, f"seed={seed}", *shared, *(claim.quick if quick else ())]
            todo.append((label, seed, overrides, knobs))
    return todo


def run_claim(claim: Claim, *, quick: bool = False, seeds: int | None = None, out: Path) -> dict:
    """The whole sweep, seed after seed (so that a sweep cut short has every point of its first seeds); prints a
    line per run, then the table and the verdict; returns claim.json's record."""
    import torch

    from landmarks.engine.flops import device_name

    seeds = 1 if quick and seeds is None else seeds or claim.seeds
    todo = sweep(claim, seeds, quick, out)
    rows, started = [], time.perf_counter()
    for index, (label, seed, overrides, knobs) in enumerate(todo, 1):
        row = run_point(claim, label, seed, overrides, knobs, out)
        rows.append(row)
        shown = row.get("diverged") or ", ".join(
            f"{head} {row['metrics'][key]:.4g}" for head, key in claim.columns.items() if key in row["metrics"]
        )
        print(f"[{index}/{len(todo)}] {label}, seed {seed}: {shown} ({row['time_s']:.1f} s)", flush=True)
    held, sentence = claim.verdict(rows)
    record = {
        "claim": claim.name,
        "paper": claim.paper,
        "statement": claim.statement,
        "differs": claim.differs,
        "held": held,
        "verdict": sentence,
        "quick": quick,
        "seeds": seeds,
        "wall_s": round(time.perf_counter() - started, 1),
        "machine": f"{device_name(torch.device('cpu'))}, {os.cpu_count()} cores, {platform.system()}",
        "date": time.strftime("%Y-%m-%d"),
        "command": f"python -m landmarks.claims {claim.name}" + (" --quick" if quick else ""),
        "rows": rows,
    }
    write_record(record, claim, out)
    print_verdict(record, claim, out)
    return record


def redraw(claim: Claim, out: Path) -> dict:
    """The verdict, claim.png and TensorBoard's figure again from the rows of `out`'s claim.json: no training."""
    record = json.loads((out / "claim.json").read_text())
    record["held"], record["verdict"] = claim.verdict(record["rows"])
    write_record(record, claim, out)
    print_verdict(record, claim, out)
    return record


def print_verdict(record: dict, claim: Claim, out: Path) -> None:
    outcome = "held" if record["held"] else "did not hold"
    points = [row for row in record["rows"] if row["point"] in claim.points]  # not the runs they build on
    print(f"\n{table(points, claim.columns)}\n\n{claim.name}: {outcome}: {record['verdict']}")
    print(f"  unlike the paper: {claim.differs}")
    print(f"  claim.json, claim.png and the runs' TensorBoard: {out}")


def write_record(record: dict, claim: Claim, out: Path) -> None:
    """claim.json (written whole, then renamed), claim.png, and the figure and verdict in TensorBoard at `out`."""
    from torch.utils.tensorboard import SummaryWriter

    from landmarks.tasks.base import new_figure

    partial = out / "claim.json.tmp"
    partial.write_text(json.dumps(record, indent=1))
    partial.replace(out / "claim.json")
    figure = new_figure(10, 4)
    claim.draw(record["rows"], figure)
    figure.suptitle(f"{claim.name}: {claim.paper}", fontsize=10)
    figure.savefig(out / "claim.png")
    with SummaryWriter(str(out)) as writer:
        writer.add_figure(f"claims/{claim.name}", figure)
        writer.add_text(f"claims/{claim.name}", f"{'held' if record['held'] else 'did not hold'}: {record['verdict']}")
