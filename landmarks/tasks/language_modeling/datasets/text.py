"""Any UTF-8 text file, read whole."""

from dataclasses import dataclass
from pathlib import Path

from landmarks.datasets import TextError, read_utf8
from landmarks.schema import rule
from landmarks.tasks.language_modeling.datasets import DATASETS, TextDataConfig


@dataclass
class TextFileConfig(TextDataConfig):
    path: str = rule(lambda path: isinstance(path, str) and path.strip(), "a UTF-8 text file")


@DATASETS.register("text", config=TextFileConfig)
def load(cfg: TextFileConfig) -> str:
    path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise TextError(f"data.path={cfg.path}: no such file; point it at a UTF-8 text file")
    text = read_utf8(path)
    if not text.strip():
        raise TextError(f"data.path={cfg.path} holds no text; point it at a non-empty UTF-8 text file")
    return text
