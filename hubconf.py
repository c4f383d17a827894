"""torch.hub entry points: every registered model, by name, built with its constructor's keyword arguments.

    model = torch.hub.load("<path to this checkout>", "resnet20", source="local", num_classes=10, in_chans=1)

torch.hub imports this file from the checkout itself, so the models come from its top-level models/ folder
(installed, the same package is `landmarks.models`). No pretrained weights are published: models start from
their papers' initialisation; `landmarks.load_run(run_dir)` gives back one you trained.
"""

from models import create_model as _create_model
from models import list_models as _list_models
from models.registry import _MODELS

dependencies = ["torch", "einops"]


def _entry_point(name: str):
    def build(**kwargs):
        return _create_model(name, **kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = _MODELS[name].__doc__
    return build


globals().update({name: _entry_point(name) for name in _list_models()})
