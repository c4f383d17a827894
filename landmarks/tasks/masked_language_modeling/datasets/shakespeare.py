"""Tiny Shakespeare (Karpathy 2015), vendored in data/tinyshakespeare and sha256-verified at every load."""

from landmarks.datasets import shakespeare_text
from landmarks.tasks.masked_language_modeling.datasets import DATASETS, MaskedTextConfig


@DATASETS.register("shakespeare", config=MaskedTextConfig)
def load(cfg: MaskedTextConfig) -> str:
    return shakespeare_text()
