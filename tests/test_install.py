"""Installed as a user installs it: a wheel, not the editable checkout, in a fresh virtual environment, used from
a project that has its own `models.py`, as most projects do: `landmarks.models` collides with nothing."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_installed_package_imports_as_landmarks_models_beside_a_projects_own_models(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dependencies = [path for path in sys.path if path.endswith("site-packages")]  # torch and the rest, not us
    Path(purelib, "dependencies.pth").write_text("\n".join(dependencies) + "\n")
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ behind
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".*", "outputs", "data", "build", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", str(source)], check=True
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "models.py").write_text('NAME = "the project\'s own models"\n')
    script = (
        "import models, landmarks.models as zoo\n"
        "model = zoo.create_model('resnet20', num_classes=10, in_chans=1)\n"
        "print(models.NAME, type(model).__name__, zoo.__file__, sep='|')\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    out = subprocess.run([python, "-c", script], cwd=project, env=env, capture_output=True, text=True, check=True)
    name, model_class, location = out.stdout.strip().split("|")
    assert name == "the project's own models" and model_class == "ResNet"
    assert location.startswith(str(venv)) and not location.startswith(str(REPO))  # the wheel, not this checkout


def test_torch_hub_loads_models_from_the_checkout():
    import torch

    model = torch.hub.load(str(REPO), "resnet20", source="local", num_classes=10, in_chans=1)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    gpt = torch.hub.load(str(REPO), "gpt_tiny", source="local", vocab_size=65)
    assert gpt(torch.zeros(1, 8, dtype=torch.long)).shape == (1, 8, 65)
    with pytest.raises(RuntimeError, match="Cannot find callable resnet21 in hubconf"):
        torch.hub.load(str(REPO), "resnet21", source="local")


def test_torch_hub_loads_torchvisions_weights_by_name_or_file_and_refuses_them_for_other_models(tmp_path, monkeypatch):
    """Offline: torchvision's download is replaced by a local state dict of torchvision's own resnet18."""
    import torch
    import torchvision
    import torchvision.models._api as torchvision_api

    reference = torchvision.models.resnet18().eval()
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    urls = []

    def download(url, *args, **kwargs):
        urls.append(url)
        return torch.load(tmp_path / "resnet18.pth", weights_only=True)

    monkeypatch.setattr(torchvision_api, "load_state_dict_from_url", download)
    images = torch.randn(2, 3, 64, 64)
    for weights in ({"weights": "IMAGENET1K_V1"}, {"pretrained": True}, {"weights": str(tmp_path / "resnet18.pth")}):
        model = torch.hub.load(str(REPO), "resnet18", source="local", **weights).eval()
        torch.testing.assert_close(model(images), reference(images))
    assert urls == [torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url] * 2  # DEFAULT is IMAGENET1K_V1 here
    with pytest.raises(
        ValueError, match=r"^weights='IMAGENET9K': not a file, nor one of torchvision's ResNet18_Weights"
    ):
        torch.hub.load(str(REPO), "resnet18", source="local", weights="IMAGENET9K")
    with pytest.raises(ValueError, match=r"^no pretrained weights exist for resnet20: it starts from its paper's init"):
        torch.hub.load(str(REPO), "resnet20", source="local", pretrained=True)
