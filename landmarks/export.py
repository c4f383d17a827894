"""A run dir's model, written and read. To share without pickle: `model.safetensors` (the weights, and the task's
exported tensors and bytes, e.g. the normalisation or a tokenizer's model) and `model.json` (the model's
constructor arguments, its task, the rest of the task's export as plain JSON, e.g. class names, the run's config,
and the sha256 of the weights file). The weights are written first and the description last, each to a
temporary name and renamed, and the description names the weights it describes: an interrupted write is
detected, never half-loaded.

    python -m landmarks.export outputs/resnet8_speedrun-fashion_mnist/<time> shared/resnet  # what a colleague needs
    load_run("shared/resnet")                                                # no checkpoint, no pickle

A run stopped before its end has no shared files yet: its model is read from model.pt (the constructor's
arguments, the task's export) and checkpoint.pt. Either way a model that is a class of its own (`_target_`) is
imported only under trust_code (landmarks/instantiate.py).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from landmarks.cli import Parser
from landmarks.datasets import file_hash
from landmarks.engine.checkpoint import CheckpointError, atomic_write, load_checkpoint, load_safely
from landmarks.instantiate import UntrustedCode, instantiate

WEIGHTS, DESCRIPTION, MODEL_FILE = "model.safetensors", "model.json", "model.pt"
FORMAT, REQUIRED = 1, {"model", "task", "export", "config", "weights_sha256"}


def split_export(exported: dict) -> tuple[dict, dict[str, torch.Tensor], dict[str, str]]:
    """The task's export as (plain JSON, tensors, and which keys were tensors or bytes)."""
    plain, tensors, kinds = {}, {}, {}
    for key, value in exported.items():
        if isinstance(value, dict):
            inner, inner_tensors, inner_kinds = split_export(value)
            plain[key] = inner
            tensors |= {f"{key}.{name}": tensor for name, tensor in inner_tensors.items()}
            kinds |= {f"{key}.{name}": kind for name, kind in inner_kinds.items()}
        elif isinstance(value, torch.Tensor):
            tensors[key], kinds[key] = value.detach().cpu().contiguous(), "tensor"
        elif isinstance(value, bytes):
            tensors[key], kinds[key] = torch.frombuffer(bytearray(value), dtype=torch.uint8), "bytes"
        else:
            plain[key] = value
    return plain, tensors, kinds


def join_export(plain: dict, tensors: dict[str, torch.Tensor], kinds: dict[str, str]) -> dict:
    """split_export undone."""
    exported = json.loads(json.dumps(plain))
    for key, kind in kinds.items():
        *path, name = key.split(".")
        holder = exported
        for part in path:
            holder = holder.setdefault(part, {})
        holder[name] = tensors[f"export/{key}"] if kind == "tensor" else tensors[f"export/{key}"].numpy().tobytes()
    return exported


def write_shared(folder: Path, model: torch.nn.Module, model_kwargs: dict, task: str, exported: dict, config: dict):
    """model.safetensors, then model.json, into `folder`."""
    plain, tensors, kinds = split_export(exported)
    weights = {f"model/{name}": value.detach().cpu().clone().contiguous() for name, value in model.state_dict().items()}
    weights |= {f"export/{name}": value for name, value in tensors.items()}  # tied weights: each key its own copy
    atomic_write(folder / WEIGHTS, lambda path: save_file(weights, str(path), metadata={"format": "pt"}))
    description = {"format": FORMAT, "model": model_kwargs, "task": task, "export": plain, "export_kinds": kinds}
    description |= {"config": config, "weights_sha256": file_hash(folder / WEIGHTS, "sha256")}
    atomic_write(folder / DESCRIPTION, lambda path: path.write_text(json.dumps(description, indent=2)))


def read_shared(folder: Path, trust_code: bool = False) -> tuple[torch.nn.Module, dict, dict]:
    """The model (weights loaded, on the CPU), the description and the task's export of a shared folder. Each bad
    file ends in one CheckpointError line naming it; nothing is half-loaded."""
    described, weights = folder / DESCRIPTION, folder / WEIGHTS
    try:
        description = json.loads(described.read_text())
    except (OSError, ValueError):
        description = None
    if not isinstance(description, dict) or description.get("format") != FORMAT or not REQUIRED <= description.keys():
        raise CheckpointError(f"{described} is not a Landmarks model description (model.json of format {FORMAT})")
    if not weights.exists() or file_hash(weights, "sha256") != description["weights_sha256"]:
        raise CheckpointError(f"{weights} is missing or not the weights {described} describes (an interrupted copy?)")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{weights} is not a readable safetensors file: {error}") from None
    try:
        model = instantiate(description["model"], trust_code, source=described)
    except UntrustedCode:
        raise
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{described}: its model cannot be built: {error}") from None
    state = {name.removeprefix("model/"): value for name, value in tensors.items() if name.startswith("model/")}
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = next((line.strip() for line in str(error).splitlines() if "size mismatch" in line or "key" in line), "")
        raise CheckpointError(
            f"{weights} does not fit the model {described} describes (another size?): {first}"
        ) from None
    return model, description, join_export(description["export"], tensors, description.get("export_kinds", {}))


def read_run(run_dir: Path, last: bool = False, trust_code: bool = False) -> tuple[torch.nn.Module, dict, dict, dict]:
    """A run's model (on the CPU), config, task export and constructor arguments: from its shared weights
    (model.safetensors, model.json) where it finished, else (or if `last`) from its last checkpoint and model.pt."""
    if (run_dir / DESCRIPTION).exists() and not last:
        model, description, exported = read_shared(run_dir, trust_code)
        return model, description["config"], exported, description["model"]
    if not (run_dir / MODEL_FILE).exists():
        raise CheckpointError(f"{run_dir / MODEL_FILE} not found; pass the run dir that train.py printed")
    described, state = load_safely(run_dir / MODEL_FILE), load_checkpoint(run_dir)
    model = instantiate(described["model_kwargs"], trust_code, source=run_dir / MODEL_FILE)
    model.load_state_dict(state["model"])
    return model, state["config"], described["task"], described["model_kwargs"]


@dataclass
class Pretrained:
    """What `model.init_from=<run dir>` starts a run from: that run's model (on the CPU), its constructor
    arguments, its task's name and what its task exported (a vocabulary)."""

    run_dir: Path
    model: torch.nn.Module
    model_kwargs: dict
    task: str
    exported: dict


def read_pretrained(run_dir: str | Path, trust_code: bool = False) -> Pretrained:
    """The finished (or stopped) run at `run_dir`, read as load_run reads it: nothing read can run code unless
    trust_code."""
    run_dir = Path(run_dir).expanduser()
    try:
        model, config, exported, kwargs = read_run(run_dir, trust_code=trust_code)
    except (CheckpointError, UntrustedCode) as error:
        raise CheckpointError(f"model.init_from={run_dir}: {error}") from None
    return Pretrained(run_dir, model, kwargs, config["data"]["task"], exported)


def export_run(run_dir: Path, out: Path, trust_code: bool = False) -> None:
    """Just what is needed to use a run's model elsewhere: its shared files, checked by reading them back."""
    model, config, exported, model_kwargs = read_run(run_dir, trust_code=trust_code)
    write_shared(out, model, model_kwargs, config["data"]["task"], exported, config)
    read_shared(out, trust_code)


def main(argv: list[str] | None = None) -> None:
    parser = Parser(
        prog="python -m landmarks.export", description="Write a run's model to share: model.safetensors and model.json."
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--trust-code", action="store_true", help="import the run's own model class (_target_)")
    args = parser.parse_args(argv)
    try:
        export_run(args.run_dir, args.out_dir, args.trust_code)
    except (CheckpointError, UntrustedCode) as error:
        raise SystemExit(f"landmarks.export: {error}") from None
    print(f"{args.out_dir / WEIGHTS} and {args.out_dir / DESCRIPTION}: load_run('{args.out_dir}') reads them")


if __name__ == "__main__":
    main()
