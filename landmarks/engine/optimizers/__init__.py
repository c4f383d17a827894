"""Optimizers, built in plain code from a few named config fields: one file each in this folder (sgd.py,
adamw.py, muon.py), registered in OPTIMIZERS with the typed schema of its `optim.*` keys. A new optimizer is one
file here and one configs/optim/*.yaml (docs/extending.md).

Every optimizer gets the same parameter groups: weight decay only on matrices and kernels, never on biases,
normalisation parameters or what the model's `no_weight_decay()` names (ViT's class token and position
embeddings); `optim.norm_lr_scale` multiplies the learning rate of the normalisation parameters, in a group of
their own (airbench trains its BatchNorm biases at 64x)."""

from dataclasses import dataclass

import torch
from omegaconf import MISSING

from landmarks.hooks import hook
from landmarks.registry import Registry
from landmarks.schema import at_least_zero, fraction, positive, rule

OPTIMIZERS = Registry("optimizer", "optim.name", package=__name__)
NORMS = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm)


@dataclass
class OptimConfig:
    """The keys every optimizer reads; each optimizer's schema adds its own."""

    name: str = MISSING  # a name in OPTIMIZERS
    lr: float = rule(positive, "a learning rate > 0, e.g. optim.lr=1e-3")  # the peak, after the warm-up
    weight_decay: float = rule(at_least_zero, "a value >= 0, e.g. optim.weight_decay=0.05", default=0.0)
    schedule: str = "cosine"  # landmarks/engine/schedules.py
    warmup: float = rule(fraction, "a fraction of the run's steps in [0, 1), e.g. optim.warmup=0.05", default=0.0)
    norm_lr_scale: float = rule(positive, "a multiplier > 0 of the normalisation parameters' lr", default=1.0)


def parameter_groups(cfg: OptimConfig, model: torch.nn.Module) -> list[dict]:
    """[decayed matrices, undecayed rest] and, when norm_lr_scale != 1, [normalisation parameters]."""
    exempt = no_weight_decay() if (no_weight_decay := hook(model, "no_weight_decay")) else set()
    scaled = set()
    if cfg.norm_lr_scale != 1:
        scaled = {id(p) for m in model.modules() if isinstance(m, NORMS) for p in m.parameters(recurse=False)}
    trained = [(name, p) for name, p in model.named_parameters() if p.requires_grad and id(p) not in scaled]
    decay = [p for name, p in trained if p.ndim > 1 and name not in exempt]
    no_decay = [p for name, p in trained if p.ndim <= 1 or name in exempt]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if scaled:
        norms = [p for p in model.parameters() if p.requires_grad and id(p) in scaled]
        groups.append({"params": norms, "weight_decay": 0.0, "lr": cfg.lr * cfg.norm_lr_scale})
    return groups


def build_optimizer(cfg: OptimConfig, model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """The optimizer `cfg.name` over `model`'s parameter groups."""
    return OPTIMIZERS[cfg.name](cfg, parameter_groups(cfg, model), model, device)
