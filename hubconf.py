"""torch.hub entry points: every registered model, by name, built with its constructor's keyword arguments, and
torchvision's pretrained weights for the models of torchvision's layout (weights="IMAGENET1K_V1" or
pretrained=True; models/pretrained.py).

    model = torch.hub.load("<path to this checkout>", "resnet20", source="local", num_classes=10, in_chans=1)
    model = torch.hub.load("<path to this checkout>", "resnet50", source="local", weights="IMAGENET1K_V2")

torch.hub imports this file from the checkout itself, so the models come from its top-level models/ folder
(installed, the same package is `landmarks.models`). `landmarks.load_run(run_dir)` gives back one you trained.
"""

from models import list_models as _list_models
from models.pretrained import hub_entry_point as _hub_entry_point

dependencies = ["torch", "einops"]

globals().update({name: _hub_entry_point(name) for name in _list_models()})


def trained(path: str, device: str = "cpu", trust_code: bool = False):
    """A model trained with Landmarks, from its run dir or the folder `python -m landmarks.export` wrote: weights
    and description only, no pickle (landmarks.load_run, which needs landmarks installed; `trust_code` as there)."""
    from landmarks.runs import load_run

    return load_run(path, device, trust_code=trust_code).model
