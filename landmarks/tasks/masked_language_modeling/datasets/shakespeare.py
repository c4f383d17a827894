"""Tiny Shakespeare (Karpathy 2015), vendored in data/tinyshakespeare and sha256-verified at every load. Every
fifth speech validates (landmarks/datasets.py): the speaker-attribution task tests on the same held-out speeches."""

from landmarks.datasets import shakespeare_speeches
from landmarks.tasks.masked_language_modeling.datasets import DATASETS, MaskedTextConfig


@DATASETS.register("shakespeare", config=MaskedTextConfig)
def load(cfg: MaskedTextConfig) -> tuple[str, str]:
    speeches = shakespeare_speeches()
    return tuple("\n\n".join(s.text for s in speeches if s.held_out == held_out) for held_out in (False, True))
