"""The data of image generation: every dataset of image classification (its loader and its `data.*` keys), with
the keys of how samples are drawn and judged added to its schema."""

import dataclasses
from dataclasses import dataclass

from landmarks.registry import Registry
from landmarks.schema import integer, positive, rule
from landmarks.tasks.image_classification.datasets import DATASETS as IMAGE_DATASETS
from landmarks.tasks.image_classification.datasets import ImageDataConfig


@dataclass
class Sampling:
    """`data.*` keys of image generation beyond the images' (configs/data/fashion_mnist_generation.yaml)."""

    fid_samples: int = rule(integer(2), "a number of samples >= 2, e.g. data.fid_samples=1000", default=1000)
    sample_steps: int | None = rule(integer(1), "a number of sampling steps >= 1, or null for the model's own", None)
    guidance: float | None = rule(positive, "a guidance scale w > 0, or null for none", default=None)
    fid_classifier: str | None = None  # an exported image classifier's dir; null: the one shipped for the data


def with_sampling(schema: type) -> type:
    return dataclasses.make_dataclass(f"{schema.__name__}ForGeneration", [], bases=(schema, Sampling))


ImageGenerationConfig = with_sampling(ImageDataConfig)
DATASETS = Registry("image dataset", "data.source")
for name in IMAGE_DATASETS.names():
    DATASETS.register(name, config=with_sampling(IMAGE_DATASETS.config(name) or ImageDataConfig))(IMAGE_DATASETS[name])
