"""Landmarks' model zoo: plain `nn.Module`s with the papers' names and sizes.

from landmarks.models import create_model, list_models
model = create_model("resnet20", num_classes=10, in_chans=1)  # (B, 1, 28, 28) -> (B, 10)
model = create_model("transformer_base", src_vocab_size=37000, tgt_vocab_size=37000)
"""

import importlib
import pkgutil

from .registry import (
    create_model,
    list_models,
    model_input_size,
    model_task,
    model_tasks,
    parameter_count,
    register_model,
)

for _module in pkgutil.iter_modules(__path__):  # each family's file registers its variants: a new file needs no edit
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "create_model",
    "list_models",
    "model_input_size",
    "model_task",
    "model_tasks",
    "parameter_count",
    "register_model",
]
