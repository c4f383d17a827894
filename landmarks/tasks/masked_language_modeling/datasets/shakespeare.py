"""Tiny Shakespeare (Karpathy 2015), vendored in data/tinyshakespeare and sha256-verified at every load. Every
fifth speech is held out of training (landmarks/datasets.py), as the speaker-attribution task's validation and
test speeches are: of the held-out speeches, alternate ones validate and test."""

from landmarks.datasets import shakespeare_speeches
from landmarks.tasks.masked_language_modeling.datasets import DATASETS, MaskedTextConfig


@DATASETS.register("shakespeare", config=MaskedTextConfig)
def load(cfg: MaskedTextConfig) -> tuple[str, str, str]:
    speeches = shakespeare_speeches()
    train, held_out = [s.text for s in speeches if not s.held_out], [s.text for s in speeches if s.held_out]
    return "\n\n".join(train), "\n\n".join(held_out[0::2]), "\n\n".join(held_out[1::2])
