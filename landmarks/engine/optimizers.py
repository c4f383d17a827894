"""Optimizers and learning-rate schedules, built in plain code from a few named config fields."""

import math

import torch

from landmarks.engine.muon import Muon, Together, hidden_matrices

NORMS = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm)


def build_optimizer(cfg, model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum, AdamW (Loshchilov and Hutter 2019), or Muon on the hidden layers' matrices
    with AdamW on the rest (landmarks/muon.py); weight decay only on matrices and kernels, never on biases,
    normalisation parameters or what the model's `no_weight_decay()` names (ViT's class token and position
    embeddings). `optim.norm_lr_scale` multiplies the learning rate of the normalisation parameters, in a group
    of their own (airbench trains its BatchNorm biases at 64x)."""
    exempt = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()
    scaled = set()
    if cfg.get("norm_lr_scale", 1) != 1:  # absent from the configs of runs saved before it
        scaled = {id(p) for m in model.modules() if isinstance(m, NORMS) for p in m.parameters(recurse=False)}
    trained = [(name, p) for name, p in model.named_parameters() if p.requires_grad and id(p) not in scaled]
    decay = [p for name, p in trained if p.ndim > 1 and name not in exempt]
    no_decay = [p for name, p in trained if p.ndim <= 1 or name in exempt]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if scaled:
        norms = [p for p in model.parameters() if p.requires_grad and id(p) in scaled]
        groups.append({"params": norms, "weight_decay": 0.0, "lr": cfg.lr * cfg.norm_lr_scale})
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name not in ("adamw", "muon"):
        raise ValueError(f"Unknown optimizer optim.name={cfg.name!r}; use optim=sgd, optim=adamw or optim=muon.")
    muon = None
    if cfg.name == "muon":
        hidden = hidden_matrices(model)
        if not hidden:
            raise ValueError(
                f"optim=muon: {type(model).__name__} has no hidden weight matrices to train; use optim=adamw"
            )
        muon = Muon([p for p in decay if id(p) in hidden], cfg.lr, cfg.momentum, cfg.weight_decay)
        groups[0]["params"] = [p for p in decay if id(p) not in hidden]
    fused = device.type in ("cuda", "cpu")
    adamw = torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, fused=fused)
    return Together(muon, adamw) if muon else adamw


def lr_factor(step: int, *, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Multiplier of the peak learning rate: linear warm-up over `warmup_steps`, then
    "cosine" (Loshchilov and Hutter 2017), "onecycle" (linear to zero, Smith 2018), "constant", or
    "inverse_sqrt" (Vaswani et al. 2017, Eq. 3: proportional to step^-0.5, continuous at the peak)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "onecycle":
        return 1 - progress
    if schedule == "constant":
        return 1.0
    if schedule == "inverse_sqrt":
        return math.sqrt(max(1, warmup_steps) / (step + 1))
    raise ValueError(f"Unknown schedule optim.schedule={schedule!r}; use cosine, onecycle, constant or inverse_sqrt.")


def build_schedule(cfg, optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """`optim.warmup` is a fraction of the run's steps."""
    warmup_steps = round(cfg.warmup * total_steps)
    lr_factor(0, total_steps=total_steps, warmup_steps=warmup_steps, schedule=cfg.schedule)  # check the name now
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(step, total_steps=total_steps, warmup_steps=warmup_steps, schedule=cfg.schedule),
    )
