"""Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks"): SGD with Nesterov
momentum whose update of each weight matrix is orthogonalised by five Newton-Schulz iterations, so that every
direction of the matrix moves by about the same amount. It trains the hidden layers' matrices (conv kernels
flattened to out_channels x fan_in); the input and output layers (a model's `edge_layers()`: embeddings, a patch
embedding or first convolution, the classifier), biases and normalisation parameters stay with AdamW, as the
author specifies. A weight that stacks matrices (fused Q, K, V: a model's `fused_matrices()`) is orthogonalised
block by block, as modded-nanogpt does, so that each block moves by its own step whatever the others' gradients.
The step is scaled to AdamW's update size, 0.2 sqrt(max(A, B)) for an A x B matrix (Liu et al. 2025, "Muon is
scalable for LLM training"), so one learning rate serves both optimizers.

torch.optim.Muon computes the iterations in bfloat16, which is about 100x slower than float32 on the CPUs
this project runs on; here they run in bfloat16 on CUDA, as in Jordan's code, and in float32 elsewhere."""

from dataclasses import dataclass

import torch

from landmarks.engine.optimizers import OPTIMIZERS
from landmarks.engine.optimizers.adamw import AdamWConfig, adamw_over
from landmarks.hooks import hook
from landmarks.schema import fraction, positive, rule

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # the quintic's (a, b, c), Jordan et al. 2024


def orthogonalize(matrix: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """About U V^T of matrix = U S V^T (the singular values end between about 0.5 and 1.5), by the quintic
    Newton-Schulz iteration X <- a X + (b X X^T + c (X X^T)^2) X from X = matrix / ||matrix||_F. `matrix` is one
    (A, B) matrix or a stack (N, A, B), each orthogonalised apart in one batched product an iteration."""
    a, b, c = NS_COEFFICIENTS
    tall = matrix.size(-2) > matrix.size(-1)
    x = matrix.mT if tall else matrix
    x = x.to(torch.bfloat16 if x.is_cuda else torch.float32)
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)
    multiply_add = torch.baddbmm if x.ndim == 3 else torch.addmm
    for _ in range(steps):
        gram = x @ x.mT
        x = multiply_add(x, multiply_add(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return (x.mT if tall else x).to(matrix.dtype)


def orthogonalize_by_shape(matrices: list[torch.Tensor], steps: int) -> list[torch.Tensor]:
    """Each matrix's update, orthogonalised and scaled to AdamW's size (0.2 sqrt(max(A, B))), the matrices of one
    shape stacked into one batched Newton-Schulz: a few large products instead of a loop of small ones (about 30%
    off the step of the transformers' Muon, bench/muon_step.py; a shape of its own is not stacked)."""
    by_shape = {}
    for index, matrix in enumerate(matrices):
        by_shape.setdefault(matrix.shape, []).append(index)
    updates = [None] * len(matrices)
    for shape, indices in by_shape.items():
        scale = 0.2 * max(shape) ** 0.5
        if len(indices) == 1:  # a shape of its own (a convnet's layers): stacking it would only cost a copy
            updates[indices[0]] = orthogonalize(matrices[indices[0]], steps) * scale
            continue
        for index, update in zip(indices, orthogonalize(torch.stack([matrices[i] for i in indices]), steps)):
            updates[index] = update * scale
    return updates


class Muon(torch.optim.Optimizer):
    """Muon over weight matrices and kernels (ndim >= 2), with decoupled weight decay as AdamW's. A group's
    `rows` (default None: one matrix) splits each of its weights along dim 0 into matrices of those numbers of
    rows, each orthogonalised apart (grouped-query attention's Q, K and V differ in size)."""

    def __init__(self, params, lr: float, momentum: float = 0.95, weight_decay: float = 0.0, ns_steps: int = 5):
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "ns_steps": ns_steps, "rows": None}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            params = [param for param in group["params"] if param.grad is not None]
            matrices, counts = [], []  # each weight's matrices, in order, and how many each has
            for param in params:
                state = self.state[param]
                if not state:
                    state["momentum_buffer"] = torch.zeros_like(param)
                buffer = state["momentum_buffer"]
                buffer.lerp_(param.grad, 1 - momentum)
                nesterov = param.grad.lerp(buffer, momentum).flatten(1)  # conv kernels: out_channels x fan_in
                matrices += nesterov.split(group["rows"] or len(nesterov))
                counts.append(len(matrices) - sum(counts))
            updates = iter(orthogonalize_by_shape(matrices, group["ns_steps"]))
            for param, count in zip(params, counts):
                update = torch.cat([next(updates) for _ in range(count)])
                param.mul_(1 - lr * group["weight_decay"])
                param.add_(update.view_as(param), alpha=-lr)

    def load_state_dict(self, state_dict: dict) -> None:
        """Refuses the state of the earlier Muon that split fused matrices into equal `blocks` (a count, where
        `rows` now gives each matrix's rows): resumed here, it would split them wrongly."""
        if stale := [group["blocks"] for group in state_dict["param_groups"] if "rows" not in group]:
            raise ValueError(
                f"the checkpoint's Muon state splits fused matrices by an earlier rule (blocks={stale}): resume it "
                "with the landmarks version that wrote it, or start the run again"
            )
        super().load_state_dict(state_dict)


def hidden_matrices(model: torch.nn.Module) -> dict[int, tuple[int, ...] | None]:
    """The weights Muon trains, by id, with the rows of each matrix it stacks (None: one matrix): of every Linear,
    convolution and recurrent layer except the input and output layers, which the model names (`edge_layers()`), or
    else are taken to be its embedding tables, its first layer and its last Linear; and except any weight tied to
    those."""
    layers = (torch.nn.Linear, torch.nn.modules.conv._ConvNd, torch.nn.RNNBase, torch.nn.RNNCellBase)
    named = [(name, m) for name, m in model.named_modules() if isinstance(m, (*layers, torch.nn.Embedding))]
    if edge_layers := hook(model, "edge_layers"):
        edges = edge_layers()
    else:  # a model of the user's own that names none
        linears = [name for name, m in named if isinstance(m, torch.nn.Linear)]
        edges = {name for name, m in named if isinstance(m, torch.nn.Embedding)}
        edges |= {named[0][0], *linears[-1:]} if named else set()
    modules = dict(model.named_modules())
    excluded = {id(p) for edge in edges for p in modules[edge].parameters()}
    fused = fused_matrices() if (fused_matrices := hook(model, "fused_matrices")) else {}
    return {
        id(p): fused.get(f"{name}.{weight}")
        for name, m in named
        if isinstance(m, layers)
        for weight, p in m.named_parameters(recurse=False)
        if weight.startswith("weight") and p.ndim >= 2 and p.requires_grad and id(p) not in excluded
    }


class Together(torch.optim.Optimizer):
    """Optimizers over disjoint parameters stepped as one: one schedule sets all their groups' learning rates,
    and one state dict holds all their states."""

    def __init__(self, *parts: torch.optim.Optimizer):
        self.parts = parts
        super().__init__([group for part in parts for group in part.param_groups], {})

    def step(self, closure=None):
        for part in self.parts:
            part.step()

    def state_dict(self) -> dict:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict) -> None:
        for part, saved in zip(self.parts, state_dict["parts"], strict=True):
            part.load_state_dict(saved)
        self.param_groups = [group for part in self.parts for group in part.param_groups]  # loading made new ones


@dataclass
class MuonConfig(AdamWConfig):
    momentum: float = rule(fraction, "a value in [0, 1), e.g. optim.momentum=0.95", default=0.95)  # Muon's
    ns_steps: int = rule(positive, "a number of Newton-Schulz iterations > 0, e.g. optim.ns_steps=5", default=5)


@OPTIMIZERS.register("muon", config=MuonConfig)
def muon(cfg: MuonConfig, groups: list[dict], model, device) -> torch.optim.Optimizer:
    """Muon on the hidden matrices of the decayed group, AdamW on the rest (betas, eps: AdamW's)."""
    hidden = hidden_matrices(model)
    if not hidden:
        raise ValueError(f"optim=muon: {type(model).__name__} has no hidden weight matrices to train; use optim=adamw")
    decay = groups[0]["params"]
    by_rows = {}
    for p in decay:
        if id(p) in hidden:
            by_rows.setdefault(hidden[id(p)], []).append(p)
    matrices = Muon(
        [{"params": params, "rows": rows} for rows, params in by_rows.items()],
        cfg.lr,
        cfg.momentum,
        cfg.weight_decay,
        cfg.ns_steps,
    )
    groups[0]["params"] = [p for p in decay if id(p) not in hidden]
    return Together(matrices, adamw_over(groups, cfg, device))
