"""The composed config, checked before anything is built: every bad value ends in one `ConfigError` line that
names the key, the value and the fix (landmarks/schema.py). What is common to every run is checked here; each
room owns the schema of its own keys: the trainer's (landmarks/engine/loop.py), each optimizer's
(landmarks/engine/optimizers/), each task's data and each dataset's (landmarks/tasks/<task>/datasets/).

`validate(cfg)` returns a `RunConfig`: the typed part each room receives, and the whole config resolved, which
is saved with the run. We check here rather than through Hydra's ConfigStore because Hydra's own errors at
composition are a paragraph with a traceback hint, and they stop before a run could say which recipe it used.
"""

import dataclasses
import difflib
from dataclasses import dataclass

from omegaconf import DictConfig, ListConfig, OmegaConf

from landmarks.engine.loop import TrainerConfig
from landmarks.engine.optimizers import OPTIMIZERS, OptimConfig
from landmarks.engine.parts import EarlyStopping, Target
from landmarks.engine.schedules import SCHEDULES
from landmarks.models import list_models, model_task, model_tasks
from landmarks.schema import ConfigError, fail, fraction, integer, typed
from landmarks.tasks import task_class


@dataclass
class RunConfig:
    seed: int
    trainer: TrainerConfig
    optim: OptimConfig  # the schema of optim.name's optimizer
    data: object  # the schema of data.source's dataset, within its task's
    model: dict  # model.*'s set values: `name` (registered) or `_target_` (a class), and constructor arguments
    task: type  # the Task subclass of data.task
    recipe: str | None  # the tuned recipe in use, if any
    options: dict  # what the task takes from the config beyond its data (its run_options: adversarial training)
    resolved: dict  # the whole config, interpolations resolved: saved in each checkpoint


def validate(cfg: DictConfig) -> RunConfig:
    """Check a composed config and return its typed parts, or raise ConfigError naming the first bad key."""
    missing = sorted(_missing_keys(cfg))
    if missing:
        example = "data=tsv data.path=pairs.tsv" if missing[0] == "data.path" else f"{missing[0]}=..."
        raise ConfigError(f"{missing[0]} is required and has no value; set it on the command line, e.g. {example}")
    try:
        task = task_class(cfg.data.get("task"))
        task.datasets.check(cfg.data.get("source"))  # absent from the configs of runs saved before this layout
        OPTIMIZERS.check(cfg.optim.get("name"))
        SCHEDULES.check(cfg.optim.get("schedule", "cosine"))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    check_model_name(cfg)
    try:
        resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    except Exception as error:  # an interpolation to a missing key, say
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"the config does not resolve: {type(error).__name__}: {first_line}") from None
    if not integer(0)(resolved.seed):
        raise fail("seed", resolved.seed, "an integer >= 0, e.g. seed=0")
    if not isinstance(resolved.get("trust_code", False), bool):  # train.py reads it from its command line
        raise fail("trust_code", resolved.trust_code, "true or false")
    trainer = typed(TrainerConfig, resolved.trainer, "trainer.")
    if trainer.steps is None and trainer.epochs is None:
        raise ConfigError("trainer.epochs=None and trainer.steps=None: set one of them, the run's length")
    try:  # the metrics a run aims at, against the task's declared ones and their directions
        Target.for_run(trainer, task.eval_metrics)
        EarlyStopping.for_run(trainer, task.eval_metrics, None)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    optim = typed_optim(resolved.optim)
    data = typed(task.datasets.config(resolved.data.source) or task.data_config, resolved.data, "data.")
    model = check_model_values(resolved.model)
    if model.get("init_from") and not task.fine_tunes_from:
        raise ConfigError(
            f"model.init_from={model['init_from']} starts a fine-tuning from a pretrained run, which "
            f"{resolved.data.task} runs do not take; drop model.init_from"
        )
    check_recipe(resolved)
    own = task.config_sections.items()  # the task's own sections (attack), typed as the rest
    sections = {key: typed(schema, resolved.get(key) or OmegaConf.create({}), f"{key}.") for key, schema in own}
    try:
        options = task.run_options(trainer, sections)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    plain = OmegaConf.to_container(resolved)
    return RunConfig(resolved.seed, trainer, optim, data, model, task, resolved.get("recipe"), options, plain)


def typed_optim(optim: DictConfig) -> OptimConfig:
    """optim.* against its optimizer's schema. Keys of the other optimizers are left out, not refused: a recipe
    (selected by interpolation, so unable to switch the optim group) sets `optim.name=sgd` over adamw's betas."""
    schema = OPTIMIZERS.config(optim.name)
    own = {field.name for field in dataclasses.fields(schema)}
    others = {field.name for name in OPTIMIZERS.names() for field in dataclasses.fields(OPTIMIZERS.config(name))}
    return typed(
        schema, OmegaConf.masked_copy(optim, [key for key in optim if key in own or key not in others]), "optim."
    )


def check_model_name(cfg: DictConfig) -> None:
    """A registered model.name of the data's task, or a model._target_ (the user's own class, any task)."""
    if cfg.model.get("_target_"):
        return
    name, data_task = cfg.model.name, cfg.data.task
    if name not in list_models():
        close = difflib.get_close_matches(str(name), list_models(), n=3, cutoff=0.5)
        raise fail(
            "model.name",
            name,
            "a registered model"
            + (f", e.g. {', '.join(close)}" if close else "")
            + "; python -c 'from landmarks.models import list_models; print(list_models())'",
        )
    if data_task not in model_tasks(name):
        raise ConfigError(
            f"model.name={name} is a {model_task(name)} model but data={cfg.data.name} is {data_task} data; pick data "
            f"of the model's task, or a model of the data's "
            f"(python -c 'from landmarks.models import list_models; print(list_models(\"{data_task}\"))')"
        )


def check_model_values(model: DictConfig) -> dict:
    """model.*'s set values (null keeps the registered variant's own): a probability in [0, 1) where the name
    says drop, p_ or decay, a size > 0 for integers, sizes (or flags) for lists; the constructor checks the rest
    (its choices, say)."""
    for key, value in model.items():
        if value is None or key in ("name", "_target_") or isinstance(value, (bool, str)):
            continue
        if "drop" in str(key) or str(key).startswith("p_") or str(key).endswith("decay"):
            ok, fix = fraction(value), "a probability in [0, 1)"
        elif isinstance(value, ListConfig):
            flags = all(isinstance(v, bool) for v in value)
            ok, fix = (
                len(value) > 0 and (flags or all(integer(1)(v) for v in value)),
                "a list of sizes > 0, e.g. [16,32,64]",
            )
        else:
            ok, fix = integer(1)(value), "a size: an integer > 0"
        if not ok:
            raise fail(f"model.{key}", value, fix)
    return {key: value for key, value in OmegaConf.to_container(model).items() if value is not None}


def check_recipe(cfg: DictConfig) -> None:
    """A tuned recipe applies to the model it was tuned for (its `recipe_for`), not to another model that the
    command line put in the same config group."""
    tuned_for, model = cfg.get("recipe_for"), cfg.model.get("_target_") or cfg.model.name
    if cfg.get("recipe") and tuned_for and model != tuned_for:
        raise ConfigError(
            f"recipe {cfg.recipe} (configs/recipe/) is tuned for model.name={tuned_for}, not {model}: add ~recipe "
            "to the command to train it with the generic values (or use its own config group, e.g. model=custom)"
        )


def _missing_keys(cfg: DictConfig, prefix: str = ""):
    """The dotted keys whose value is ??? (mandatory, unset)."""
    for key in cfg.keys():
        if OmegaConf.is_missing(cfg, key):
            yield f"{prefix}{key}"
        elif isinstance(cfg[key], DictConfig):
            yield from _missing_keys(cfg[key], f"{prefix}{key}.")
