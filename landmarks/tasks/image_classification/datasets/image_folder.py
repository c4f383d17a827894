"""Users' own images, in torchvision's ImageFolder layout: one folder per class,

    <path>/<class>/<image>                      a seeded share (data.test_fraction) becomes the test split
    <path>/train/<class>/..., <path>/val/<class>/...   val/ is the test split, as in ImageNet's layout

PNG, JPEG, GIF or WebP files (decoded by Pillow, torchvision's image library), converted to data.in_chans
channels, resized on their shorter side to data.image_size and centre-cropped to uint8 tensors. A folder whose
decoded images fit in data.max_memory_gb is decoded once and lives on the device as the built-in datasets do;
a larger one stays on disk and is decoded batch by batch in DataLoader worker processes (data.num_workers) into
pinned memory, with the same batches, augmentation and evaluation. Bad folders and files raise DatasetError
naming them and the fix.
"""

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from landmarks.datasets import DatasetError
from landmarks.schema import integer, open_fraction, positive, rule
from landmarks.tasks.image_classification.datasets import DATASETS, ImageDataConfig

EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def find_images(root: Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """(file, class index) of every image under root/<class>/, classes in sorted order, as ImageFolder does."""
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir()) if root.is_dir() else []
    files = [
        (file, index)
        for index, name in enumerate(classes)
        for file in sorted((root / name).rglob("*"))
        if file.suffix.lower() in EXTENSIONS
    ]
    if not files:
        raise DatasetError(
            f"{root} holds no images: expected {root}/<class>/<image>.png (or .jpg, .gif, .webp), one folder per "
            "class; set data.path to such a folder"
        )
    if len(classes) < 2:
        raise DatasetError(f"{root} holds a single class ({classes[0]}): a classifier needs two or more folders")
    return files, classes


def decode(file: Path, in_chans: int, image_size: int) -> torch.Tensor:
    """One image as uint8 (in_chans, image_size, image_size)."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.v2.functional import center_crop, pil_to_tensor, resize

    try:
        with Image.open(file) as opened:
            image = pil_to_tensor(opened.convert("L" if in_chans == 1 else "RGB"))
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(f"{file} is not a readable image ({error}); remove or replace it") from None
    return center_crop(resize(image, [image_size], antialias=True), [image_size, image_size])


class FolderImages(torch.utils.data.Dataset):
    """Images read from their files when asked for: `images[index]` is a lazy subset; `stream` decodes batches."""

    def __init__(self, files: list[Path], in_chans: int, image_size: int, num_workers: int):
        self.files, self.in_chans, self.image_size, self.num_workers = files, in_chans, image_size, num_workers

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int | slice | torch.Tensor) -> "torch.Tensor | FolderImages":
        """One decoded image (C, H, W) for an int, as DataLoader asks; a slice or tensor of indices, lazily."""
        if isinstance(index, int):
            return decode(self.files[index], self.in_chans, self.image_size)
        files = self.files[index] if isinstance(index, slice) else [self.files[i] for i in index.tolist()]
        return FolderImages(files, self.in_chans, self.image_size, self.num_workers)

    def stream(self, index_batches: Iterable[torch.Tensor | slice], device: torch.device) -> Iterator[torch.Tensor]:
        """uint8 (B, C, H, W) batches on `device`, in the order of `index_batches`, decoded ahead by the workers."""
        batches = (range(len(self))[index] if isinstance(index, slice) else index.tolist() for index in index_batches)
        loader = torch.utils.data.DataLoader(  # its own generator: the global one seeds the weights and dropout
            self,
            batch_sampler=batches,
            num_workers=self.num_workers,
            pin_memory=device.type == "cuda",
            generator=torch.Generator(),
        )
        return on_device(loader, device)

    def load(self) -> torch.Tensor:
        """All the images as one uint8 tensor, decoded by the workers in chunks."""
        chunks = [slice(start, start + 256) for start in range(0, len(self), 256)]
        return torch.cat(list(self.stream(chunks, torch.device("cpu"))))


@dataclass
class ImageFolderConfig(ImageDataConfig):
    path: str = rule(lambda path: isinstance(path, str) and path.strip(), "a folder of <class>/<image> files")
    test_fraction: float = rule(open_fraction, "a fraction in (0, 1), e.g. data.test_fraction=0.2", default=0.2)
    max_memory_gb: float = rule(positive, "a number of gigabytes > 0, e.g. data.max_memory_gb=4", default=4.0)
    num_workers: int | None = rule(
        integer(0), "a number of worker processes >= 0 (0 decodes here), or null for the machine's", default=None
    )


def on_device(loader: torch.utils.data.DataLoader, device: torch.device) -> Iterator[torch.Tensor]:
    """The loader's batches on `device`. A DatasetError raised in a worker process comes back wrapped in the
    worker's traceback: it is raised again as its own one line."""
    try:
        for batch in loader:
            yield batch.to(device, non_blocking=True)
    except DatasetError as error:
        message = str(error).strip().splitlines()[-1].removeprefix("landmarks.datasets.DatasetError: ")
        raise DatasetError(message) from None


def machine_workers() -> int:
    """data.num_workers=null: this process's share of the machine's cores (torchrun's processes on it share
    them), at most 8, for a GPU that decodes faster than two workers can feed it."""
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may use (a container's, a job's)
    except AttributeError:  # macOS and Windows have no affinity
        cores = os.cpu_count() or 1
    return max(1, min(8, cores // int(os.environ.get("LOCAL_WORLD_SIZE", 1)) - 1))


def read_split(files: list[tuple[Path, int]], cfg, stream: bool) -> tuple[torch.Tensor | FolderImages, torch.Tensor]:
    workers = machine_workers() if cfg.num_workers is None else cfg.num_workers
    images = FolderImages([file for file, _ in files], cfg.in_chans, cfg.image_size, workers)
    return images if stream else images.load(), torch.tensor([label for _, label in files])


@DATASETS.register("image_folder", config=ImageFolderConfig)
def load_image_folder(cfg: ImageFolderConfig, seed: int) -> dict:
    """The train and test splits of the folder, and its class names (the folders' names, sorted)."""
    root = Path(cfg.path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"data.path={cfg.path} is not a folder; point it at <folder>/<class>/<image> files")
    if (root / "train").is_dir() and (root / "val").is_dir():
        train, classes = find_images(root / "train")
        test, test_classes = find_images(root / "val")
        if test_classes != classes:
            raise DatasetError(f"{root}/val has classes {test_classes}, {root}/train has {classes}: make them equal")
    else:
        files, classes = find_images(root)
        order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
        cut = max(1, round(cfg.test_fraction * len(files)))
        test, train = [files[i] for i in order[:cut]], [files[i] for i in order[cut:]]
    stream = (len(train) + len(test)) * cfg.in_chans * cfg.image_size**2 / 1e9 > cfg.max_memory_gb
    return {"train": read_split(train, cfg, stream), "test": read_split(test, cfg, stream), "classes": classes}
