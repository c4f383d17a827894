"""The model registry: every named variant is a small function registered with `@register_model`.

from landmarks.models import create_model, list_models
model = create_model("resnet20", num_classes=10, in_chans=1)
"""

import difflib
from collections.abc import Callable

import torch.nn as nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_INPUT_SIZES: dict[str, tuple[int, ...] | None] = {}
_TASKS: dict[str, tuple[str, ...]] = {}


def register_model(task: str | tuple[str, ...] = "image_classification", input_size: tuple[int, ...] | None = None):
    """Register the decorated function under its own name, for `task` or tasks, the first the one it is built
    for (image_classification: images in, logits out; translation: source and target ids in, next-token logits
    out; language_modeling: token ids in, next-token logits out; masked_language_modeling: ids in, each
    position's logits out; text_classification: ids, segment ids and attention mask in, class logits out);
    `input_size` is the paper's image (C, H, W)."""

    def register(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if fn.__name__ in _MODELS:
            raise ValueError(f"model {fn.__name__!r} is registered twice")
        tasks = (task,) if isinstance(task, str) else tuple(task)
        _MODELS[fn.__name__], _TASKS[fn.__name__], _INPUT_SIZES[fn.__name__] = fn, tasks, input_size
        return fn

    return register


def list_models(task: str | None = None) -> list[str]:
    """Every registered name, or those of one task."""
    return sorted(name for name in _MODELS if task is None or task in _TASKS[name])


def _check_name(name: str) -> None:
    if name not in _MODELS:
        close = difflib.get_close_matches(name, _MODELS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} Available: {', '.join(list_models())}.")


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model `name`; keyword arguments go to its constructor (e.g. num_classes)."""
    _check_name(name)
    return _MODELS[name](**kwargs)


def model_input_size(name: str) -> tuple[int, ...] | None:
    """The image size (C, H, W) the paper trained `name` on; None for sequence models."""
    _check_name(name)
    return _INPUT_SIZES[name]


def model_task(name: str) -> str:
    """The task `name` was built for: "image_classification", "translation", "language_modeling", ..."""
    return model_tasks(name)[0]


def model_tasks(name: str) -> tuple[str, ...]:
    """Every task `name` serves, the one it was built for first (BERT: masked LM, then text classification)."""
    _check_name(name)
    return _TASKS[name]


def parameter_count(model: nn.Module) -> str:
    """The parameters of `model` as a reader counts them: 16, 1.5k, 0.68M, 124.4M, 6.74B."""
    count = sum(p.numel() for p in model.parameters())
    if count < 1000:
        return str(count)
    if count < 100_000:
        return f"{count / 1e3:.3g}k"
    if count < 10_000_000:
        return f"{count / 1e6:.2f}M"
    if count < 1_000_000_000:
        return f"{count / 1e6:.1f}M"
    return f"{count / 1e9:.3g}B"
