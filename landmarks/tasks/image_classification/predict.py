"""A trained image classifier in other code (`landmarks.load_run(...).classify`)."""

import torch

from landmarks.tasks.image_classification.data import multi_view_logits


class ImagePredictor:
    """`exported` is what ImageClassification.export kept: class names, normalisation, test-time views."""

    methods = ("classify",)

    def __init__(self, model: torch.nn.Module, exported: dict, device: torch.device):
        self.model, self.exported, self.device = model, exported, device

    def classify(self, images: torch.Tensor) -> list[str]:
        """The class names of images (B, C, H, W) with values in [0, 1], at the size the model trained on."""
        exported = self.exported
        mean, std = exported["mean"].to(self.device), exported["std"].to(self.device)
        images = images.to(self.device, torch.float32)
        with torch.no_grad():
            logits = multi_view_logits(
                self.model, images, lambda x: (x - mean) / std, exported["tta_flip"], exported["tta_translate"]
            )
        return [exported["classes"][i] for i in logits.argmax(dim=1).tolist()]
