"""Train any Landmarks model through the one shared loop.

    python train.py model=resnet                       # the default speedrun on Fashion-MNIST
    python train.py model=resnet20 data=cifar10 data.download=true trainer.epochs=30
    python train.py -m model=resnet optim.lr=0.1,0.05  # a sweep: one run dir per setting
    python train.py trainer.resume=outputs/resnet8_speedrun-fashion_mnist/2026-11-22_10-00-00   # continue a run
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

from landmarks.launch import compose_run, run

RESUMABLE = (  # what a resumed run may change: where and how fast it runs, how far, how often it reports
    *(f"trainer.{key}" for key in ("resume", "max_steps", "device", "precision", "compile", "num_threads")),
    *(f"trainer.{key}" for key in ("log_every", "eval_every", "ckpt_every", "target", "peak_flops", "progress")),
    "trainer.pictures",
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


def discard_unstarted(run_dir: Path) -> None:
    """Remove a run dir that holds only what Hydra and the start-up wrote (no half-made run after bad input), and
    its parent (outputs/<model>-<data>) if that is left empty."""
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
    from hydra.errors import ConfigCompositionException

    try:
        compose_run(argv)
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
                keys = list(dotted_keys(compose_run(others)))
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
    from landmarks.engine import wall
    from landmarks.engine.checkpoint import CheckpointError

    state, run_dir, trust_code = None, Path(HydraConfig.get().runtime.output_dir), cfg.trust_code is True
    try:
        if cfg.trainer.resume:
            cfg, run_dir, state = resumed_config(cfg, list(HydraConfig.get().overrides.task))
        # the split of the command's wall time counts its start-up too; a sweep's later jobs, from their own start
        started = wall.process_started() if not HydraConfig.get().job.get("num") else None
        return run(cfg, run_dir, state, trust_code, started).get("val/acc")  # the value a Hydra sweeper optimises
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
    # Everything is written and closed; the interpreter's teardown of torch._dynamo's modules (which torch.optim
    # imports) would take most of a second more (docs/benchmarks.md, the whole command's split)
    sys.stdout.flush(), sys.stderr.flush()
    os._exit(0)
