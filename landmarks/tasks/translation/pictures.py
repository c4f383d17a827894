"""Figures that read, for TensorBoard's IMAGES tab (matplotlib, through SummaryWriter.add_figure): alignments as
heatmaps with their tokens on both axes and a colour scale."""

import torch

from landmarks.tasks.base import new_figure


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
