"""The typed schema of a composed config, checked before anything is built: every bad value ends in one
`ConfigError` line that names the key, the value and the fix.

Types come from dataclasses merged with OmegaConf (`trainer`, `optim`); ranges and choices from `RULES`, one
line a key, which also covers the data and model groups, whose keys differ from one option to the next.
We check here rather than through Hydra's ConfigStore because Hydra's own errors at composition are a
paragraph with a traceback hint, and they stop before a run could say which recipe it used.
"""

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Callable

import torch
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigTypeError, ValidationError

from landmarks.models import list_models


class ConfigError(ValueError):
    """A config value out of its type or range; the message is one line: key=value, what is wrong, the fix."""


@dataclasses.dataclass
class TrainerSchema:
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    num_threads: int | None = None
    epochs: float | None = 10.0
    steps: int | None = None
    max_steps: int | None = None
    batch_size: int = 128
    grad_accum: int = 1
    grad_clip: float | None = None
    label_smoothing: float = 0.0
    lookahead: float | None = None
    log_every: int = 50
    eval_every: int = 200
    ckpt_every: int = 500
    target: str | None = None
    peak_flops: float | None = None
    resume: str | None = None
    progress: bool = True


@dataclasses.dataclass
class OptimSchema:
    name: str = MISSING
    lr: float = MISSING
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup: float = 0.0
    momentum: float = 0.9  # sgd
    nesterov: bool = True  # sgd
    norm_lr_scale: float = 1.0
    betas: tuple[float, float] = (0.9, 0.999)  # adamw
    eps: float = 1e-8  # adamw


def number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive(value) -> bool:
    return number(value) and value > 0


def at_least_zero(value) -> bool:
    return number(value) and value >= 0


def fraction(value) -> bool:
    return number(value) and 0 <= value < 1


def integer(minimum: int) -> Callable:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def flag(value) -> bool:
    return isinstance(value, bool)


def one_of(*choices) -> Callable:
    return lambda value: value in choices


def device_available(name: str) -> bool:
    if name in ("auto", "cpu"):
        return True
    kind, _, index = name.partition(":")
    if kind == "cuda":
        return torch.cuda.is_available() and (not index or index.isdigit() and int(index) < torch.cuda.device_count())
    return kind == "mps" and not index and torch.backends.mps.is_available()


# key: (the check, what a good value is). A null value passes wherever the schema allows one.
RULES: dict[str, tuple[Callable, str]] = {
    "seed": (integer(0), "an integer >= 0, e.g. seed=0"),
    "trainer.device": (
        lambda name: isinstance(name, str) and device_available(name),
        "a device this machine has: auto, cpu, cuda, cuda:N or mps",
    ),
    "trainer.precision": (one_of("auto", "bf16", "fp32"), "auto, bf16 or fp32"),
    "trainer.num_threads": (positive, "a number of threads > 0, or null for PyTorch's choice"),
    "trainer.epochs": (positive, "a number of passes > 0 (fractions allowed), e.g. trainer.epochs=3"),
    "trainer.steps": (positive, "a number of steps > 0, or null to count the run in trainer.epochs"),
    "trainer.max_steps": (positive, "a number of steps > 0, or null to run the whole schedule"),
    "trainer.batch_size": (positive, "a number of samples > 0, e.g. trainer.batch_size=128"),
    "trainer.grad_accum": (positive, "a number of micro-batches > 0 that divides trainer.batch_size"),
    "trainer.grad_clip": (positive, "a gradient norm > 0, or null for no clipping"),
    "trainer.label_smoothing": (fraction, "a value in [0, 1), e.g. trainer.label_smoothing=0.1"),
    "trainer.lookahead": (lambda d: number(d) and 0 < d < 1, "a decay in (0, 1), e.g. 0.95, or null for none"),
    "trainer.log_every": (positive, "a number of steps > 0, e.g. trainer.log_every=50"),
    "trainer.eval_every": (at_least_zero, "a number of steps >= 0 (0 = validate only at the end)"),
    "trainer.ckpt_every": (at_least_zero, "a number of steps >= 0 (0 = a checkpoint only at the end)"),
    "trainer.peak_flops": (positive, "the device's peak FLOP/s > 0, or null to measure it"),
    "optim.name": (one_of("sgd", "adamw", "muon"), "optim=sgd, optim=adamw or optim=muon"),
    "optim.lr": (positive, "a learning rate > 0, e.g. optim.lr=1e-3"),
    "optim.weight_decay": (at_least_zero, "a value >= 0, e.g. optim.weight_decay=0.05"),
    "optim.schedule": (
        one_of("cosine", "onecycle", "constant", "inverse_sqrt"),
        "cosine, onecycle, constant or inverse_sqrt",
    ),
    "optim.warmup": (fraction, "a fraction of the run's steps in [0, 1), e.g. optim.warmup=0.05"),
    "optim.momentum": (fraction, "a value in [0, 1), e.g. optim.momentum=0.9"),
    "optim.betas": (lambda betas: len(betas) == 2 and all(fraction(b) for b in betas), "two values in [0, 1)"),
    "optim.norm_lr_scale": (positive, "a multiplier > 0 of the normalisation parameters' learning rate"),
    "optim.eps": (positive, "a value > 0, e.g. optim.eps=1e-8"),
    "trainer.target": (lambda t: re.fullmatch(r"(val/)?\w+:[-+.\deE]+", str(t)), "<metric>:<value>, e.g. acc:0.91"),
    "data.download": (flag, "true or false"),
    "data.channels_last": (flag, "true or false"),
    "data.augment.flip": (flag, "true or false"),
    "data.augment.tta_flip": (flag, "true or false"),
    "data.generator_seed": (integer(0), "an integer >= 0"),
    "data.split_seed": (integer(0), "an integer >= 0"),
    "data.num_classes": (integer(2), "an integer >= 2"),
    "data.in_chans": (integer(1), "an integer >= 1"),
    "data.image_size": (integer(1), "an integer >= 1"),
    "data.val_size": (integer(0), "a number of samples >= 0"),
    "data.test_size": (integer(1), "a number of samples >= 1, or null for all"),
    "data.train_size": (integer(1), "a number of samples >= 1"),
    "data.max_len": (integer(1), "a number of tokens >= 1"),
    "data.min_freq": (integer(1), "a count >= 1"),
    "data.vocab_size": (integer(260), "a number of subword pieces >= 260 (the 256 byte pieces and 4 specials)"),
    "data.beam_size": (integer(1), "a beam width >= 1 (1 = greedy)"),
    "data.level": (
        one_of("subword", "word", "char", "byte"),
        "subword, word or char (translation), char or byte (language modelling)",
    ),
    "data.block_size": (integer(1), "a context length >= 1, e.g. data.block_size=64"),
    "data.val_windows": (integer(1), "a number of windows >= 1"),
    "data.sample_length": (integer(1), "a number of tokens >= 1"),
    "data.val_fraction": (lambda f: number(f) and 0 < f < 1, "a fraction in (0, 1), e.g. data.val_fraction=0.1"),
    "data.test_fraction": (lambda f: number(f) and 0 < f < 1, "a fraction in (0, 1), e.g. data.test_fraction=0.2"),
    "data.max_memory_gb": (positive, "a number of gigabytes > 0, e.g. data.max_memory_gb=4"),
    "data.num_workers": (integer(0), "a number of worker processes >= 0 (0 decodes in the main process)"),
    "data.path": (lambda path: isinstance(path, str) and path.strip(), "a file or folder path"),
    "data.augment.crop_padding": (integer(0), "a number of pixels >= 0"),
    "data.augment.tta_translate": (integer(0), "a number of pixels >= 0 (0 = no translated views)"),
}


def fail(key: str, value, fix: str) -> ConfigError:
    return ConfigError(f"{key}={value!r}: expected {fix}")


def typed(cfg: DictConfig, group: str, schema) -> None:
    """Merge each key of `cfg[group]` into its schema: a value of the wrong type raises ConfigError."""
    fields = {field.name: field for field in dataclasses.fields(schema)}
    for name in cfg[group]:
        try:
            OmegaConf.merge(OmegaConf.structured(schema), {name: cfg[group][name]})
        except (ValidationError, ConfigTypeError):  # a wrong type; a mapping where a list belongs
            key = f"{group}.{name}"
            raise fail(
                key,
                OmegaConf.select(cfg, key),
                describe(fields[name].type) if name in fields else "a key of the schema",
            ) from None


def describe(annotation) -> str:
    """int | None -> "an integer, or null"."""
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}
    if typing.get_origin(annotation) is tuple:
        return f"a list of {len(typing.get_args(annotation))} numbers"
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (types.UnionType, typing.Union) else ()
    return ", or ".join(names.get(option, str(option)) for option in options or (annotation,))


def check_ranges(cfg: DictConfig) -> None:
    for key, (check, fix) in RULES.items():
        value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        if value is None:
            continue
        if not _holds(check, value):
            raise fail(key, value, fix)


def _holds(check: Callable, value) -> bool:
    try:
        return bool(check(value))
    except TypeError:  # a string where a number belongs, say
        return False


# Model keys that are not positive sizes: their allowed values (a tuple) or type.
MODEL_VALUES: dict[str, tuple | type] = {
    "stem": ("pool", "cifar", "imagenet"),
    "shortcut": ("A", "B"),
    "attention": ("bahdanau", "luong"),
    "zero_init_residual": bool,
    "norm_first": bool,
    "share_embeddings": bool,
    "whitening": bool,
}


def check_model(cfg: DictConfig) -> None:
    """A registered name; every set value of `model` a positive size (or a list of them), a probability in
    [0, 1) if its name says drop, or one of the values MODEL_VALUES allows. Null keeps the variant's own."""
    name = cfg.model.name
    if name not in list_models():
        close = difflib.get_close_matches(str(name), list_models(), n=3, cutoff=0.5)
        raise fail(
            "model.name",
            name,
            "a registered model"
            + (f", e.g. {', '.join(close)}" if close else "")
            + "; python -c 'from landmarks.models import list_models; print(list_models())'",
        )
    for key, value in cfg.model.items():
        allowed = MODEL_VALUES.get(key)
        if value is None or key == "name":
            continue
        if isinstance(allowed, tuple):
            ok, fix = value in allowed, " or ".join(allowed)
        elif allowed is bool:
            ok, fix = isinstance(value, bool), "true or false"
        elif "drop" in str(key):
            ok, fix = fraction(value), "a probability in [0, 1)"
        elif isinstance(value, ListConfig):
            ok, fix = len(value) > 0 and all(integer(1)(v) for v in value), "a list of sizes > 0, e.g. [16,32,64]"
        else:
            ok, fix = integer(1)(value), "a size: an integer > 0"
        if not ok:
            raise fail(f"model.{key}", value, fix)


def validate(cfg: DictConfig) -> DictConfig:
    """Check a composed config; return it unchanged, or raise ConfigError naming the first bad key."""
    missing = sorted(_missing_keys(cfg))
    if missing:
        example = "data=tsv data.path=pairs.tsv" if missing[0] == "data.path" else f"{missing[0]}=..."
        raise ConfigError(f"{missing[0]} is required and has no value; set it on the command line, e.g. {example}")
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except Exception as error:  # an interpolation to a missing key, say
        raise ConfigError(
            f"the config does not resolve: {type(error).__name__}: {str(error).splitlines()[0]}"
        ) from None
    typed(cfg, "trainer", TrainerSchema)
    typed(cfg, "optim", OptimSchema)
    check_ranges(cfg)
    check_model(cfg)
    if cfg.trainer.steps is None and cfg.trainer.epochs is None:
        raise ConfigError("trainer.epochs=None and trainer.steps=None: set one of them, the run's length")
    return cfg


def _missing_keys(cfg: DictConfig, prefix: str = ""):
    """The dotted keys whose value is ??? (mandatory, unset)."""
    for key in cfg.keys():
        if OmegaConf.is_missing(cfg, key):
            yield f"{prefix}{key}"
        elif isinstance(cfg[key], DictConfig):
            yield from _missing_keys(cfg[key], f"{prefix}{key}.")
