"""A trained masked language model in other code (`landmarks.load_run(...).fill_mask`)."""

import torch

from landmarks.tasks.pieces import Pieces


class MaskPredictor:
    """`exported` is what MaskedLanguageModeling.export kept: the sentencepiece model."""

    methods = ("fill_mask",)

    def __init__(self, model: torch.nn.Module, exported: dict, device: torch.device):
        self.model, self.device = model, device
        self.pieces = Pieces(exported["pieces"])

    def fill_mask(self, text: str, top: int = 3) -> list[list[str]]:
        """The `top` guesses at each "[MASK]" of `text`, in order: fill_mask("To be or not to [MASK].")."""
        parts = text.split("[MASK]")
        ids = [self.pieces.cls]
        for index, part in enumerate(parts):
            ids += self.pieces.encode(part) if part.strip() else []
            ids += [self.pieces.mask] if index < len(parts) - 1 else [self.pieces.sep]
        inputs = torch.tensor([ids], device=self.device)
        with torch.no_grad():
            logits = self.model(inputs)[0]
        positions = (inputs[0] == self.pieces.mask).nonzero().flatten().tolist()
        return [[self.pieces.piece(i) for i in self.pieces.top_guesses(logits[p], top).tolist()] for p in positions]
