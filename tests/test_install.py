"""Installed as a user installs it: a wheel, not the editable checkout, in a fresh virtual environment, used from
a project that has its own `models.py`, as most projects do: `landmarks.models` collides with nothing. The wheel
holds every package of the source tree, and every task runs from it."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from landmarks.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]


def source_packages() -> set[str]:
    """Every package of the checkout as the wheel must install it: landmarks.* and models/ as landmarks.models."""
    found = set()
    for root, prefix in ((REPO / "landmarks", "landmarks"), (REPO / "models", "landmarks.models")):
        for init in root.rglob("__init__.py"):
            found.add(".".join([prefix, *init.parent.relative_to(root).parts]))
    return found


def test_the_wheel_holds_every_package_and_each_task_runs_from_it_beside_a_projects_own_models(tmp_path):
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ behind
    shutil.copytree(
        REPO, source, ignore=shutil.ignore_patterns(".*", "*.egg-info", "outputs", "data", "build", "__pycache__")
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, source],
        check=True,
    )
    (wheel,) = wheels.glob("landmarks-*.whl")
    in_wheel = {str(Path(name).parent).replace("/", ".") for name in zipfile.ZipFile(wheel).namelist()}
    assert source_packages() - in_wheel == set()
    assert "landmarks.tasks.text_classification.datasets" in source_packages()  # the one a hand-made list forgot

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
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel], check=True)
    project = tmp_path / "project"
    project.mkdir()
    (project / "models.py").write_text('NAME = "the project\'s own models"\n')
    script = (
        "import models, landmarks.models as zoo\n"
        "from landmarks.tasks import TASKS, task_class\n"
        "tasks = [task_class(name) for name in TASKS]\n"
        "assert all(task.datasets.names() for task in tasks)  # each task's datasets, found in the wheel\n"
        "from landmarks.tasks.image_generation.fid import SHIPPED\n"
        "assert (SHIPPED / 'fashion_mnist' / 'model.safetensors').exists()  # the FID's classifier too\n"
        "model = zoo.create_model('resnet20', num_classes=10, in_chans=1)\n"
        "print(models.NAME, type(model).__name__, zoo.__file__, len(tasks), sep='|')\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    out = subprocess.run([python, "-c", script], cwd=project, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    name, model_class, location, tasks = out.stdout.strip().split("|")
    assert name == "the project's own models" and model_class == "ResNet" and tasks == str(len(TASKS))
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
