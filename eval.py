"""Evaluate trained runs on their test split and compare them in one table: model, parameters, data, steps,
training seconds (train_time_s, as train.py reports it), MFU, time to target (speedruns), test metrics and the
seconds the evaluation took.

    python eval.py run=outputs/resnet8_speedrun/2026-11-22_10-00-00
    python eval.py ckpt=path/to/checkpoint.pt
    python eval.py 'run=outputs/multirun/2026-11-22_10-00-00/*'     # a glob: one row per run
    python train.py -m model=alexnet,resnet,vit && python eval.py 'run=outputs/multirun/*/*'   # compare models

Each run's checkpoint carries its config, so the model, data and task are rebuilt exactly as trained.
The test metrics are written into the run dir's metrics.json (keys "test/...").
"""

import glob
import json
import sys
import time
from pathlib import Path

USAGE = "usage: python eval.py run=<run dir or glob> [run=...] | ckpt=<checkpoint file>"


def parse_paths(argv: list[str]) -> list[str]:
    """The checkpoints named by run=/ckpt= arguments; a glob keeps only the run dirs that hold a checkpoint."""
    from landmarks.engine.checkpoint import CHECKPOINT_NAME

    paths = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in ("run", "ckpt"):
            raise SystemExit(f"eval.py: unknown argument {arg!r}; {USAGE}")
        if any(char in value for char in "*?["):
            matches = [p for p in sorted(glob.glob(value)) if (Path(p) / CHECKPOINT_NAME).exists() or p.endswith(".pt")]
            if not matches:
                raise SystemExit(f"eval.py: no run dir with a {CHECKPOINT_NAME} matches {value!r}")
            paths += matches
        else:
            paths.append(value)
    if not paths:
        raise SystemExit(USAGE)
    return paths


def evaluate(path: str) -> dict:
    """Load the checkpoint at `path` (a run dir or a file), evaluate it on the test split, update metrics.json."""
    from omegaconf import OmegaConf

    from landmarks.build import build_model, build_task
    from landmarks.config import validate
    from landmarks.engine.checkpoint import load_checkpoint, resolve_checkpoint
    from landmarks.engine.device import autocast_context, pick_device

    checkpoint = resolve_checkpoint(path)
    state = load_checkpoint(checkpoint)
    cfg = OmegaConf.create(state["config"])
    run = validate(cfg)
    device = pick_device(run.trainer.device)
    task = build_task(run, device)
    model = build_model(run, task, device)
    model.load_state_dict(state["model"])
    start = time.perf_counter()
    with autocast_context(device, cfg.trainer.precision):
        metrics = {f"test/{name}": value for name, value in task.evaluate(model, "test").items()}
    metrics["eval_time_s"] = round(time.perf_counter() - start, 2)
    metrics_path = checkpoint.parent / "metrics.json"
    saved = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    metrics_path.write_text(json.dumps({**saved, **metrics}, indent=2))
    reached = saved.get("target_reached")
    return {
        "run": str(checkpoint.parent),
        "model": cfg.model.get("_target_") or cfg.model.name,
        "params": f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M",
        "data": cfg.data.name,
        "steps": state["step"],
        "train_time_s": f"{state['elapsed_s']:.1f}",  # the loop with its validation passes, as train.py reports
        **({"mfu": f"{saved['mfu']:.1%}"} if "mfu" in saved else {}),
        **(
            {"target": saved["target"], "to_target": f"{saved['time_to_target_s']:.0f} s" if reached else "not reached"}
            if "target" in saved
            else {}
        ),
        "eval_s": f"{metrics['eval_time_s']:.1f}",
        **{name: f"{value:.4f}" for name, value in metrics.items() if name.startswith("test/")},
    }


def print_table(rows: list[dict]) -> None:
    """One row per run; the columns are every metric of any row (image and translation runs mix)."""
    columns = list(dict.fromkeys(column for row in rows for column in row))
    widths = {c: max(len(c), *(len(str(row.get(c, ""))) for row in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


def main() -> None:
    from landmarks.engine.checkpoint import CheckpointError

    try:
        rows = [evaluate(path) for path in parse_paths(sys.argv[1:])]
    except CheckpointError as error:
        raise SystemExit(f"eval.py: {error}") from None
    print_table(rows)


if __name__ == "__main__":
    main()
