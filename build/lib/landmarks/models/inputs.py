"""Input checks shared by the models: fail with the fix instead of a shape or index error deep inside a layer."""

import torch


def check_images(x: torch.Tensor, in_chans: int) -> None:
    """Raise ValueError unless x is a batch of images (B, in_chans, H, W)."""
    if x.ndim != 4 or x.shape[1] != in_chans:
        raise ValueError(
            f"expected images of shape (B, {in_chans}, H, W), got {tuple(x.shape)}; "
            f"build the model with in_chans={x.shape[1] if x.ndim == 4 else '...'} for this data"
        )


def check_image_size(x: torch.Tensor, min_size: int, fix: str) -> None:
    """Raise ValueError if the images are smaller than `min_size` px a side: strides and pooling would run
    out of pixels deep inside the network."""
    if min(x.shape[-2:]) < min_size:
        raise ValueError(
            f"images of {x.shape[-2]}x{x.shape[-1]} px are too small for this model's strides and pooling: "
            f"it needs at least {min_size} px a side; {fix}"
        )


def check_tokens(tokens: torch.Tensor, vocab_size: int, name: str) -> None:
    """Raise ValueError unless `tokens` is a non-empty (B, N) batch of integer ids below vocab_size. The range
    is checked on CPU only: on an accelerator it would cost a host sync per call."""
    if tokens.ndim != 2 or tokens.dtype not in (torch.int64, torch.int32) or tokens.shape[1] == 0:
        raise ValueError(
            f"expected {name} of shape (B, N) with N > 0 and integer "
            f"token ids, got {tuple(tokens.shape)} {tokens.dtype}"
        )
    if tokens.device.type == "cpu" and tokens.numel() and not 0 <= int(tokens.min()) <= int(tokens.max()) < vocab_size:
        bad = tokens[(tokens < 0) | (tokens >= vocab_size)][0].item()
        raise ValueError(
            f"{name} holds token id {bad}, outside the vocabulary of {vocab_size}; encode text with the "
            f"data's vocabulary and build the model with its size"
        )


def check_source(src: torch.Tensor, pad_id: int) -> None:
    """Raise ValueError if a source sentence is padding only (the encoder would have nothing to attend to: NaN in
    the Transformer, an empty sequence in the RNN). On CPU only, as check_tokens."""
    if src.device.type == "cpu" and (src == pad_id).all(dim=1).any():
        row = int((src == pad_id).all(dim=1).nonzero()[0])
        raise ValueError(
            f"src[{row}] is padding only (pad_id={pad_id}); every source needs at least one token, e.g. <eos>"
        )
