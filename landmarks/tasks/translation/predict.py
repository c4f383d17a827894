"""A trained translation model in other code (`landmarks.load_run(...).translate`)."""

import torch

from landmarks.tasks.translation.decoding import translate_ids
from landmarks.tasks.translation.tokenizers import BOS, EOS, PAD, normalize, tokenizer_from_state


class TranslationPredictor:
    """`exported` is what Translation.export kept: the tokenizer's state and the test-time beam width."""

    methods = ("translate",)

    def __init__(self, model: torch.nn.Module, exported: dict, device: torch.device):
        self.model, self.exported, self.device = model, exported, device
        self.tokenizer = tokenizer_from_state(exported["tokenizer"])

    def translate(self, sentences: list[str], beam_size: int | None = None) -> list[str]:
        """Translations of `sentences`, by beam search of the run's test-time width (greedy with width 1)."""
        rows = [torch.tensor(self.tokenizer.encode(normalize(sentence))) for sentence in sentences]
        src = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=PAD).to(self.device)
        ids = translate_ids(
            self.model, src, bos=BOS, eos=EOS, pad=PAD, beam_size=beam_size or self.exported["beam_size"]
        )
        return [self.tokenizer.decode(row) for row in ids.tolist()]
