"""The corpora of masked language modelling, one file each, registered in DATASETS under their `data.source` name
with the schema of the `data.*` keys they read. A loader returns the corpus's training, validation and test text
(held out from training); data.py tokenizes and packs them."""

from dataclasses import dataclass

from landmarks.registry import Registry
from landmarks.schema import fraction, integer, open_fraction, rule
from landmarks.tasks.base import DataConfig

DATASETS = Registry("text corpus", "data.source", package=__name__)


@dataclass
class MaskedTextConfig(DataConfig):
    """The `data.*` keys every corpus reads (configs/data/shakespeare_mlm.yaml says each one's use)."""

    task: str = "masked_language_modeling"
    vocab_size: int = rule(integer(16), "a number of subword pieces >= 16, e.g. data.vocab_size=2000", default=2000)
    block_size: int = rule(integer(8), "a sequence length >= 8 tokens, e.g. data.block_size=128", default=128)
    mask_prob: float = rule(open_fraction, "a fraction in (0, 1), e.g. data.mask_prob=0.15", default=0.15)
    replace_with_mask: float = rule(fraction, "a fraction in [0, 1)", default=0.8)
    replace_with_random: float = rule(fraction, "a fraction in [0, 1)", default=0.1)
    whole_word: bool = False
    val_sequences: int = rule(integer(1), "a number of sequences >= 1", default=256)  # of validation, and of test
