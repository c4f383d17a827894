"""The model registry: every named variant is a small function registered with `@register_model`.

    from models import create_model, list_models
    model = create_model("resnet20", num_classes=10, in_chans=1)
"""
import difflib
from typing import Callable

import torch.nn as nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_INPUT_SIZES: dict[str, tuple[int, ...]] = {}


def register_model(input_size: tuple[int, ...]):
    """Register the decorated function under its own name; `input_size` is the paper's input (C, H, W)."""

    def register(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if fn.__name__ in _MODELS:
            raise ValueError(f"model {fn.__name__!r} is registered twice")
        _MODELS[fn.__name__] = fn
        _INPUT_SIZES[fn.__name__] = input_size
        return fn

    return register


def list_models() -> list[str]:
    return sorted(_MODELS)


def _check_name(name: str) -> None:
    if name not in _MODELS:
        close = difflib.get_close_matches(name, _MODELS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} Available: {', '.join(list_models())}.")


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model `name`; keyword arguments go to its constructor (e.g. num_classes)."""
    _check_name(name)
    return _MODELS[name](**kwargs)


def model_input_size(name: str) -> tuple[int, ...]:
    """The input size (C, H, W) the paper trained `name` on."""
    _check_name(name)
    return _INPUT_SIZES[name]
