"""Adversarial examples: FGSM and PGD against their definitions and against torchattacks, accuracy under attack
from eval.py, and adversarial training."""

import json

import pytest
import torch
import torchattacks
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from eval import evaluate, parse_attack
from landmarks.build import build_task
from landmarks.config import validate
from landmarks.schema import ConfigError
from landmarks.tasks.image_classification.attacks import AttackConfig, attack, fgsm, pgd
from landmarks.tasks.image_classification.robustness import accuracy_under_attack
from tests.conftest import compose_config, tiny_run_overrides
from train import run


def small_convnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3)
    ).eval()


def test_fgsm_on_a_linear_model_is_the_analytic_worst_case():
    # two classes: the loss's gradient in x is p_other (w_other - w_true), so the step is eps sign(w_other - w_true)
    linear = torch.nn.Linear(6, 2)
    images = 0.2 + 0.6 * torch.rand(5, 6)  # away from 0 and 1: no clamping
    labels = torch.tensor([0, 1, 0, 1, 1])
    adversarial = fgsm(linear, images, labels, eps=0.1)
    worst = 0.1 * (linear.weight[1 - labels] - linear.weight[labels]).sign()
    torch.testing.assert_close(adversarial - images, worst.detach(), rtol=0, atol=1e-6)


def test_pgd_of_one_step_of_eps_without_a_random_start_is_fgsm():
    model, images, labels = small_convnet(), torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    one_step = pgd(model, images, labels, eps=0.05, steps=1, step_size=0.05, random_start=False)
    assert torch.equal(one_step, fgsm(model, images, labels, eps=0.05))


def test_training_on_fgsm_starts_at_random_in_the_ball_and_steps_one_and_a_quarter_eps():
    """Wong et al. 2020, Alg. 3: delta ~ U(-eps, eps), delta += 1.25 eps sign(grad), delta clipped to the ball."""
    model, images, labels = small_convnet(), 0.2 + 0.6 * torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    eps, config = 0.05, AttackConfig(name="fgsm", eps=0.05)
    made = attack(model, images, labels, config, torch.Generator().manual_seed(3), training=True)
    start = images + torch.empty_like(images).uniform_(-eps, eps, generator=torch.Generator().manual_seed(3))
    start.requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model(start), labels), start)
    expected = images + (start.detach() + 1.25 * eps * grad.sign() - images).clamp(-eps, eps)
    torch.testing.assert_close(made, expected, rtol=0, atol=1e-6)
    assert (made - images).abs().max() <= eps + 1e-6 and not torch.equal(made, fgsm(model, images, labels, eps))
    pgd_config = AttackConfig(name="pgd", eps=eps, steps=3)  # PGD trains on PGD's own examples
    expected_pgd = pgd(model, images, labels, eps, 3, generator=torch.Generator().manual_seed(3))
    assert torch.equal(
        attack(model, images, labels, pgd_config, torch.Generator().manual_seed(3), training=True), expected_pgd
    )


@pytest.mark.parametrize("eps", [0.0, 0.03, 0.3])
def test_pgd_never_leaves_the_ball_or_the_pixel_range(eps):
    model, labels = small_convnet(), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    images = torch.rand(8, 1, 8, 8).round()  # pixels at 0 and 1, where the clamp matters
    adversarial = pgd(model, images, labels, eps=eps, steps=5, generator=torch.Generator().manual_seed(0))
    assert (adversarial - images).abs().max() <= eps + 1e-6
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert eps == 0 or not torch.equal(adversarial, images)


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_equals_torchattacks_on_the_same_model_images_and_seed(random_start):
    model, images, labels = small_convnet(), torch.rand(16, 1, 8, 8), torch.arange(16) % 3
    reference = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=7, random_start=random_start)
    torch.manual_seed(1)
    expected = reference(images, labels)
    torch.manual_seed(1)
    ours = pgd(model, images, labels, eps=8 / 255, steps=7, step_size=2 / 255, random_start=random_start)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)  # the same arithmetic: equal to float rounding
    assert not torch.equal(ours, images)


@pytest.fixture
def image_run(tiny_fashion_mnist, tmp_path):
    cfg = compose_config(*tiny_run_overrides(tiny_fashion_mnist, "trainer.max_steps=6"))
    run(cfg, tmp_path / "run")
    return cfg, tmp_path / "run"


def test_accuracy_under_attack_at_eps_0_is_the_clean_accuracy_and_falls_with_eps(image_run):
    cfg, run_dir = image_run
    task = build_task(cfg, "cpu")
    from landmarks import load_run

    model = load_run(run_dir).model
    configs, _ = parse_attack(["attack=pgd", "attack.steps=3"])
    accuracies, examples = accuracy_under_attack(task, model, configs[0], [0.0, 0.05, 0.2], samples=128)
    assert accuracies[0.0] == task.evaluate(model, "test")["acc"]  # the 128 test images, exactly
    assert accuracies[0.2] < accuracies[0.0] and examples["eps"] == 0.2


def test_eval_reports_each_epsilon_into_metrics_and_tensorboard(image_run):
    _, run_dir = image_run
    attack = parse_attack(["attack=fgsm", "attack.eps=[0,0.1]", "attack.samples=64"])
    row = evaluate(str(run_dir), attack)
    assert {"test/fgsm_acc@0", "test/fgsm_acc@0.1"} <= set(row)
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["test/fgsm_acc@0.1"] <= saved["test/fgsm_acc@0"]
    tags = set()
    for events in run_dir.glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events), size_guidance={"images": 0})
        accumulator.Reload()
        tags |= set(accumulator.Tags()["images"]) | set(accumulator.Tags()["scalars"])
    assert {"attack/fgsm_accuracy", "attack/fgsm_examples", "attack/fgsm_acc@0.1"} <= tags


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["attack=cw"], "attack='cw': expected fgsm or pgd"),
        (["attack=pgd", "attack.eps=[0.1,-0.5]"], "attack.eps=-0.5: expected a pixel distance in"),
        (["attack=pgd", "attack.eps=2"], "attack.eps=2: expected a pixel distance in"),
        (["attack=pgd", "attack.steps=0"], "attack.steps=0: expected a number of PGD steps >= 1"),
        (["attack.eps=0.1"], "attack.\\* settings need an attack"),
    ],
)
def test_bad_attacks_get_one_line_naming_the_value(argv, message):
    with pytest.raises(SystemExit, match=message):
        parse_attack(argv)


def test_adversarial_training_trains_on_the_attack_and_only_images_take_it(tiny_fashion_mnist, tmp_path):
    adversarial = ("trainer.adversarial=pgd", "attack.steps=2", "attack.eps=0.05", "trainer.max_steps=16")
    results = run(compose_config(*tiny_run_overrides(tiny_fashion_mnist, *adversarial)), tmp_path / "robust")
    losses = [loss for _, loss in results["history"]]
    assert losses[-1] < losses[0], losses
    clean = run(compose_config(*tiny_run_overrides(tiny_fashion_mnist, "trainer.max_steps=2")), tmp_path / "clean")
    assert clean["history"][0][1] < 0.99 * losses[0]  # the same weights and batches: the attack raised the loss
    with pytest.raises(ConfigError, match="trainer.adversarial=pgd perturbs images: it needs an image"):
        validate(compose_config("model=gpt", "trainer.adversarial=pgd"))
    with pytest.raises(ConfigError, match="trainer.adversarial='cw'"):
        validate(compose_config("trainer.adversarial=cw"))
