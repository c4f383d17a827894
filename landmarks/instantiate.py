"""A model from its description: a registered name (`name`, landmarks.models' registry) or a class's import path
(`_target_`, a user's own model), with its constructor's keyword arguments.

Importing a class runs its module. A description read from a run dir (model.json, model.pt, a checkpoint's
config) names a class that whoever wrote the run chose, and a module of that name placed beside the run (the
working directory is on Python's path) would be imported and run. So, as Hugging Face's `trust_remote_code`, a
`_target_` read from a file is imported only with `trust_code=True`; registered models need no trust.
"""

import importlib
import inspect

import torch

from landmarks.models import create_model


class UntrustedCode(ValueError):
    """A run dir names a class of its own, and the user has not said to trust it."""


def import_class(path: str) -> type:
    """`my_pkg.nets.TinyNet` -> the class; a ValueError naming the path and the fix if it cannot be imported."""
    module, _, name = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name) if module else None
    except (ImportError, AttributeError) as error:
        raise ValueError(
            f"model._target_={path}: cannot import it ({type(error).__name__}: {error}); put the folder that holds "
            "its package on PYTHONPATH (or pip install it)"
        ) from None
    if not isinstance(found, type) or not issubclass(found, torch.nn.Module):
        raise ValueError(f"model._target_={path}: expected an importable nn.Module class, e.g. my_pkg.nets.TinyNet")
    return found


def instantiate(kwargs: dict, trust_code: bool, source: object = "the command line") -> torch.nn.Module:
    """The model that `kwargs` describe: `_target_` (a class's import path) or `name` (a registered model), and
    the constructor's keyword arguments. A `_target_` is imported only under `trust_code` (say it for what the
    user typed; `source` names the file a description came from); otherwise UntrustedCode names the class and the
    flag. A constructor that refuses the arguments raises one line naming the fix."""
    kwargs = dict(kwargs)
    target, name = kwargs.pop("_target_", None), kwargs.pop("name", None)
    if target is None:
        return create_model(name, **kwargs)
    if not trust_code:
        raise UntrustedCode(
            f"{source} names model._target_={target}, a class of its own, not a registered model: loading it "
            "imports and runs its module; if you trust where the run came from, say trust_code "
            "(load_run(..., trust_code=True); eval.py ... trust_code=true; train.py ... trust_code=true)"
        )
    cls = import_class(target)
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as error:
        raise ValueError(
            f"model._target_={target} does not accept the arguments {sorted(kwargs)} ({error}); its constructor "
            "takes the task's sizes from the data (docs/extending.md) and each +model.<key>=<value>"
        ) from None
    return cls(**kwargs)
