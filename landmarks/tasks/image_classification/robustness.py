"""Accuracy under attack, the small fast eval of `eval.py run=<image run> attack=pgd`: the test images attacked at
each epsilon (attacks.py), the accuracy at each, and two pictures for TensorBoard: robust accuracy against
epsilon, and clean images beside their magnified perturbations and the adversarial images with their new labels."""

from dataclasses import replace

import torch

from landmarks.tasks.base import evaluating, new_figure
from landmarks.tasks.image_classification.attacks import AttackConfig, attack


def accuracy_under_attack(
    task, model, config: AttackConfig, eps_values: list[float], samples: int = 1000, split: str = "test"
) -> tuple[dict[float, float], dict]:
    """Accuracy on the first `samples` images of `split` under `config`'s attack at each epsilon (random starts
    drawn from the run's seed), and a few examples at the largest epsilon for `log_attack`."""
    data, classify = getattr(task.data, split), task.classifier(model)
    count = min(samples, len(data))
    chunks = [slice(start, min(start + task.eval_batch_size, count)) for start in range(0, count, task.eval_batch_size)]
    device = data.labels.device
    generator = torch.Generator(device).manual_seed(task.seed)
    correct = {eps: torch.zeros((), device=device) for eps in eps_values}
    examples = {}
    with evaluating(model):
        for chunk, images in zip(chunks, data.batches(chunks)):
            clean, labels = images.float() / 255, data.labels[chunk]
            for eps in eps_values:
                adversarial = attack(classify, clean, labels, replace(config, eps=eps), generator)
                predicted = classify(adversarial).argmax(1)
                correct[eps] += (predicted == labels).sum()
                if not examples and eps == max(eps_values):
                    examples = {"clean": clean[:8], "adversarial": adversarial[:8], "labels": labels[:8]}
                    examples |= {"predicted": predicted[:8], "before": classify(clean[:8]).argmax(1), "eps": eps}
    return {eps: value.item() / count for eps, value in correct.items()}, examples


def log_attack(writer, name: str, accuracies: dict[float, float], examples: dict, classes: list[str], step: int):
    writer.add_figure(f"attack/{name}_accuracy", accuracy_curve(name, accuracies), step)
    writer.add_figure(f"attack/{name}_examples", examples_figure(examples, classes), step)


def accuracy_curve(name: str, accuracies: dict[float, float]):
    figure = new_figure(5, 3.5)
    axes = figure.add_subplot()
    eps = sorted(accuracies)
    axes.plot(eps, [accuracies[e] for e in eps], marker="o")
    axes.set(xlabel="epsilon (L-infinity, pixels in [0, 1])", ylabel="test accuracy", ylim=(0, 1))
    axes.set_title(f"accuracy under {name.upper()}")
    axes.grid(alpha=0.3)
    return figure


def examples_figure(examples: dict, classes: list[str]):
    """Three rows: the clean images (true label -> prediction), the perturbations magnified to the full grey
    range, and the adversarial images (their new prediction)."""
    clean, adversarial = examples["clean"].cpu(), examples["adversarial"].cpu()
    delta = adversarial - clean
    magnified = 0.5 + 0.5 * delta / max(examples["eps"], 1e-12)
    columns = len(clean)
    figure = new_figure(1.3 * columns, 4.4)
    rows = (("clean", clean, examples["before"]), ("perturbation", magnified, None),
            ("adversarial", adversarial, examples["predicted"]))  # fmt: skip
    for row, (title, images, predicted) in enumerate(rows):
        for column in range(columns):
            axes = figure.add_subplot(3, columns, row * columns + column + 1)
            picture = images[column].clamp(0, 1).permute(1, 2, 0).squeeze(-1).numpy()
            axes.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
            axes.set_xticks([]), axes.set_yticks([])
            if predicted is not None:
                truth = classes[examples["labels"][column]] if row == 0 else ""
                label = classes[predicted[column]]
                axes.set_title(f"{truth} -> {label}" if truth else label, fontsize=7)
            elif column == 0:
                axes.set_title(f"x{0.5 / max(examples['eps'], 1e-12):.3g}", fontsize=7)
            if column == 0:
                axes.set_ylabel(title, fontsize=8)
    return figure
