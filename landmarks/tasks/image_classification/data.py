"""Small datasets live whole on the device as uint8 tensors; a batch is a slice of a seeded permutation,
and augmentation (random crop with padding, horizontal flip) runs batched on the device, as in airbench.
An image folder too large for memory is read batch by batch instead (datasets/image_folder.py).

Every random choice is a function of (seed, epoch) or (seed, step), so a resumed run draws the same
batches and the same augmentations as the uninterrupted one.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from landmarks.tasks.base import epoch_generator
from landmarks.tasks.image_classification.datasets import DATASETS, ImageDataConfig
from landmarks.tasks.image_classification.datasets.image_folder import FolderImages

STATISTICS_SAMPLE = 10_000  # training images whose mean and std normalise a folder streamed from disk
VAL_CAP = 5_000  # data.val_size=null holds out a tenth of the training images, at most this many


@dataclass
class ImageSplit:
    images: torch.Tensor | FolderImages  # (N, C, H, W) uint8 on the device, or files decoded when read
    labels: torch.Tensor  # (N,) int64, on the device

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def streamed(self) -> bool:
        """Images decoded from their files when read, rather than held in memory."""
        return isinstance(self.images, FolderImages)

    @property
    def index_device(self) -> torch.device:
        """Where indices of this split are best drawn: with the images in memory, or on the host for files."""
        return torch.device("cpu") if self.streamed else self.labels.device

    def batches(self, indices: Iterable[torch.Tensor | slice]) -> Iterator[torch.Tensor]:
        """The uint8 images of each index tensor or slice in turn, on the labels' device."""
        if self.streamed:
            return self.images.stream(indices, self.labels.device)
        return (self.images[index] for index in indices)

    def read(self, index: torch.Tensor | slice) -> torch.Tensor:
        return next(self.batches([index]))


@dataclass
class ImageData:
    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    classes: list[str]
    mean: torch.Tensor  # (1, C, 1, 1) per-channel statistics of the training images, in [0, 1]
    std: torch.Tensor

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float32 standardised with the training set's statistics."""
        return (images.float() / 255 - self.mean) / self.std


def load_image_data(cfg: ImageDataConfig, *, seed: int, device) -> ImageData:
    """Load the dataset `cfg.source` (configs/data/*.yaml) and hold out `val_size` seeded training images for
    validation (null: a tenth of them, at most 5,000; the test split stays unseen until the end); `train_size`
    keeps a seeded subset of the rest (a smaller dataset, as in Dosovitskiy et al. 2020's Fig. 3), `test_size`
    only the first test images."""
    name, val_size, test_size, train_size = cfg.name, cfg.val_size, cfg.test_size, cfg.train_size
    arrays = DATASETS[cfg.source](cfg, seed)
    images, labels = arrays["train"]
    if val_size is None:  # follows the data: a small folder keeps most of its images for training
        val_size = min(len(labels) // 10, VAL_CAP)
    if not 0 <= val_size < len(labels):
        raise ValueError(f"data.val_size={val_size} must be in [0, {len(labels)}) for {name}")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:val_size], order[val_size:]
    if train_size is not None and train_size > len(train_idx):
        raise ValueError(
            f"data.train_size={train_size}: {name} has {len(train_idx)} training images beside data.val_size="
            f"{val_size}; ask for at most {len(train_idx)}, or null for all"
        )
    train_idx = train_idx[:train_size]
    if isinstance(images, FolderImages):
        train_images = images[train_idx[:STATISTICS_SAMPLE]].load().float() / 255
    else:
        train_images = images[train_idx].float() / 255
    mean = train_images.mean(dim=(0, 2, 3), keepdim=True)
    std = train_images.std(dim=(0, 2, 3), keepdim=True)

    def split(x: torch.Tensor | FolderImages, y: torch.Tensor) -> ImageSplit:
        return ImageSplit(x.to(device) if isinstance(x, torch.Tensor) else x, y.to(device))

    return ImageData(
        train=split(images[train_idx], labels[train_idx]),
        val=split(images[val_idx], labels[val_idx]),
        test=split(*(tensor[:test_size] for tensor in arrays["test"])),
        classes=arrays["classes"],
        mean=mean.to(device),
        std=std.to(device),
    )


def epoch_permutation(n: int, seed: int, epoch: int, device) -> torch.Tensor:
    return torch.randperm(n, generator=epoch_generator(seed, epoch)).to(device)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, device) -> torch.Tensor:
    """An epoch's batches of indices (n // batch_size, batch_size) from its seeded permutation, the rest dropped."""
    steps = n // batch_size
    return epoch_permutation(n, seed, epoch, device)[: steps * batch_size].view(steps, batch_size)


def random_crop_flip(images: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Batched augmentation of (B, C, H, W): a random HxW crop of the zero-padded image, and a horizontal
    flip of a random half, each image drawing its own offsets."""
    batch, _, height, width = images.shape
    device = images.device
    if padding > 0:
        padded = torch.nn.functional.pad(images, (padding,) * 4)
        dy, dx = torch.randint(0, 2 * padding + 1, (2, batch, 1), generator=generator, device=device)
        rows = (dy + torch.arange(height, device=device))[:, None, :, None]  # (B, 1, H, 1)
        cols = (dx + torch.arange(width, device=device))[:, None, None, :]  # (B, 1, 1, W)
        batch_index = torch.arange(batch, device=device)[:, None, None, None]
        channel_index = torch.arange(images.shape[1], device=device)[None, :, None, None]
        images = padded[batch_index, channel_index, rows, cols]
    if flip:
        flipped = torch.rand(batch, generator=generator, device=device) < 0.5
        images = torch.where(flipped[:, None, None, None], images.flip(3), images)
    return images


def shifted(images: torch.Tensor, pixels: int) -> torch.Tensor:
    """(B, C, H, W) images moved `pixels` down and right (up and left if negative), zeros coming in."""
    height, width = images.shape[-2:]
    start = abs(pixels) - pixels
    padded = torch.nn.functional.pad(images, (abs(pixels),) * 4)
    return padded[..., start : start + height, start : start + width]


def multi_view_logits(model, images: torch.Tensor, normalize, flip: bool, translate: int) -> torch.Tensor:
    """Logits (B, classes) of unnormalised images averaged over test-time views, airbench's multi-crop evaluation
    (Jordan 2024, Sec. 3): the image and, with `flip`, its mirror; with `translate`, half the weight goes to two
    copies shifted diagonally by -translate and +translate pixels (each with its mirror too)."""

    def mirrored(views: torch.Tensor) -> torch.Tensor:
        x = normalize(views)
        logits = model(x).float()
        return (logits + model(x.flip(3)).float()) / 2 if flip else logits

    logits = mirrored(images)
    if translate:
        logits = logits / 2 + (mirrored(shifted(images, -translate)) + mirrored(shifted(images, translate))) / 4
    return logits
