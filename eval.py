"""Evaluate trained runs on their test split and compare them in one table: model, parameters, data, steps,
training seconds (train_time_s, as train.py reports it), MFU, time to target (speedruns), test metrics and the
seconds the evaluation took.

    python eval.py run=outputs/resnet8_speedrun-fashion_mnist/2026-11-22_10-00-00
    python eval.py ckpt=path/to/checkpoint.pt
    python eval.py 'run=outputs/multirun/2026-11-22_10-00-00/*'     # a glob: one row per run
    python train.py -m model=alexnet,resnet,vit && python eval.py 'run=outputs/multirun/*/*'   # compare models
    python eval.py run=<image run> attack=pgd                       # accuracy under PGD at 0, 0.025, 0.05, 0.1
    python eval.py run=<image run> attack=fgsm 'attack.eps=[0,0.1,0.2]' attack.samples=500

An attack (landmarks/tasks/image_classification/attacks.py; attack.steps, attack.step_size, attack.random_start as
in configs/train.yaml) adds a column per epsilon, keys "test/<attack>_acc@<eps>" to metrics.json, and to the run's
TensorBoard the accuracy against epsilon and clean, perturbation and adversarial images.

Each run's checkpoint carries its config, so the model, data and task are rebuilt exactly as trained; the weights
are those the run's report evaluated (best.pt's under trainer.early_stopping, else the checkpoint's).
The test metrics are written into the run dir's metrics.json (keys "test/...").
"""

import glob
import json
import sys
import time
from pathlib import Path

USAGE = (
    "usage: python eval.py run=<run dir or glob> [run=...] | ckpt=<checkpoint file> [attack=pgd|fgsm attack.eps=...]"
    " [trust_code=true]"
)
KEYS = """keys (key=value, as train.py takes them):
  run=<run dir or glob>     a run of train.py (a glob gives one row per run dir with a checkpoint); repeatable
  ckpt=<checkpoint file>    a checkpoint.pt itself
  attack=pgd|fgsm           accuracy under attack too (image runs), at attack.eps=[0,0.025,0.05,0.1] by default
  attack.<key>=<value>      eps, steps, step_size, random_start as in configs/train.yaml; samples (1000 images)
  trust_code=true           a run whose model is a class of its own (model._target_) may import it: its code runs"""
EVAL_EPS = [0.0, 0.025, 0.05, 0.1]  # pixels of [0, 1]: 0 is the clean accuracy of the attacked path


def parse_paths(argv: list[str]) -> list[str]:
    """The checkpoints named by run=/ckpt= arguments; a glob keeps only the run dirs that hold a checkpoint."""
    from landmarks.engine.checkpoint import CHECKPOINT_NAME

    paths = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if key in ("attack", "trust_code") or key.startswith("attack."):
            continue
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


def parse_attack(argv: list[str]) -> tuple[list, dict] | None:
    """attack=<name> and attack.<key>=<value> -> (one AttackConfig per epsilon, {"samples": n}); None without."""
    from omegaconf import OmegaConf

    from landmarks.schema import fail, positive, typed
    from landmarks.tasks.image_classification.attacks import ATTACKS, AttackConfig

    given = OmegaConf.from_dotlist([a for a in argv if a.startswith("attack.")])
    name = next((a.partition("=")[2] for a in argv if a.startswith("attack=")), None)
    if name is None:
        if given:
            raise SystemExit("eval.py: attack.* settings need an attack: add attack=pgd or attack=fgsm")
        return None
    if name not in ATTACKS:
        raise SystemExit(f"eval.py: {fail('attack', name, ' or '.join(ATTACKS))}")
    settings = OmegaConf.to_container(given).get("attack", {})
    eps_values, samples = settings.pop("eps", EVAL_EPS), settings.pop("samples", 1000)
    eps_values = eps_values if isinstance(eps_values, list) else [eps_values]
    if not positive(samples) or not isinstance(samples, int):
        raise SystemExit(f"eval.py: {fail('attack.samples', samples, 'a number of test images > 0, e.g. 1000')}")
    try:
        configs = [
            typed(AttackConfig, OmegaConf.create({**settings, "name": name, "eps": e}), "attack.") for e in eps_values
        ]
    except ValueError as error:
        raise SystemExit(f"eval.py: {error}") from None
    return configs, {"samples": samples}


def parse_trust(argv: list[str]) -> bool:
    """trust_code=true: a run whose model is a class of its own (model._target_) may import it (its code runs)."""
    values = [a.partition("=")[2] for a in argv if a.startswith("trust_code=")]
    for value in values:
        if value not in ("true", "false"):
            raise SystemExit(f"eval.py: trust_code={value!r}: expected true or false")
    return values[-1:] == ["true"]


def evaluate(path: str, attack: tuple | None = None, trust_code: bool = False) -> dict:
    """Load the checkpoint at `path` (a run dir or a file), evaluate it on the test split (and under `attack`),
    update metrics.json. A run whose model is a class of its own is imported only if `trust_code`."""
    from landmarks.models import parameter_count
    from omegaconf import OmegaConf

    from landmarks.build import build_model, build_task
    from landmarks.config import validate
    from landmarks.engine.checkpoint import BEST_NAME, load_checkpoint, load_safely, resolve_checkpoint
    from landmarks.engine.device import configure, pick_device

    checkpoint = resolve_checkpoint(path)
    state = load_checkpoint(checkpoint)
    cfg = OmegaConf.create(state["config"])
    run = validate(cfg)
    device = pick_device(run.trainer.device)
    configure(device, run.trainer.precision)  # as the run's final evaluation was: TF32 or not, freed memory kept
    task = build_task(run, device, trust_code)
    model = build_model(run, task, device, trust_code, source=checkpoint)
    best = checkpoint.parent / BEST_NAME  # under early stopping: the weights the run's report evaluated
    model.load_state_dict(load_safely(best)["model"] if best.exists() else state["model"])
    start = time.perf_counter()
    # in fp32, as the loop's final evaluation (a bf16 run's training precision would give other test numbers)
    metrics = {f"test/{name}": value for name, value in task.evaluate(model, "test").items()}
    if attack:
        metrics |= evaluate_attack(task, model, *attack, checkpoint.parent, state["step"], cfg.data.task)
    metrics["eval_time_s"] = round(time.perf_counter() - start, 2)
    metrics_path = checkpoint.parent / "metrics.json"
    saved = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    metrics_path.write_text(json.dumps({**saved, **metrics}, indent=2))
    reached = saved.get("target_reached")
    return {
        "run": str(checkpoint.parent),
        "config": state["config"],  # print_table shows the keys a sweep varied, one column each
        "model": cfg.model.get("_target_") or cfg.model.name,
        "params": parameter_count(model),
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


def evaluate_attack(task, model, configs: list, options: dict, run_dir: Path, step: int, task_name: str) -> dict:
    """Test accuracy under each of `configs` (one attack, one epsilon each), logged to the run's TensorBoard."""
    from torch.utils.tensorboard import SummaryWriter

    from landmarks.tasks.image_classification.robustness import accuracy_under_attack, log_attack

    if "attack" not in task.config_sections:
        raise SystemExit(f"eval.py: attack={configs[0].name} perturbs images; {run_dir} is a {task_name} run")
    name = configs[0].name
    accuracies, examples = accuracy_under_attack(task, model, configs[0], [c.eps for c in configs], **options)
    with SummaryWriter(str(run_dir)) as writer:
        for eps, accuracy in accuracies.items():
            writer.add_scalar(f"attack/{name}_acc@{eps:g}", accuracy, step)
        log_attack(writer, name, accuracies, examples, task.data.classes, step)
    return {f"test/{name}_acc@{eps:g}": accuracy for eps, accuracy in accuracies.items()}


def print_table(rows: list[dict]) -> None:
    """One row per run; the columns are the config keys whose values differ between the runs (a sweep's), then
    every metric of any row (image and translation runs mix)."""
    from landmarks.engine.report import flatten

    quiet = ("trainer.progress", "trainer.resume")  # they say nothing of the run
    configs = [{k: v for k, v in flatten(row.pop("config")).items() if k not in quiet} for row in rows]
    swept = [key for key in dict.fromkeys(k for c in configs for k in c) if len({str(c.get(key)) for c in configs}) > 1]
    rows = [
        {"run": row["run"], **{key: config.get(key, "") for key in swept}, **row} for row, config in zip(rows, configs)
    ]
    columns = list(dict.fromkeys(column for row in rows for column in row))
    widths = {c: max(len(c), *(len(str(row.get(c, ""))) for row in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


def main() -> None:
    from landmarks.engine.checkpoint import CheckpointError

    if {"-h", "--help"} & set(sys.argv[1:]):
        print(f"{__doc__.splitlines()[0]}\n\n{USAGE}\n\n{KEYS}")
        return

    try:
        attack, trust_code = parse_attack(sys.argv[1:]), parse_trust(sys.argv[1:])
        rows = [evaluate(path, attack, trust_code) for path in parse_paths(sys.argv[1:])]
    except (CheckpointError, ValueError) as error:
        raise SystemExit(f"eval.py: {error}") from None
    print_table(rows)


if __name__ == "__main__":
    main()
