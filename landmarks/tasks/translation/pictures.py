"""Figures that read, for TensorBoard's IMAGES tab (matplotlib, through SummaryWriter.add_figure): heatmaps with
their tokens on both axes and a colour scale, and a confusion matrix with the class names."""

import torch


def new_figure(width: float, height: float):
    """A matplotlib Figure outside pyplot's global state (no display, no backend to choose)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def labelled_heatmap(
    weights: torch.Tensor, row_labels: list[str], col_labels: list[str], title: str, xlabel: str, ylabel: str
):
    """weights (rows, cols) in [0, 1], e.g. a target sentence's attention over its source: one labelled cell each."""
    rows, cols = weights.shape
    figure = new_figure(1.5 + 0.35 * cols, 1.2 + 0.3 * rows)
    axes = figure.add_subplot()
    shown = axes.imshow(weights.numpy(), cmap="viridis", vmin=0.0, vmax=float(weights.max()), aspect="auto")
    axes.set_xticks(range(cols), col_labels, rotation=90, fontsize=8)
    axes.set_yticks(range(rows), row_labels, fontsize=8)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    figure.colorbar(shown, ax=axes, shrink=0.8, label="attention weight")
    return figure


def confusion_matrix_figure(labels: torch.Tensor, predictions: torch.Tensor, classes: list[str]):
    """Counts of (true, predicted) classes, each row's share in colour and its count written in the cell."""
    k = len(classes)
    counts = torch.bincount(labels * k + predictions, minlength=k * k).reshape(k, k).cpu()
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
