"""The datasets of image classification, one file each, registered in DATASETS under their `data.source` name
with the schema of the `data.*` keys they read. A loader takes that typed config and the seed and returns
{"train": (images, labels), "test": (images, labels), "classes": [...]}: images uint8 (N, C, H, W) (or an image
folder's files, decoded when read), labels int64 (N,). A new dataset is one file here and one configs/data/ file."""

from dataclasses import dataclass, field

from landmarks.registry import Registry
from landmarks.schema import integer, rule
from landmarks.tasks.base import DataConfig

DATASETS = Registry("image dataset", "data.source", package=__name__)


@dataclass
class Augment:
    """`data.augment.*`: batched on the device (data.py), and the views averaged at test time."""

    crop_padding: int = rule(integer(0), "a number of pixels >= 0", default=0)  # random crops of the padded image
    flip: bool = False  # random horizontal flips
    tta_flip: bool = False  # evaluate on the mean logits of the image and its mirror
    tta_translate: int = rule(integer(0), "a number of pixels >= 0 (0 = no translated views)", default=0)


@dataclass
class ImageDataConfig(DataConfig):
    """The `data.*` keys every image dataset reads (configs/data/*.yaml says each one's use)."""

    task: str = "image_classification"
    num_classes: int | None = rule(integer(2), "an integer >= 2", default=None)
    in_chans: int = rule(integer(1), "an integer >= 1", default=3)
    image_size: int = rule(integer(1), "an integer >= 1", default=32)
    val_size: int | None = rule(integer(0), "a number of samples >= 0, or null for a tenth (at most 5,000)", default=0)
    train_size: int | None = rule(integer(1), "a number of samples >= 1, or null for all", default=None)
    test_size: int | None = rule(integer(1), "a number of samples >= 1, or null for all", default=None)
    channels_last: bool = False
    augment: Augment = field(default_factory=Augment)
