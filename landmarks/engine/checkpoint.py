"""Checkpoints: written to a temporary file, fsynced and renamed, so a crash never leaves a half-written one;
read back with an error that says what is wrong instead of a traceback from inside torch."""

import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"  # under trainer.early_stopping: the best validation pass's weights
REQUIRED_KEYS = ("model", "optimizer", "scheduler", "step", "config")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated or not one of ours."""


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """`write(a temporary path)` beside `path`, fsynced and renamed to `path`: a crash leaves the previous file
    whole and no temporary one behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, state: dict) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            torch.save(state, f)

    atomic_write(path, write)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run dir holding one."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise CheckpointError(
            f"No checkpoint at {path}; pass a run dir of train.py (outputs/...) or its {CHECKPOINT_NAME}."
        )
    return path


def load_safely(path: Path) -> object:
    """What torch.save wrote at `path`, read with weights_only=True: tensors and plain containers of str, int,
    float, bool and None only. A file holding other objects, whose unpickling could run code (a run dir received
    from someone else), is refused before anything in it runs."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" not in str(error):
            raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupted): {error}") from None
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain values, which could run code when loaded; it was "
            "not loaded. Load only files you trust, and share runs as their weights (checkpoint.pt of this version)"
        ) from None
    except Exception as error:  # torch raises many types for truncated or foreign files
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated, corrupted or not written by torch.save): "
            f"{type(error).__name__}: {error}"
        ) from None


def load_checkpoint(path: str | Path) -> dict:
    path = resolve_checkpoint(path)
    state = load_safely(path)
    missing = [key for key in REQUIRED_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"{path} is not a Landmarks checkpoint: it lacks {missing}.")
    return state
