"""The packages, found rather than listed (pyproject.toml holds the rest): landmarks/ and every package under it,
and the top-level models/ folder installed as landmarks.models. A new task or dataset folder ships with no edit."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["landmarks", "landmarks.*"])
    + [f"landmarks.{name}" for name in find_packages(include=["models", "models.*"])],
    package_dir={"landmarks.models": "models"},
    package_data={"landmarks.tasks.image_generation": ["features/*/*"]},  # the FID's shipped classifiers
)
