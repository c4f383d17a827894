"""Typed schemas: dataclasses whose fields carry their own rule, so that each room (the trainer, an optimizer,
a task's data) writes down the keys it reads, their types and their ranges in one place, and every bad value
ends in one `ConfigError` line naming the key, the value and the fix.

    @dataclass
    class SGDConfig(OptimConfig):
        momentum: float = rule(fraction, "a value in [0, 1), e.g. optim.momentum=0.9", default=0.9)

`typed(Schema, cfg.optim, "optim.")` checks a config group against it and returns the dataclass instance.
"""

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigTypeError, MissingMandatoryValue, ValidationError


class ConfigError(ValueError):
    """A config value out of its type or range; the message is one line: key=value, what is wrong, the fix."""


def rule(check: Callable, fix: str, default=MISSING):
    """A schema field whose set value (not null) must pass `check`; `fix` says what a good value is."""
    return dataclasses.field(default=default, metadata={"check": check, "fix": fix})


def number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive(value) -> bool:
    return number(value) and value > 0


def at_least_zero(value) -> bool:
    return number(value) and value >= 0


def fraction(value) -> bool:
    return number(value) and 0 <= value < 1


def open_fraction(value) -> bool:
    return number(value) and 0 < value < 1


def integer(minimum: int) -> Callable:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def fail(key: str, value, fix: str) -> ConfigError:
    return ConfigError(f"{key}={value!r}: expected {fix}")


def describe(annotation) -> str:
    """int | None -> "an integer, or null"."""
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}
    if typing.get_origin(annotation) in (tuple, list):
        return f"a list of {'numbers' if typing.get_origin(annotation) is list else len(typing.get_args(annotation))}"
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (types.UnionType, typing.Union) else ()
    return ", or ".join(names.get(option, str(option)) for option in options or (annotation,))


def _holds(check: Callable, value) -> bool:
    try:
        return bool(check(value))
    except TypeError:  # a string where a number belongs, say
        return False


def typed(schema: type, values: DictConfig, prefix: str):
    """`values` (a resolved config group) checked against `schema`, key by key: a key the schema lacks, a value
    of the wrong type or out of its rule's range raises ConfigError naming `prefix + key`. Returns the instance.
    The types are checked by one merge into the schema; only if it fails is each key merged alone, to name it."""
    fields, hints = {f.name: f for f in dataclasses.fields(schema)}, typing.get_type_hints(schema)
    for name in values:
        key, value = f"{prefix}{name}", values[name]
        if name not in fields:
            close = difflib.get_close_matches(name, fields, n=1, cutoff=0.6)
            hint = f"did you mean {prefix}{close[0]}? " if close else ""
            raise ConfigError(f"{key} is not a key of {prefix[:-1]}; {hint}its keys are {', '.join(fields)}")
        if dataclasses.is_dataclass(hints[name]):
            if not isinstance(value, DictConfig):
                raise fail(key, value, f"a group of keys: {', '.join(f.name for f in dataclasses.fields(hints[name]))}")
            typed(hints[name], value, f"{key}.")
    structured = OmegaConf.structured(schema)
    try:
        merged = OmegaConf.merge(structured, values)
    except (ValidationError, ConfigTypeError):  # a wrong type; a mapping where a list belongs: which key?
        for name in values:
            try:
                OmegaConf.merge(structured, {name: values[name]})
            except (ValidationError, ConfigTypeError):
                raise fail(f"{prefix}{name}", values[name], describe(hints[name])) from None
        raise
    for name in values:
        check, value = fields[name].metadata.get("check"), values[name]
        if value is not None and check and not _holds(check, value):
            raise fail(f"{prefix}{name}", value, fields[name].metadata["fix"])
    try:
        return OmegaConf.to_object(merged)
    except MissingMandatoryValue as error:
        raise ConfigError(
            f"{prefix}{error.key} is required and has no value; set it, e.g. {prefix}{error.key}=..."
        ) from None
