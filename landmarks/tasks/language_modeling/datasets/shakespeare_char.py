"""Tiny Shakespeare (Karpathy 2015), vendored in data/tinyshakespeare and sha256-verified at every load; with
nanoGPT's character vocabulary and split, so that validation losses compare with nanoGPT's."""

from landmarks.datasets import REPO_ROOT, DatasetError, file_hash
from landmarks.tasks.language_modeling.datasets import DATASETS, TextDataConfig

SHAKESPEARE = REPO_ROOT / "data" / "tinyshakespeare" / "input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


@DATASETS.register("shakespeare_char", config=TextDataConfig)
def load(cfg: TextDataConfig) -> str:
    if file_hash(SHAKESPEARE, "sha256") != SHAKESPEARE_SHA256:
        raise DatasetError(f"{SHAKESPEARE} fails its sha256 checksum; restore it with `git checkout {SHAKESPEARE}`")
    return SHAKESPEARE.read_text(encoding="utf-8")
