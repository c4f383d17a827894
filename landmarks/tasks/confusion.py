"""What the classification tasks share: the confusion matrix, the macro-averaged F1 read from it, and its figure
with the class names."""

import torch

from landmarks.tasks.base import new_figure


def confusion_counts(labels: torch.Tensor, predictions: torch.Tensor, k: int) -> torch.Tensor:
    """(k, k) counts on the CPU: row = true class, column = predicted."""
    return torch.bincount(labels * k + predictions, minlength=k * k).reshape(k, k).cpu()


def macro_f1(counts: torch.Tensor) -> float:
    """The mean over classes of F1 = 2 TP / (2 TP + FP + FN), over the classes that occur as truth or guess (as
    scikit-learn's f1_score(average="macro") on those labels)."""
    true_positives = counts.diag().double()
    denominator = counts.sum(0).double() + counts.sum(1).double()
    present = denominator > 0
    return (2 * true_positives[present] / denominator[present]).mean().item()


def confusion_matrix_figure(labels: torch.Tensor, predictions: torch.Tensor, classes: list[str]):
    """Counts of (true, predicted) classes, each row's share in colour and its count written in the cell."""
    k = len(classes)
    counts = confusion_counts(labels, predictions, k)
    shares = counts / counts.sum(dim=1, keepdim=True).clamp_min(1)
    figure = new_figure(2.5 + 0.45 * k, 2 + 0.4 * k)
    axes = figure.add_subplot()
    shown = axes.imshow(shares.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    for (row, col), count in zip(torch.cartesian_prod(torch.arange(k), torch.arange(k)).tolist(), counts.flatten()):
        colour = "white" if shares[row, col] > 0.5 else "black"
        axes.text(col, row, int(count), ha="center", va="center", fontsize=7, color=colour)
    axes.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(k), classes, fontsize=8)
    axes.set(
        title=f"test confusion matrix ({int(counts.trace())}/{int(counts.sum())} right)",
        xlabel="predicted",
        ylabel="true",
    )
    figure.colorbar(shown, ax=axes, shrink=0.8, label="share of the true class")
    return figure
