"""One run from a composed config: build the task and model, train through the loop, write the run dir and print
the report. train.py calls it under Hydra; the claims (landmarks/claims/) call it for each point of a sweep."""

import dataclasses
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

TOO_FEW_STEPS = 50  # a schedule shorter than this is said to be one
CONFIGS = Path(__file__).resolve().parents[1] / "configs"  # a checkout's configs/, which train.py composes


def run_name(model: str, data: str, experiment: str | None, init_from: str | None) -> str:
    """The name of a run's folder in outputs/ (configs/train.yaml): its model and data, and the experiment and
    the pretrained start where one is used, so that TensorBoard's list tells runs apart."""
    return "-".join([model, data, *([experiment] if experiment else []), *(["pretrained"] if init_from else [])])


OmegaConf.register_new_resolver("run_name", run_name, replace=True)


def compose_run(overrides: list[str]) -> DictConfig:
    """The config train.py composes from these command-line overrides (Hydra's compose API, outside @hydra.main)."""
    from hydra import compose, initialize_config_dir

    if not (CONFIGS / "train.yaml").exists():
        raise FileNotFoundError(f"composing a run needs a checkout's configs/, not found at {CONFIGS}")
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose("train", overrides=overrides)


def opening_lines(run, model, task, device, run_dir: Path, asked_batch: int) -> str:
    """What is about to run: the recipe (or that none is tuned for this pair), model, data, device, length, and
    the batch where trainer.batch_size (`asked_batch`) was fitted to a small training split."""
    from landmarks.engine import distributed
    from landmarks.engine.loop import run_length
    from landmarks.models import parameter_count

    recipe = (
        f"recipe {run.recipe} (configs/recipe/{run.recipe}.yaml)"
        if run.recipe
        else f"no tuned recipe for {model_name(run)} on {run.data.name}: generic defaults (configs/train.yaml)"
    )
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    if choices.get("experiment"):  # a named run: it sets the target and the run length over the recipe
        name, target = choices["experiment"], f"target {run.trainer.target}, " if run.trainer.target else ""
        recipe = f"experiment {name} (configs/experiment/{name}.yaml: {target}its own run length) over {recipe}"
    processes = f" x {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
    steps, stop, length = run_length(run.trainer, task)
    if run.trainer.time_budget:
        length = f"the length that fits trainer.time_budget={run.trainer.time_budget:g} s of training (measured next)"
    elif run.trainer.flop_budget:
        length = f"the length of trainer.flop_budget={run.trainer.flop_budget:g} training FLOPs (counted next)"
    elif run.trainer.time_cap:
        length += f", within trainer.time_cap={run.trainer.time_cap:g} s of training (measured next)"
    length += f", stop at {stop}" if stop < steps else ""
    if steps < TOO_FEW_STEPS and not (
        run.trainer.time_budget or run.trainer.flop_budget
    ):  # small data counted in epochs, or a typo
        length += " (too few to learn: lengthen it with trainer.steps, trainer.epochs or trainer.steps_floor)"
    what = f"{model_name(run)} ({parameter_count(model)} params) on {run.data.name}, {device}{processes}, {length}"
    if asked_batch != run.trainer.batch_size:
        what += f", batches of {run.trainer.batch_size} (trainer.batch_size={asked_batch} exceeds the training split)"
    if task.pretrained is not None:
        theirs = task.pretrained.model.state_dict()
        fresh = sorted({name.split(".")[0] for name in model.state_dict() if name not in theirs})
        what += f", weights from model.init_from={task.pretrained.run_dir} (fresh: {', '.join(fresh) or 'none'})"
    return f"{recipe}\n{what}, run dir {run_dir}"


def model_name(run) -> str:
    """A registered model's name, or the import path of a user's own class."""
    return run.model.get("_target_") or run.model["name"]


def run(
    cfg: DictConfig, run_dir: Path, resume_state: dict | None = None, trust_code: bool = False, started=None
) -> dict:
    """Build everything from `cfg`, train (continuing from `resume_state`, a checkpoint, if given), print the
    final report and return the metrics. Under torchrun every process runs it; rank 0 reports. `trust_code` (the
    command line's, never a saved config's) lets a run read from disk (the resumed one, model.init_from's) import
    a model class of its own. `started`: when the command began (landmarks/engine/wall.py), else now."""
    import torch

    from landmarks.build import build_model, build_task, model_kwargs, seed_everything, write_environment
    from landmarks.config import validate
    from landmarks.engine import distributed, wall
    from landmarks.engine.checkpoint import save_checkpoint
    from landmarks.engine.device import configure, pick_device
    from landmarks.engine.loop import fit
    from landmarks.export import MODEL_FILE, write_shared

    wall.begin(started)
    run = validate(cfg)
    if run.trainer.num_threads:
        torch.set_num_threads(run.trainer.num_threads)
    seed_everything(run.seed)
    device = distributed.setup(pick_device(run.trainer.device))
    configure(device, run.trainer.precision)
    run_dir = Path(distributed.broadcast(str(run_dir), device))  # rank 0's: Hydra's clock may differ per process
    wall.lap("imports and config")
    with distributed.local_main_first():  # downloads and extractions happen once per machine
        task = build_task(run, device, trust_code)
    wall.lap("data")
    asked_batch, run.trainer = run.trainer.batch_size, dataclasses.replace(run.trainer, batch_size=task.batch_size)
    run.resolved["trainer"]["batch_size"] = task.batch_size  # fitted to a small training split: what runs and resumes
    source = "the command line" if resume_state is None else run_dir / "checkpoint.pt"
    model = build_model(run, task, device, trust_code=resume_state is None or trust_code, source=source)
    built_with = model_kwargs(run, task)
    distributed.seed_process(run.seed)
    main = distributed.is_main()
    if main:
        write_environment(run_dir)
        save_checkpoint(run_dir / MODEL_FILE, {"model_kwargs": built_with, "task": task.export()})
        resolved = {**run.resolved, "model": {**run.model, **built_with}}  # what ran: the sizes from the data filled in
        OmegaConf.save(OmegaConf.create(resolved), run_dir / "config.yaml")
        print(opening_lines(run, model, task, device, run_dir, asked_batch))
    wall.lap("model")

    places = {"run_dir": run_dir, "device": device, "config": run.resolved, "resume_state": resume_state}
    results = fit(model, task, run.trainer, run.optim, **places)
    if main and "interrupted" not in results:  # the finished model, to share without pickle
        write_shared(run_dir, model, built_with, run.data.task, task.export(), run.resolved)
        wall.lap("writing")
        results["wall_split_s"] = wall.seconds()
        add_to_metrics(run_dir, {"wall_split_s": results["wall_split_s"]})
        print(final_report(run, results, device, run_dir))
    distributed.cleanup()
    return results


def final_report(run, results: dict, device, run_dir: Path) -> str:
    """The console's end of a run: steps, time and MFU, the target's record, which weights, the metrics, the task's
    own report, and the commands that go on from the run dir."""
    lines = [
        f"\n{model_name(run)} on {run.data.name}: {results['step']} steps in "
        f"{results['train_time_s']:.1f} s on {device}, MFU {results['mfu']:.1%}"
    ]
    if "target_reached" in results:
        reached = "not reached"
        if results["target_reached"]:
            reached = (
                f"reached at step {results['steps_to_target']} after {results['time_to_target_s']:.1f} s of "
                f"training ({results['wall_to_target_s']:.1f} s with validation)"
            )
        lines.append(f"  target {results['target']}: {reached}")
    if "weights" in results:
        last = f"; step {results['step']}'s are in checkpoint.pt)" if results["weights"] == "best" else ")"
        lines.append(f"  weights of step {results['best_step']}, the best validation pass (best.pt{last}")
    lines += [f"  {name:<16} {value:.4f}" for name, value in results.items() if name.startswith(("val/", "test/"))]
    lines += [results["report"]] if results["report"] else []
    if "wall_split_s" in results:
        lines.append(f"  {'wall':<16} {describe_split(results['wall_split_s'])}")
    trust = ", trust_code=True" if run.model.get("_target_") else ""  # the user's own class: their code
    lines.append(f"  {'run dir':<16} {run_dir}\n  {'compare':<16} tensorboard --logdir {run_dir.parent}")
    lines.append(
        f"  {'evaluate':<16} python eval.py run={run_dir}\n  {'in your code':<16} load_run('{run_dir}'{trust})"
    )
    return "\n".join(lines)


def add_to_metrics(run_dir: Path, values: dict) -> None:
    """metrics.json with `values` added, written whole again by the checkpoints' atomic write (never half-written)."""
    import json

    from landmarks.engine.checkpoint import atomic_write

    path = run_dir / "metrics.json"
    merged = {**json.loads(path.read_text()), **values}
    atomic_write(path, lambda temporary: temporary.write_text(json.dumps(merged, indent=2)))


def describe_split(split: dict[str, float]) -> str:
    """ "31.2 s: imports and config 2.1, data 0.8, ...": where the command's wall time went."""
    return f"{sum(split.values()):.1f} s: " + ", ".join(f"{name} {value:.1f}" for name, value in split.items())
