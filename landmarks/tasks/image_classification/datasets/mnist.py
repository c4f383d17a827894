"""MNIST (LeCun et al. 1998): 60k train / 10k test handwritten digits, 28x28 grey; downloads on request."""

from landmarks.datasets import DatasetSpec, prepared, register_spec
from landmarks.tasks.image_classification.datasets import DATASETS
from landmarks.tasks.image_classification.datasets.fashion_mnist import DownloadedImages
from landmarks.tasks.image_classification.datasets.idx import idx_resources, load_idx_dataset

SPEC = register_spec(
    DatasetSpec(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        idx_resources(
            {
                "train-images-idx3": ("f68b3c2dcbeaaa9fbdd348bbdeb94873",),
                "train-labels-idx1": ("d53e105ee54ea40749a09fcbcd1e9432",),
                "t10k-images-idx3": ("9fb629c4189551a2d022fa330f9573f3",),
                "t10k-labels-idx1": ("ec29112dd5afa0611ce80d1b7f02629c",),
            }
        ),
        tuple(str(digit) for digit in range(10)),
    )
)


@DATASETS.register("mnist", config=DownloadedImages)
def load(cfg: DownloadedImages, seed: int) -> dict:
    return load_idx_dataset(prepared("mnist", cfg), SPEC.classes)
