"""Train any Landmarks model through the one shared loop.

    python train.py model=resnet                       # the default speedrun on Fashion-MNIST
    python train.py model=resnet20 data=cifar10 data.download=true trainer.epochs=30
    python train.py -m model=resnet optim.lr=0.1,0.05  # a sweep: one run dir per setting
    python train.py trainer.resume=outputs/resnet8_speedrun/2026-11-22_10-00-00   # continue a run
    python train.py experiment=speedrun_resnet         # stop at the target, report the time to reach it
    torchrun --nproc_per_node=4 train.py model=vit     # data parallel: 4 GPUs (NCCL) or CPU processes (gloo)

Every knob is in configs/; the run dir (outputs/...) holds the TensorBoard events, checkpoint.pt,
metrics.json, environment.json and Hydra's resolved config.
"""

import difflib
import os
import re
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

RESUMABLE = (  # what a resumed run may change: where and how fast it runs, how far, how often it reports
    *(f"trainer.{key}" for key in ("resume", "max_steps", "device", "precision", "compile", "num_threads")),
    *(f"trainer.{key}" for key in ("log_every", "eval_every", "ckpt_every", "target", "peak_flops", "progress")),
    "trust_code",
)


def resumed_config(cfg: DictConfig, overrides: list[str]) -> tuple[DictConfig, Path, dict]:
    """A resumed run keeps its saved config and run dir; the command line may change only RESUMABLE keys (or
    repeat the run's own overrides): any other override would make another run, and is refused in one line.
    Returns the config, the run dir and the checkpoint to continue from."""
    from landmarks.engine.checkpoint import load_checkpoint

    run_dir = Path(cfg.trainer.resume).expanduser().resolve()
    state = load_checkpoint(run_dir)
    original = run_dir / ".hydra" / "overrides.yaml"
    own = set(OmegaConf.load(original)) if original.exists() else set()
    refused = [o for o in overrides if o not in own and o.lstrip("+~").split("=", 1)[0] not in RESUMABLE]
    if refused:
        raise ValueError(
            f"trainer.resume={run_dir} continues that run as it was: {' '.join(refused)} would make another one; "
            f"start a new run (model.init_from=<run dir> starts from its weights), or change only "
            f"{', '.join(key.removeprefix('trainer.') for key in RESUMABLE)}"
        )
    kept = [o.lstrip("+") for o in overrides if o.lstrip("+").startswith("trainer.")]
    return OmegaConf.merge(OmegaConf.create(state["config"]), OmegaConf.from_dotlist(kept)), run_dir, state


def opening_lines(run, model, task, device, run_dir: Path) -> str:
    """What is about to run: the recipe (or that none is tuned for this pair), model, data, device, length."""
    from landmarks.models import parameter_count

    from landmarks.engine import distributed
    from landmarks.engine.loop import run_length

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
    elif run.trainer.time_cap:
        length += f", within trainer.time_cap={run.trainer.time_cap:g} s of training (measured next)"
    length += f", stop at {stop}" if stop < steps else ""
    what = f"{model_name(run)} ({parameter_count(model)} params) on {run.data.name}, {device}{processes}, {length}"
    if task.pretrained is not None:
        theirs = task.pretrained.model.state_dict()
        fresh = sorted({name.split(".")[0] for name in model.state_dict() if name not in theirs})
        what += f", weights from model.init_from={task.pretrained.run_dir} (fresh: {', '.join(fresh) or 'none'})"
    return f"{recipe}\n{what}, run dir {run_dir}"


def model_name(run) -> str:
    """A registered model's name, or the import path of a user's own class."""
    return run.model.get("_target_") or run.model["name"]


def run(cfg: DictConfig, run_dir: Path, resume_state: dict | None = None, trust_code: bool = False) -> dict:
    """Build everything from `cfg`, train (continuing from `resume_state`, a checkpoint, if given), print the
    final report and return the metrics. Under torchrun every process runs it; rank 0 reports. `trust_code` (the
    command line's, never a saved config's) lets a run read from disk (the resumed one, model.init_from's) import
    a model class of its own."""
    import torch

    from landmarks.build import build_model, build_task, model_kwargs, seed_everything, write_environment
    from landmarks.config import validate
    from landmarks.engine import distributed
    from landmarks.engine.checkpoint import save_checkpoint
    from landmarks.engine.device import configure, pick_device
    from landmarks.engine.loop import fit
    from landmarks.export import MODEL_FILE, write_shared

    run = validate(cfg)
    if run.trainer.num_threads:
        torch.set_num_threads(run.trainer.num_threads)
    seed_everything(run.seed)
    device = distributed.setup(pick_device(run.trainer.device))
    configure(device, run.trainer.precision)
    run_dir = Path(distributed.broadcast(str(run_dir), device))  # rank 0's: Hydra's clock may differ per process
    with distributed.local_main_first():  # downloads and extractions happen once per machine
        task = build_task(run, device, trust_code)
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
        print(opening_lines(run, model, task, device, run_dir))

    places = {"run_dir": run_dir, "device": device, "config": run.resolved, "resume_state": resume_state}
    results = fit(model, task, run.trainer, run.optim, **places)
    if main and "interrupted" not in results:  # the finished model, to share without pickle
        write_shared(run_dir, model, built_with, run.data.task, task.export(), run.resolved)
        print(
            f"\n{model_name(run)} on {run.data.name}: {results['step']} steps in "
            f"{results['train_time_s']:.1f} s on {device}, MFU {results['mfu']:.1%}"
        )
        if "target_reached" in results:
            print(
                f"  target {results['target']}: "
                + (
                    f"reached at step {results['steps_to_target']} "
                    f"after {results['time_to_target_s']:.1f} s of training "
                    f"({results['wall_to_target_s']:.1f} s with validation)"
                    if results["target_reached"]
                    else "not reached"
                )
            )
        if "weights" in results:
            print(
                f"  weights of step {results['best_step']}, the best validation pass (best.pt"
                + (f"; step {results['step']}'s are in checkpoint.pt)" if results["weights"] == "best" else ")")
            )
        for name, value in results.items():
            if name.startswith(("val/", "test/")):
                print(f"  {name:<16} {value:.4f}")
        if results["report"]:
            print(results["report"])
        trust = ", trust_code=True" if run.model.get("_target_") else ""  # the user's own class: their code
        print(f"  {'run dir':<16} {run_dir}\n  {'compare':<16} tensorboard --logdir {run_dir.parent}")
        print(f"  {'evaluate':<16} python eval.py run={run_dir}\n  {'in your code':<16} load_run('{run_dir}'{trust})")
    distributed.cleanup()
    return results


def discard_unstarted(run_dir: Path) -> None:
    """Remove a run dir that holds only what Hydra and the start-up wrote (no half-made run after bad input), and
    its parent (outputs/<model>) if that is left empty."""
    if run_dir.is_dir() and set(os.listdir(run_dir)) <= {".hydra", "environment.json", "model.pt", "config.yaml"}:
        shutil.rmtree(run_dir, ignore_errors=True)
        if not any(run_dir.parent.iterdir()):
            run_dir.parent.rmdir()


def check_composition(argv: list[str]) -> None:
    """Compose the command line's config once before Hydra does, so that an option a group lacks or a key no
    config has ends in one line naming it, the closest existing ones and the choices (Hydra's own message is a
    paragraph, and for a misspelt key it suggests appending it as a new one)."""
    if {"-m", "--multirun", "--help", "-h", "--hydra-help"} & set(argv) or any(a.startswith("--") for a in argv):
        return  # sweeps and Hydra's own flags compose their own way
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException

    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parent / "configs"), version_base="1.3"):
        try:
            compose("train", overrides=argv)
        except ConfigCompositionException as error:
            lines = [line.strip().rstrip(".") for line in str(error).splitlines() if line.strip()]
            if len(lines) > 2 and lines[1].startswith("Available options"):  # an option the group lacks
                options = [line for line in lines[2:] if not line.endswith(":") and "=" not in line]
                wanted = lines[0].rpartition("/")[2].strip("'")
                lines = [lines[0], f"{lines[1].rstrip(':')}: {', '.join(options)}{did_you_mean(wanted, options)}"]
            elif missing := re.match(r"Could not override '([\w.]+)'", lines[0]):  # a key no config has
                key = missing.group(1)
                others = [arg for arg in argv if not arg.startswith(f"{key}=")]
                try:
                    keys = list(dotted_keys(compose("train", overrides=others)))
                except ConfigCompositionException:
                    keys = []
                hint = did_you_mean(key, keys) or "; python train.py --cfg job shows every key"
                lines = [f"{key} is not a key of the config{hint} (a new key of your own takes +: +{key}=...)"]
            raise SystemExit(f"train.py: {'; '.join(lines)}") from None


def did_you_mean(wrong: str, names: list[str]) -> str:
    close = difflib.get_close_matches(wrong, names, n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def dotted_keys(cfg: DictConfig, prefix: str = ""):
    for key, value in cfg.items_ex(resolve=False):
        yield f"{prefix}{key}"
        if isinstance(value, DictConfig):
            yield from dotted_keys(value, f"{prefix}{key}.")


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from landmarks.datasets import DatasetError
    from landmarks.engine.checkpoint import CheckpointError

    state, run_dir, trust_code = None, Path(HydraConfig.get().runtime.output_dir), cfg.trust_code is True
    try:
        if cfg.trainer.resume:
            cfg, run_dir, state = resumed_config(cfg, list(HydraConfig.get().overrides.task))
        return run(cfg, run_dir, state, trust_code).get("val/acc")  # the value a Hydra sweeper optimises
    except (ValueError, CheckpointError, DatasetError) as error:  # bad input: the message names the fix
        if state is None:
            discard_unstarted(run_dir)
        raise SystemExit(f"train.py: {error}") from None


if __name__ == "__main__":
    check_composition(sys.argv[1:])
    resume = next((arg.split("=", 1)[1] for arg in sys.argv[1:] if arg.startswith("trainer.resume=")), None)
    if resume or int(os.environ.get("RANK", 0)) > 0:
        # no new run dir from Hydra: a resumed run keeps its own, and under torchrun only rank 0 writes
        sys.argv += [f"hydra.run.dir='{resume or '.'}'", "hydra.output_subdir=null"]
    main()
