"""A trained language model in other code (`landmarks.load_run(...).generate`)."""

import torch

from landmarks.tasks.language_modeling.data import Codec


class TextPredictor:
    """`exported` is what LanguageModeling.export kept: the alphabet (None for bytes)."""

    methods = ("generate",)

    def __init__(self, model: torch.nn.Module, exported: dict, device: torch.device):
        self.model, self.device, self.codec = model, device, Codec(exported["alphabet"])

    def generate(self, prompt: str, length: int, top_k: int | None = 40, seed: int = 0) -> str:
        """The prompt and `length` generated characters (or bytes), sampled with top-k, reproducible for a seed."""
        idx = torch.tensor([self.codec.encode(prompt)], device=self.device)
        generator = torch.Generator(self.device).manual_seed(seed)
        with torch.no_grad():
            ids = self.model.generate(idx, length, top_k=top_k, generator=generator)
        return self.codec.decode(ids[0].tolist())
