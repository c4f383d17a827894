"""Users' own images, in torchvision's ImageFolder layout: one folder per class,

    <path>/<class>/<image>                      a seeded share (data.test_fraction) becomes the test split
    <path>/train/<class>/..., <path>/val/<class>/...   val/ is the test split, as in ImageNet's layout

PNG, JPEG, GIF or WebP files (decoded by Pillow, torchvision's image library), converted to data.in_chans
channels, resized on their shorter side to data.image_size and centre-cropped, once, to uint8 tensors that then
live on the device as the built-in datasets do. Bad folders and files raise DatasetError naming them and the fix.
"""

from pathlib import Path

import torch

from landmarks.datasets import DatasetError

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


def read_split(files: list[tuple[Path, int]], in_chans: int, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.stack([decode(file, in_chans, image_size) for file, _ in files])
    return images, torch.tensor([label for _, label in files])


def load_image_folder(cfg, seed: int) -> dict:
    """{"train": (images, labels), "test": (images, labels), "classes": [...]}, as landmarks.datasets.load_arrays."""
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
    gigabytes = (len(train) + len(test)) * cfg.in_chans * cfg.image_size**2 / 1e9
    if gigabytes > cfg.max_memory_gb:
        raise DatasetError(
            f"{root}: {len(train) + len(test)} images at {cfg.image_size} px take {gigabytes:.1f} GB in memory, above "
            f"data.max_memory_gb={cfg.max_memory_gb}; lower data.image_size or raise data.max_memory_gb "
            "(images are held in memory: streaming from disk is not implemented yet)"
        )
    return {
        "train": read_split(train, cfg.in_chans, cfg.image_size),
        "test": read_split(test, cfg.in_chans, cfg.image_size),
        "classes": classes,
    }
