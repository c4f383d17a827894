"""Tiny Shakespeare (Karpathy 2015), vendored in data/tinyshakespeare and sha256-verified at every load; with
nanoGPT's character vocabulary and split, so that validation losses compare with nanoGPT's."""

from landmarks.datasets import shakespeare_text
from landmarks.tasks.language_modeling.datasets import DATASETS, TextDataConfig


@DATASETS.register("shakespeare_char", config=TextDataConfig)
def load(cfg: TextDataConfig) -> str:
    return shakespeare_text()
