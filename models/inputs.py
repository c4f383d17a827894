"""Input checks shared by the image models: fail with the fix instead of a shape error deep inside a layer."""
import torch


def check_images(x: torch.Tensor, in_chans: int) -> None:
    """Raise ValueError unless x is a batch of images (B, in_chans, H, W)."""
    if x.ndim != 4 or x.shape[1] != in_chans:
        raise ValueError(
            f"expected images of shape (B, {in_chans}, H, W), got {tuple(x.shape)}; "
            f"build the model with in_chans={x.shape[1] if x.ndim == 4 else '...'} for this data"
        )
