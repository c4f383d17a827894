"""Adversarial examples: FGSM (Goodfellow et al. 2015, Eq. 1) and PGD in the L-infinity ball (Madry et al. 2018,
Sec. 2.1 and Eq. 2: projected steps of the gradient's sign from a random start), on images in [0, 1] before
normalisation, so that epsilon is in pixel units (0.1 = 25.5/255). Training on FGSM follows Wong et al. 2020
("Fast is better than free", Alg. 3): from a random point of the ball, a step of 1.25 eps.

`classify(images) -> logits` is the model with its normalisation (and test-time views) around it, in eval mode;
every perturbed image stays within epsilon of its original and within [0, 1].
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from landmarks.schema import positive, rule


def pixel_fraction(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


@dataclass
class AttackConfig:
    """`attack.*`: the attack of `eval.py attack=...` and of `trainer.adversarial=...` (adversarial training)."""

    name: str = rule(lambda n: n in ATTACKS, "fgsm or pgd", default="pgd")
    eps: float = rule(pixel_fraction, "a pixel distance in [0, 1], e.g. attack.eps=0.1 (25.5/255)", default=0.1)
    steps: int = rule(lambda s: isinstance(s, int) and s >= 1, "a number of PGD steps >= 1, e.g. 10", default=10)
    step_size: float | None = rule(
        positive, "a step in pixels > 0, or null for 2.5 eps / steps (Madry et al.'s robustness library)", default=None
    )
    random_start: bool = True  # PGD starts at a uniform point of the ball (Madry et al.); FGSM at test never does


def fgsm(classify: Callable, images: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """x + eps sign(grad_x J(x, y)), clamped to [0, 1] (Goodfellow et al. 2015, Eq. 1)."""
    return signed_step(classify, images, images, labels, eps, eps)


def pgd(
    classify: Callable,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """`steps` signed gradient steps of `step_size` (default 2.5 eps / steps), each projected back onto the
    L-infinity ball of radius eps around `images` and onto [0, 1] (Madry et al. 2018, Eq. 2), from a uniform
    random point of the ball if `random_start`."""
    alpha = 2.5 * eps / steps if step_size is None else step_size
    adversarial = images
    if random_start:
        adversarial = (images + torch.empty_like(images).uniform_(-eps, eps, generator=generator)).clamp(0, 1)
    for _ in range(steps):
        adversarial = signed_step(classify, adversarial, images, labels, alpha, eps)
    return adversarial


def signed_step(classify, current, images, labels, alpha: float, eps: float) -> torch.Tensor:
    """One step up the loss's gradient sign from `current`, projected onto the eps-ball around `images` and [0, 1]."""
    current = current.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(classify(current).float(), labels)
        (grad,) = torch.autograd.grad(loss, current)
    stepped = current.detach() + alpha * grad.sign()
    return (images + (stepped - images).clamp(-eps, eps)).clamp(0, 1).detach()


def attack(
    classify: Callable,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: AttackConfig,
    generator: torch.Generator | None = None,
    training: bool = False,
) -> torch.Tensor:
    """The adversarial images of `config`'s attack (the images themselves at epsilon 0). `training`: those that
    trainer.adversarial trains on, where FGSM's are Wong et al.'s (2020, Alg. 3): one signed step of 1.25 eps from
    a uniform random point of the ball, projected back; from the clean point alone, FGSM training overfits
    catastrophically (their Sec. 4: robustness to PGD collapses)."""
    if config.eps == 0:
        return images
    if config.name == "fgsm" and training:
        return pgd(classify, images, labels, config.eps, 1, FAST_FGSM_STEP * config.eps, True, generator)
    if config.name == "fgsm":
        return fgsm(classify, images, labels, config.eps)
    return pgd(classify, images, labels, config.eps, config.steps, config.step_size, config.random_start, generator)


ATTACKS = ("fgsm", "pgd")
FAST_FGSM_STEP = 1.25  # Wong et al. 2020's step, in units of eps
