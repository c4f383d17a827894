"""The end of a run: the weights the report evaluates (the best validation pass's under early stopping), the
validation and test metrics, the task's pictures and report, the target's record, the hparams against the final
metrics in TensorBoard, and metrics.json."""

import json
from pathlib import Path

from landmarks.engine import distributed, wall
from landmarks.engine.checkpoint import BEST_NAME, load_safely
from landmarks.engine.parts import EarlyStopping, Progress, better
from landmarks.tasks.base import unwrap


def finish(run, progress: Progress) -> dict:
    """The final metrics and report of `run` (landmarks/engine/loop.py's Run), written to TensorBoard and
    metrics.json and returned with the loss history."""
    state = run.state
    final, best = final_metrics(run, progress.val)
    wall.lap("final evaluation")
    with run.autocast:
        if run.trainer.pictures:
            run.task.log_pictures(run.writer, run.eval_model, state.step)
        report = run.task.report(run.eval_model)
    wall.lap("pictures and samples")
    hit, target = progress.hit, progress.target
    if target and hit is None and target.reached({k.removeprefix("val/"): v for k, v in final.items()}):
        hit = state.clock.hit(state.step)
    for name, value in final.items():
        run.writer.add_scalar(name, value, state.step)
    summary = {f"final/{name}": value for name, value in final.items()}
    if hit:
        run.writer.add_scalar("target/steps", hit.step, hit.step)
        run.writer.add_scalar("target/train_s", hit.train_s, hit.step)
        summary |= {"final/steps_to_target": hit.step, "final/time_to_target_s": hit.train_s}
    results = {**final, **timings(run, progress, hit), **best, **run.task.notes()}
    results |= {"history": run.log.history, "report": report}
    hparams = {k: v for k, v in flatten(run.config).items() if "resume" not in k}
    run.writer.add_hparams(hparams, summary, run_name=".")
    run.writer.close()
    saved = {k: v for k, v in results.items() if k not in ("history", "report")}
    (run.run_dir / "metrics.json").write_text(json.dumps(saved, indent=2))
    return results


def final_metrics(run, val: dict | None) -> tuple[dict[str, float], dict]:
    """ "val/..." and "test/..." metrics in fp32 (validation only if the loop did not just measure it: a target
    reached, early stopping), of the best validation pass's weights under early stopping, and which those were."""
    state, task = run.state, run.task
    splits = {"val": val or task.evaluate(run.eval_model, "val")}
    best = {}
    if state.early:
        best_step = best_of_run(state.model, run.run_dir, state.early, state.step, splits["val"], val is not None)
        if best_step != state.step:
            splits["val"] = task.evaluate(run.eval_model, "val")
        best = {"weights": "best" if best_step != state.step else "last", "best_step": best_step}
    splits["test"] = task.evaluate(run.eval_model, "test")
    return {f"{split}/{k}": v for split, metrics in splits.items() for k, v in metrics.items()}, best


def timings(run, progress: Progress, hit) -> dict:
    """The run's steps, time (validation included, compilation set aside), size, FLOPs, MFU and target record."""
    state, trainer = run.state, run.trainer
    samples_per_s = (state.step - progress.first_step) * trainer.batch_size / max(state.clock.session_train_s, 1e-9)
    peak, peak_source = progress.peak
    target = {"target": trainer.target, "target_reached": hit is not None} if progress.target else {}
    reached = {"steps_to_target": hit.step, "time_to_target_s": round(hit.train_s, 2)} if hit else {}
    return {
        "step": state.step,
        "train_time_s": round(state.clock.wall_s, 2),  # the loop's wall time, validation included
        "val_eval_s": round(state.clock.eval_s, 2),  # of which periodic validation
        "params": sum(p.numel() for p in state.model.parameters()),
        **({"compile_s": round(state.clock.aside_s, 2)} if trainer.compile else {}),  # steps that compiled, aside
        "samples_per_s": round(samples_per_s, 2),  # over this session's training time
        "flops_per_sample": progress.flops_per_sample,
        "mfu": progress.flops_per_sample * samples_per_s / (peak * distributed.world_size()),
        "peak_flops": f"{peak:.3g} ({peak_source})",
        **target,
        **reached,
        **({"wall_to_target_s": round(hit.wall_s, 2)} if hit else {}),
    }


def best_of_run(model, run_dir: Path, early: EarlyStopping, step: int, val: dict, counted: bool) -> int:
    """The step whose weights end in `model`: the last step's if its validation pass (which the loop `counted` if
    it fell on a validation step) is the best, else best.pt's, loaded. A pass off the validation steps is compared
    but not counted, so that early stopping's count stays that of the whole run, and best.pt that count's best."""
    if early.best_step == step if counted else better(early.direction, val[early.metric], early.best):
        return step
    unwrap(model).load_state_dict(load_safely(run_dir / BEST_NAME)["model"])
    return early.best_step


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}, with non-scalars as strings (TensorBoard's hparams take scalars only)."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat
