"""Muon's step on each speedrun model that it trains: its hidden matrices orthogonalised one by one (a Python loop
of small products) against those of one shape stacked into one batched Newton-Schulz (what Muon does), timed
interleaved on the model's own weights with random gradients. Prints a Markdown table (docs/speedruns.md).

    python bench/muon_step.py                      # resnet alexnet vit transformer gpt
"""

import sys

import torch
from common import interleaved_seconds, machine

from landmarks.build import build_model, build_task
from landmarks.config import validate
from landmarks.engine.optimizers import build_optimizer, muon
from landmarks.launch import compose_run

SPEEDRUNS = ("resnet", "alexnet", "vit", "transformer", "gpt")


def one_by_one(matrices: list[torch.Tensor], steps: int) -> list[torch.Tensor]:
    return [muon.orthogonalize(matrix, steps) * (0.2 * max(matrix.shape) ** 0.5) for matrix in matrices]


def step_seconds(name: str) -> tuple[int, int, dict[str, float]]:
    """(Muon's weights, their shapes, median seconds of a step each way)."""
    run = validate(compose_run([f"experiment=speedrun_{name}"]))
    task = build_task(run, torch.device("cpu"))
    model = build_model(run, task, torch.device("cpu"))
    optimizer = build_optimizer(run.optim, model, torch.device("cpu")).parts[0]  # Muon's part of Muon + AdamW
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for param in params:
        param.grad = torch.randn_like(param)
    batched = muon.orthogonalize_by_shape

    def with_(orthogonalize_all):
        def step():
            muon.orthogonalize_by_shape = orthogonalize_all
            optimizer.step()
            muon.orthogonalize_by_shape = batched

        return step

    seconds = interleaved_seconds({"loop": with_(one_by_one), "batched": with_(batched)}, torch.device("cpu"), 9)
    return len(params), len({p.flatten(1).shape for p in params}), seconds


def main(names: list[str]) -> None:
    print(f"Muon's step, {machine()}\n\n| speedrun | weights | shapes | loop ms | batched ms | batched / loop |")
    print("|---|---|---|---|---|---|")
    for name in names:
        count, shapes, seconds = step_seconds(name)
        loop, batched = seconds["loop"] * 1e3, seconds["batched"] * 1e3
        print(f"| {name} | {count} | {shapes} | {loop:.2f} | {batched:.2f} | {batched / loop:.2f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(SPEEDRUNS))
