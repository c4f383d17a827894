"""Fashion-MNIST (Xiao et al. 2017): 60k train / 10k test, 28x28 grey, 10 classes. It ships with this repository
(data/fashion-mnist, MIT licence), so it works offline."""

from dataclasses import dataclass

from landmarks.datasets import REPO_ROOT, DatasetSpec, DownloadConfig, prepared, register_spec
from landmarks.tasks.image_classification.datasets import DATASETS, ImageDataConfig
from landmarks.tasks.image_classification.datasets.idx import idx_resources, load_idx_dataset

# Digests: the first is the upstream file's (as torchvision lists it), the second the copy vendored from Debian's
# package dataset-fashion-mnist, which gzipped the same IDX bytes anew.
SPEC = register_spec(
    DatasetSpec(
        "fashion_mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        idx_resources(
            {
                "train-images-idx3": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "cf8536b0aa1a6ac5fa3f23001093305c"),
                "train-labels-idx1": ("25c81989df183df01b3e8a0aad5dffbe", "10bea18fdb374794d4bb42e356e600c9"),
                "t10k-images-idx3": ("bef4ecab320f06d8554ea6380940ec79", "f78720b4224f21cce2f2ccf2d7a94c9a"),
                "t10k-labels-idx1": ("bb300cfdad3c16e7a12a480ee83cd310", "0d30e22e447f3c33dab9ed536400ac01"),
            }
        ),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
    shipped=REPO_ROOT / "data" / "fashion-mnist",
)


@dataclass
class DownloadedImages(ImageDataConfig, DownloadConfig):
    pass


@DATASETS.register("fashion_mnist", config=DownloadedImages)
def load(cfg: DownloadedImages, seed: int) -> dict:
    return load_idx_dataset(prepared("fashion_mnist", cfg), SPEC.classes)
