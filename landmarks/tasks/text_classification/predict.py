"""A trained text classifier in other code (`landmarks.load_run(...).classify_text`)."""

import torch

from landmarks.tasks.pieces import PAD, Pieces
from landmarks.tasks.text_classification.data import padded, sequence


class TextClassifier:
    """`exported` is what TextClassification.export kept: the sentencepiece model, the classes, the block size."""

    methods = ("classify_text",)

    def __init__(self, model: torch.nn.Module, exported: dict, device: torch.device):
        self.model, self.device = model, device
        self.pieces, self.classes = Pieces(exported["pieces"]), list(exported["classes"])
        self.block_size = int(exported["block_size"])

    def classify_text(self, texts: list) -> list[str]:
        """The class of each text, or of each (text_a, text_b) pair: classify_text(["To be, or not to be"])."""
        rows = [
            sequence(self.pieces, *((text, None) if isinstance(text, str) else text), self.block_size) for text in texts
        ]
        ids, segments = (tensor.to(self.device) for tensor in padded(rows, max(len(tokens) for tokens, _ in rows)))
        with torch.no_grad():
            guesses = self.model(ids, segments, ids != PAD).argmax(-1).tolist()
        return [self.classes[guess] for guess in guesses]
