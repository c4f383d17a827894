"""The pictures read: heatmaps carry their tokens on both axes and a colour scale, the confusion matrix its class
names and counts, attention rollout its colours over the image's own."""

import torch

from landmarks.tasks.confusion import confusion_matrix_figure
from landmarks.tasks.image_classification.pictures import overlay
from landmarks.tasks.translation.pictures import labelled_heatmap


def tick_texts(labels) -> list[str]:
    return [label.get_text() for label in labels]


def test_an_alignment_heatmap_names_its_tokens_and_has_a_colour_scale():
    weights = torch.softmax(torch.randn(3, 4), dim=1)
    figure = labelled_heatmap(weights, ["▁Ein", "▁Hund", "."], ["▁A", "▁dog", ".", "</s>"], "t", "source", "target")
    axes, colorbar = figure.axes
    assert tick_texts(axes.get_xticklabels()) == ["▁A", "▁dog", ".", "</s>"]
    assert tick_texts(axes.get_yticklabels()) == ["▁Ein", "▁Hund", "."]
    assert colorbar.get_ylabel() == "attention weight"
    torch.testing.assert_close(torch.as_tensor(axes.images[0].get_array()), weights)


def test_the_confusion_matrix_counts_each_true_and_predicted_class():
    labels, predictions = torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 2, 2, 0])
    figure = confusion_matrix_figure(labels, predictions, ["cat", "dog", "owl"])
    axes = figure.axes[0]
    counts = [int(text.get_text()) for text in axes.texts]
    assert counts == [1, 1, 0, 0, 1, 0, 1, 0, 2]  # row by row: true cat, dog, owl
    assert tick_texts(axes.get_xticklabels()) == ["cat", "dog", "owl"] and "4/6 right" in axes.get_title()


def test_attention_rollout_is_painted_in_colour_over_the_image():
    images = torch.full((1, 1, 8, 8), 128, dtype=torch.uint8)
    heat = torch.zeros(1, 2, 2)
    heat[0, 0, 0] = 1.0
    painted = overlay(images, heat)
    assert painted.shape == (1, 3, 8, 8) and 0 <= painted.min() and painted.max() <= 1
    hot, cold = painted[0, :, 0, 0], painted[0, :, 7, 7]
    assert hot[0] > hot[2] and hot[0] - cold[0] > 0.3  # yellow-red where attended, dark elsewhere
