"""Every registered image model: output shape, gradients reaching every parameter, finite values, clear errors."""

import pytest
import torch
from landmarks.models import create_model, list_models, model_input_size, parameter_count, register_model


def small_test_case(name: str) -> tuple[dict, int]:
    """Constructor overrides and an image size that keep each test to a second or so: convnets run at 64 px
    (adaptive pooling takes any size); transformers at their own size, cut to two layers."""
    channels, height, _ = model_input_size(name)
    if name.startswith("vit_") and height > 64:
        return {"depth": 2}, height
    return {}, min(height, 64)


@pytest.mark.parametrize("name", list_models("image_classification"))
def test_forward_backward(name):
    torch.manual_seed(0)
    overrides, size = small_test_case(name)
    model = create_model(name, num_classes=7, **overrides)
    x = torch.randn(2, model_input_size(name)[0], size, size)
    logits = model(x)
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()
    logits.square().mean().backward()
    for param_name, param in model.named_parameters():
        if not param.requires_grad:  # frozen by design (airbench's whitening filters, BatchNorm scales)
            assert param.grad is None and name.startswith("airbench"), f"{name}: {param_name} is frozen"
            continue
        assert param.grad is not None, f"{name}: no gradient reaches {param_name}"
        assert torch.isfinite(param.grad).all(), f"{name}: non-finite gradient in {param_name}"
        assert param.grad.any(), f"{name}: the gradient of {param_name} is zero: the parameter does not learn"


def test_unknown_model_names_close_matches():
    with pytest.raises(ValueError, match=r"Unknown model 'resnet5'.*Did you mean .*resnet50"):
        create_model("resnet5")


def test_registering_a_name_twice_raises():
    with pytest.raises(ValueError, match="registered twice"):

        @register_model(input_size=(3, 32, 32))
        def resnet20(**kwargs):  # noqa: F811
            return torch.nn.Identity()


@pytest.mark.parametrize("name", list_models("image_classification"))
def test_wrong_input_channels_name_the_fix(name):
    channels, height, width = model_input_size(name)
    with torch.device("meta"):  # the check runs before any arithmetic: no memory, no time
        model = create_model(name)
        images = torch.empty(2, channels + 1, height, width)
    with pytest.raises(
        ValueError,
        match=rf"expected images of shape \(B, {channels}, H, W\), "
        rf"got \(2, {channels + 1}, {height}, {width}\).*in_chans={channels + 1}",
    ):
        model(images)


def test_models_import_nothing_from_hydra_or_the_loop():
    """README: plain nn.Modules. A fresh interpreter that builds one of every family loads no Hydra, OmegaConf
    or landmarks package beyond landmarks.models."""
    import subprocess
    import sys

    code = (
        "import sys; from landmarks.models import create_model, list_models\n"
        "for task in ('image_classification', 'translation', 'language_modeling'): list_models(task)\n"
        "create_model('resnet20', num_classes=10, in_chans=1); create_model('gpt_tiny', vocab_size=65)\n"
        "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf') or "
        "(m.startswith('landmarks') and not m.startswith('landmarks.models'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == ["landmarks"], loaded  # the package itself (its __init__ imports nothing), nothing under it


def test_parameter_counts_read_as_a_person_counts_them():
    assert parameter_count(torch.nn.Linear(10, 100)) == "1.1k" and parameter_count(torch.nn.Linear(3, 4)) == "16"
    assert parameter_count(torch.nn.Linear(1000, 1000)) == "1.00M"
    with torch.device("meta"):
        assert (
            parameter_count(create_model("gpt2")) == "124.4M" and parameter_count(create_model("llama_7b")) == "6.74B"
        )
