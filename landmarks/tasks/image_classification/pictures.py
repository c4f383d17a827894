"""Pictures for TensorBoard: what a model attends to."""

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
    """uint8 images (B, C, H, W) and maps (B, h, w) -> RGB floats in [0, 1] on the CPU: the image in its own
    colours under the map in matplotlib's "inferno" colours (dark: little attention; yellow: most), half and half."""
    from matplotlib import colormaps

    colour = images.float().cpu() / 255
    colour = colour.expand(-1, 3, -1, -1) if colour.shape[1] == 1 else colour[:, :3]
    heat = F.interpolate(heat[:, None].float(), size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    low, high = heat.amin(dim=(1, 2), keepdim=True), heat.amax(dim=(1, 2), keepdim=True)
    scaled = ((heat - low) / (high - low + 1e-8)).cpu()
    painted = torch.as_tensor(colormaps["inferno"](scaled.numpy())[..., :3], dtype=torch.float32)  # (B, H, W, 3)
    return 0.5 * colour + 0.5 * painted.permute(0, 3, 1, 2)
