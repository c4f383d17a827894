"""ViT: "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale", Dosovitskiy et al.,
ICLR 2021 (arXiv:2010.11929).

- Eq. 1: the image is cut into P x P patches x_p, each flattened and projected by E; the class token x_class
  is prepended and the position embeddings E_pos added.
- Eq. 2-3: L pre-norm encoder blocks, z' = MSA(LN(z)) + z and z = MLP(LN(z')) + z', the MLP with a GELU.
- Eq. 4: y = LN(z_L^0): the head reads the class token.
- Table 1: ViT-Base, Large and Huge (layers L, hidden size D, MLP size, heads h); Ti and S as in DeiT
  (Touvron et al. 2021). Sec. 3.2: at another resolution the position embeddings are interpolated in 2-D.

Attention runs through `F.scaled_dot_product_attention`; `attention_maps()` takes the explicit
softmax(QK^T / sqrt(d)) path, which gives the same outputs (tested) and exposes the weights.
`load_torchvision_state_dict()` maps the weights of `torchvision.models.vit_b_16()` and its siblings.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from einops.layers.torch import Rearrange

from .attention import attention
from .inputs import check_images
from .registry import register_model


class PatchEmbedding(nn.Module):
    """Eq. 1's x_p E: (B, C, H, W) -> (B, H/P * W/P, D)."""

    def __init__(self, *, patch_size: int, in_chans: int, dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.to_patches = Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size)
        self.proj = nn.Linear(patch_size * patch_size * in_chans, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.to_patches(x))


class Attention(nn.Module):
    """Multi-head self-attention (MSA): (B, N, D) -> (B, N, D), and the weights (B, h, N, N) when asked.
    `attention_dropout` drops attention weights (the reference's attention_dropout_rate, 0 in every config)."""

    def __init__(self, dim: int, heads: int, attention_dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size dim={dim} must be divisible by heads={heads}")
        self.heads, self.attention_dropout = heads, attention_dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        p = self.attention_dropout if self.training else 0.0
        out, weights = attention(q, k, v, dropout=p, need_weights=return_attention)
        return self.proj(rearrange(out, "b h n d -> b n (h d)")), weights


class Block(nn.Module):
    """Eq. 2-3: a pre-norm encoder block, with dropout on the attention's output and after each MLP layer, as in
    the reference code (Appendix B.1: dropout after every dense layer but the qkv projections). (B, N, D) -> same."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float = 0.0, attention_dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, attention_dropout)
        self.dropout = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        attended, weights = self.attn(self.norm1(x), return_attention)
        x = x + self.dropout(attended)
        return x + self.mlp(self.norm2(x)), weights


class VisionTransformer(nn.Module):
    """Shapes: (B, in_chans, H, W) -> logits (B, num_classes). H and W must be multiples of patch_size;
    at a size other than image_size the position embeddings are interpolated (Sec. 3.2).

    Args (Table 1's names): image_size, patch_size (P), dim (hidden size D), depth (layers L),
        heads (h), mlp_dim (MLP size), dropout (after the embeddings, the attention output and each MLP layer),
        attention_dropout (on the attention weights), in_chans, num_classes.
    """

    def __init__(
        self,
        *,
        image_size: int = 224,
        patch_size: int = 16,
        dim: int = 768,
        depth: int = 12,
        heads: int = 12,
        mlp_dim: int = 3072,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        in_chans: int = 3,
        num_classes: int = 1000,
    ):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(
                f"image_size={image_size} is not divisible by "
                f"patch_size={patch_size}; pick a patch size that divides it"
            )
        self.image_size, self.patch_size, self.in_chans, self.num_classes = (
            image_size,
            patch_size,
            in_chans,
            num_classes,
        )
        self.patch_embed = PatchEmbedding(patch_size=patch_size, in_chans=in_chans, dim=dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.empty(1, (image_size // patch_size) ** 2 + 1, dim).normal_(std=0.02))
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_dim, dropout, attention_dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def position_embedding(self, grid_h: int, grid_w: int) -> torch.Tensor:
        """E_pos for a grid_h x grid_w patch grid, bicubically interpolated from the trained grid (Sec. 3.2)."""
        trained = self.image_size // self.patch_size
        if (grid_h, grid_w) == (trained, trained):
            return self.pos_embedding
        cls_pos, patch_pos = self.pos_embedding[:, :1], self.pos_embedding[:, 1:]
        patch_pos = rearrange(patch_pos, "1 (h w) d -> 1 d h w", h=trained)
        patch_pos = F.interpolate(patch_pos, size=(grid_h, grid_w), mode="bicubic", align_corners=False)
        return torch.cat([cls_pos, rearrange(patch_pos, "1 d h w -> 1 (h w) d")], dim=1)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 1: z_0 = [x_class; x_p E] + E_pos, shape (B, 1 + N, D)."""
        check_images(x, self.in_chans)
        height, width = x.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f"image size {height}x{width} is not "
                f"divisible by patch_size={self.patch_size}; "
                f"resize or pad the images to a multiple of {self.patch_size}, "
                "or build the model with another patch_size"
            )
        patches = self.patch_embed(x)
        z = torch.cat([self.cls_token.expand(len(x), -1, -1), patches], dim=1)
        return self.dropout(z + self.position_embedding(height // self.patch_size, width // self.patch_size))

    def no_weight_decay(self) -> set[str]:
        """Parameters the optimizer must not decay: the class token and position embeddings, as in the reference
        code (its weight decay, Table 3, applies to kernels only) and timm's `no_weight_decay()`."""
        return {"cls_token", "pos_embedding"}

    def edge_layers(self) -> set[str]:
        """The input and output layers (module names): Muon leaves them to AdamW (Jordan et al. 2024)."""
        return {"patch_embed.proj", "head"}

    def fused_matrices(self) -> dict[str, tuple[int, ...]]:
        """Weights that stack several matrices, with the rows of each (W_Q, W_K, W_V of each block's qkv): Muon
        orthogonalises each on its own."""
        return {f"blocks.{i}.attn.qkv.weight": (block.attn.qkv.in_features,) * 3 for i, block in enumerate(self.blocks)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.tokens(x)
        for block in self.blocks:
            z, _ = block(z)
        return self.head(self.norm(z[:, 0]))  # Eq. 4: the class token

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's attention weights (B, heads, 1 + N, 1 + N), through the explicit softmax path."""
        z, maps = self.tokens(x), []
        for block in self.blocks:
            z, weights = block(z, return_attention=True)
            maps.append(weights)
        return maps

    def load_torchvision_state_dict(self, state_dict: dict) -> None:
        """Load the weights of torchvision's VisionTransformer (vit_b_16 and its siblings), strictly: every key
        is mapped, none is left over. conv_proj, a P x P convolution of stride P, is the same map as our
        Linear over patches flattened in (p1 p2 c) order."""
        mapped = {}
        for key, value in state_dict.items():
            parts = key.split(".")
            if key == "conv_proj.weight":
                mapped["patch_embed.proj.weight"] = rearrange(value, "d c p1 p2 -> d (p1 p2 c)")
            elif key == "conv_proj.bias":
                mapped["patch_embed.proj.bias"] = value
            elif key == "class_token":
                mapped["cls_token"] = value
            elif key == "encoder.pos_embedding":
                mapped["pos_embedding"] = value
            elif key.startswith("encoder.ln."):
                mapped["norm." + parts[-1]] = value
            elif key.startswith("heads.head."):
                mapped["head." + parts[-1]] = value
            elif key.startswith("encoder.layers.encoder_layer_"):
                layer = parts[2].removeprefix("encoder_layer_")
                inner = ".".join(parts[3:])
                renames = {
                    "ln_1.weight": "norm1.weight",
                    "ln_1.bias": "norm1.bias",
                    "ln_2.weight": "norm2.weight",
                    "ln_2.bias": "norm2.bias",
                    "self_attention.in_proj_weight": "attn.qkv.weight",
                    "self_attention.in_proj_bias": "attn.qkv.bias",
                    "self_attention.out_proj.weight": "attn.proj.weight",
                    "self_attention.out_proj.bias": "attn.proj.bias",
                    "mlp.0.weight": "mlp.0.weight",
                    "mlp.0.bias": "mlp.0.bias",
                    "mlp.3.weight": "mlp.3.weight",
                    "mlp.3.bias": "mlp.3.bias",
                }
                if inner not in renames:
                    raise KeyError(f"unexpected torchvision ViT key {key!r}")
                mapped[f"blocks.{layer}.{renames[inner]}"] = value
            else:
                raise KeyError(f"unexpected torchvision ViT key {key!r}")
        self.load_state_dict(mapped, strict=True)


def patch_size_for(image_size: int, grid: int = 8) -> int:
    """A patch size P that divides `image_size` into about a grid x grid of patches (64 tokens by default: the
    4x4 patches of 32 px CIFAR ViTs), for data whose images the variant's own P does not suit."""
    divisors = [p for p in range(1, image_size + 1) if image_size % p == 0]
    return min(divisors, key=lambda p: (abs(image_size // p - grid), -p))


def _vit(sizes: tuple[int, int, int, int, int], **kwargs) -> VisionTransformer:
    """sizes = (patch_size P, hidden size D, layers L, heads h, MLP size); keyword arguments override any of them.
    patch_size="fit" picks the P that cuts the images into about 8x8 patches (`patch_size_for`), for data whose
    images the variant's own P does not divide."""
    arguments = {**dict(zip(("patch_size", "dim", "depth", "heads", "mlp_dim"), sizes)), **kwargs}
    if arguments["patch_size"] == "fit":
        arguments["patch_size"] = patch_size_for(arguments.get("image_size", 224))
    return VisionTransformer(**arguments)


# Table 1 (Base, Large, Huge) and DeiT's Ti and S; the suffix is the patch size P, at 224 px.
@register_model(input_size=(3, 224, 224))
def vit_ti_16(**kwargs) -> VisionTransformer:
    return _vit((16, 192, 12, 3, 768), **kwargs)


@register_model(input_size=(3, 224, 224))
def vit_s_16(**kwargs) -> VisionTransformer:
    return _vit((16, 384, 12, 6, 1536), **kwargs)


@register_model(input_size=(3, 224, 224))
def vit_b_16(**kwargs) -> VisionTransformer:
    return _vit((16, 768, 12, 12, 3072), **kwargs)


@register_model(input_size=(3, 224, 224))
def vit_b_32(**kwargs) -> VisionTransformer:
    return _vit((32, 768, 12, 12, 3072), **kwargs)


@register_model(input_size=(3, 224, 224))
def vit_l_16(**kwargs) -> VisionTransformer:
    return _vit((16, 1024, 24, 16, 4096), **kwargs)


@register_model(input_size=(3, 224, 224))
def vit_l_32(**kwargs) -> VisionTransformer:
    return _vit((32, 1024, 24, 16, 4096), **kwargs)


@register_model(input_size=(3, 224, 224))
def vit_h_14(**kwargs) -> VisionTransformer:
    return _vit((14, 1280, 32, 16, 5120), **kwargs)


# Small images (not in the paper): 4x4 patches of a 28 px image give a 7x7 grid of 49 tokens, 7x7 patches
# a 4x4 grid of 16 (three times cheaper per image on CPU here).
@register_model(input_size=(1, 28, 28))
def vit_tiny_patch4(**kwargs) -> VisionTransformer:
    return _vit((4, 96, 4, 3, 192), **{"image_size": 28, "in_chans": 1, "num_classes": 10, **kwargs})


@register_model(input_size=(1, 28, 28))
def vit_tiny_patch7(**kwargs) -> VisionTransformer:
    return _vit((7, 128, 4, 4, 256), **{"image_size": 28, "in_chans": 1, "num_classes": 10, **kwargs})
