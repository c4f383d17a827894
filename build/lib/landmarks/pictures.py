"""Pictures of what a model attends to, for TensorBoard."""

import torch
import torch.nn.functional as F


def attention_rollout(maps: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout (Abnar and Zuidema 2020): the head-averaged attention of every layer, with the
    residual stream as an identity, multiplied through the layers; returns the class token's row over the
    patches as a (B, grid, grid) map. `maps` holds each layer's (B, heads, 1 + N, 1 + N) weights."""
    tokens = maps[0].shape[-1]
    rollout = torch.eye(tokens, device=maps[0].device)
    for weights in maps:
        mixed = weights.float().mean(dim=1) + torch.eye(tokens, device=weights.device)
        rollout = (mixed / mixed.sum(dim=-1, keepdim=True)) @ rollout
    grid = int((tokens - 1) ** 0.5)
    return rollout[:, 0, 1:].reshape(-1, grid, grid)


def overlay(images: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """uint8 images (B, C, H, W) and maps (B, h, w) -> RGB floats in [0, 1]: the image in grey, the map in red."""
    grey = images.float().mean(dim=1, keepdim=True) / 255
    heat = F.interpolate(heat[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)
    low, high = heat.amin(dim=(2, 3), keepdim=True), heat.amax(dim=(2, 3), keepdim=True)
    heat = (heat - low) / (high - low + 1e-8)
    return torch.cat([0.5 * grey + 0.5 * heat, 0.5 * grey, 0.5 * grey], dim=1)
