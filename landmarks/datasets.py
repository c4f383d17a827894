"""Datasets on disk: checksum-verified files in their original formats, read into tensors or sentence pairs.

- Fashion-MNIST (Xiao et al. 2017) and MNIST (LeCun et al. 1998): four IDX files each, gzipped.
  Fashion-MNIST ships with this repository (data/fashion-mnist, MIT licence), so it works offline.
- CIFAR-10 (Krizhevsky 2009): the "python version" tarball of pickled batches.
- Multi30k (Elliott et al. 2016): English-German image captions, three tarballs of line-aligned text files.

Fetch one with `python -m landmarks.datasets NAME --root DIR`; `data.download=true` does the same from train.py.
Downloads go through torchvision's `download_url`, then are checked here: torchvision's checks are md5 only
(Multi30k publishes sha256) and know one digest per file (the vendored Fashion-MNIST was gzipped anew). The
readers stay here too: torchvision's MNIST classes want the files unzipped in their own folder layout, and its
CIFAR-10 class checks every batch file against the official md5, so neither reads the vendored copy or the
small real-format files the tests write.
"""

import argparse
import gzip
import hashlib
import pickle
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


class DatasetError(RuntimeError):
    """A dataset file that is missing, corrupted or malformed; the message says how to fix it."""


@dataclass(frozen=True)
class Resource:
    filename: str
    digests: tuple[str, ...]  # accepted md5 (32 hex digits) or sha256 (64) digests of the file as stored

    @property
    def algorithm(self) -> str:
        return "sha256" if len(self.digests[0]) == 64 else "md5"

    def verified(self, path: Path) -> bool:
        return file_hash(path, self.algorithm) in self.digests


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    urls: tuple[str, ...]  # mirrors, tried in order; a resource's URL is mirror + filename
    resources: tuple[Resource, ...]
    classes: tuple[str, ...] = ()


# Digests: the first is the upstream file's (as torchvision lists it); Fashion-MNIST's second is the copy
# vendored from Debian's package dataset-fashion-mnist, which gzipped the same IDX bytes anew.
SPECS = {
    "fashion_mnist": DatasetSpec(
        "fashion_mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        (
            Resource(
                "train-images-idx3-ubyte.gz", ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "cf8536b0aa1a6ac5fa3f23001093305c")
            ),
            Resource(
                "train-labels-idx1-ubyte.gz", ("25c81989df183df01b3e8a0aad5dffbe", "10bea18fdb374794d4bb42e356e600c9")
            ),
            Resource(
                "t10k-images-idx3-ubyte.gz", ("bef4ecab320f06d8554ea6380940ec79", "f78720b4224f21cce2f2ccf2d7a94c9a")
            ),
            Resource(
                "t10k-labels-idx1-ubyte.gz", ("bb300cfdad3c16e7a12a480ee83cd310", "0d30e22e447f3c33dab9ed536400ac01")
            ),
        ),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
    "mnist": DatasetSpec(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        (
            Resource("train-images-idx3-ubyte.gz", ("f68b3c2dcbeaaa9fbdd348bbdeb94873",)),
            Resource("train-labels-idx1-ubyte.gz", ("d53e105ee54ea40749a09fcbcd1e9432",)),
            Resource("t10k-images-idx3-ubyte.gz", ("9fb629c4189551a2d022fa330f9573f3",)),
            Resource("t10k-labels-idx1-ubyte.gz", ("ec29112dd5afa0611ce80d1b7f02629c",)),
        ),
        tuple(str(digit) for digit in range(10)),
    ),
    "cifar10": DatasetSpec(
        "cifar10",
        ("https://www.cs.toronto.edu/~kriz/",),
        (Resource("cifar-10-python.tar.gz", ("c58f30108f718f92721af3b95e74349a",)),),
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    ),
    "multi30k": DatasetSpec(  # the WMT16 multimodal task 1 tarballs; sha256 digests as torchtext lists them
        "multi30k",
        (
            "https://raw.githubusercontent.com/neychev/small_DL_repo/master/datasets/Multi30k/",
            "http://www.quest.dcs.shef.ac.uk/wmt16_files_mmt/",
        ),
        (
            Resource("training.tar.gz", ("20140d013d05dd9a72dfde46478663ba05737ce983f478f960c1123c6671be5e",)),
            Resource("validation.tar.gz", ("a7aa20e9ebd5ba5adce7909498b94410996040857154dab029851af3a866da8c",)),
            Resource("mmt16_task1_test.tar.gz", ("0681be16a532912288a91ddd573594fbdd57c0fbb81486eff7c55247e35326c2",)),
        ),
    ),
}
IMAGE_DATASETS = ("fashion_mnist", "mnist", "cifar10")
DEFAULT_ROOTS = {"fashion_mnist": REPO_ROOT / "data" / "fashion-mnist"}


def dataset_dir(name: str, root: str | None) -> Path:
    """Where `name` lives: `root` (relative paths resolve against the repo, not Hydra's run dir),
    else the vendored copy, else ~/.cache/landmarks/NAME."""
    if root:
        path = Path(root).expanduser()
        return path if path.is_absolute() else REPO_ROOT / path
    return DEFAULT_ROOTS.get(name, Path.home() / ".cache" / "landmarks" / name)


def file_hash(path: Path, algorithm: str = "md5") -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_command(name: str, directory: Path) -> str:
    return f"python -m landmarks.datasets {name} --root {directory}"


def verify(spec: DatasetSpec, directory: Path) -> None:
    """Raise DatasetError naming the fix if a file of `spec` is missing or fails its checksum."""
    for resource in spec.resources:
        path = directory / resource.filename
        if not path.exists():
            raise DatasetError(
                f"{spec.name}: {path} not found. Fetch it with `{fetch_command(spec.name, directory)}` "
                f"(or add data.download=true to the train.py command)."
            )
        if not resource.verified(path):
            raise DatasetError(
                f"{spec.name}: {path} fails its checksum ({resource.algorithm} {file_hash(path, resource.algorithm)}, "
                f"expected one of {list(resource.digests)}); "
                f"the file is corrupted or not the original. Delete it and run `{fetch_command(spec.name, directory)}`."
            )


def download(spec: DatasetSpec, directory: Path) -> None:
    """Download every missing file of `spec` into `directory`, verify it, and move it into place."""
    from torchvision.datasets.utils import download_url  # imported here: only a download needs torchvision

    directory.mkdir(parents=True, exist_ok=True)
    for resource in spec.resources:
        target = directory / resource.filename
        if target.exists() and resource.verified(target):
            continue
        partial = directory / f"{resource.filename}.part"  # moved into place only once verified
        errors = []
        for mirror in spec.urls:
            partial.unlink(missing_ok=True)
            try:  # torchvision's downloader: redirects, a browser's user agent, a progress bar
                download_url(mirror + resource.filename, str(directory), partial.name)
            except OSError as error:
                errors.append(f"{mirror}: {error}")
                continue
            if not resource.verified(partial):
                errors.append(f"{mirror}: checksum mismatch")
                continue
            partial.replace(target)
            break
        else:
            partial.unlink(missing_ok=True)
            raise DatasetError(f"{spec.name}: could not download {resource.filename}: {'; '.join(errors)}")


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (LeCun's MNIST format, optionally gzipped) of unsigned bytes into a uint8 tensor."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes (magic {data[:4].hex()}, expected 000008xx)")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = data[4 + 4 * ndim :]
    if len(body) != torch.Size(shape).numel():
        raise DatasetError(f"{path}: header says shape {shape} but holds {len(body)} bytes; the file is truncated")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def read_cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one pickled CIFAR-10 batch: images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    images = torch.as_tensor(batch[b"data"], dtype=torch.uint8).reshape(-1, 3, 32, 32)
    return images, torch.as_tensor(batch[b"labels"], dtype=torch.int64)


def load_arrays(name: str, root: str | None = None, download_missing: bool = False) -> dict:
    """Return {"train": (images, labels), "test": (images, labels), "classes": [...]}: images are
    uint8 (N, C, H, W), labels int64 (N,)."""
    if name not in IMAGE_DATASETS:
        raise DatasetError(f"Unknown dataset {name!r}; choose one of {sorted(IMAGE_DATASETS)}.")
    spec, directory = SPECS[name], dataset_dir(name, root)
    if download_missing:
        download(spec, directory)
    verify(spec, directory)
    if name == "cifar10":
        extracted = directory / "cifar-10-batches-py"
        if not extracted.exists():
            with tarfile.open(directory / spec.resources[0].filename) as tar:
                tar.extractall(directory, filter="data")
        train = [read_cifar_batch(extracted / f"data_batch_{i}") for i in range(1, 6)]
        splits = {
            "train": (torch.cat([x for x, _ in train]), torch.cat([y for _, y in train])),
            "test": read_cifar_batch(extracted / "test_batch"),
        }
    else:

        def pair(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
            images = read_idx(directory / f"{prefix}-images-idx3-ubyte.gz").unsqueeze(1)  # (N, 1, 28, 28)
            return images, read_idx(directory / f"{prefix}-labels-idx1-ubyte.gz").long()

        splits = {"train": pair("train"), "test": pair("t10k")}
    return {**splits, "classes": list(spec.classes)}


def read_tar_lines(tarball: Path, basename: str) -> list[str]:
    """The lines of the member named `basename` (in any folder) of a gzipped tarball, trailing blank lines dropped."""
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and Path(m.name).name == basename]
        if not members:
            raise DatasetError(f"{tarball} holds no file named {basename}; delete it and download it again")
        lines = tar.extractfile(members[0]).read().decode("utf-8").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def load_multi30k(
    root: str | None, download_missing: bool, languages: tuple[str, str] = ("en", "de")
) -> dict[str, list[tuple[str, str]]]:
    """Multi30k's train (29,000), val (1,014) and test 2016 (1,000) sentence pairs, source and target
    languages as given (en, de, and in these tarballs also fr and cs)."""
    spec, directory = SPECS["multi30k"], dataset_dir("multi30k", root)
    if download_missing:
        download(spec, directory)
    verify(spec, directory)
    splits = {}
    for split, resource in zip(("train", "val", "test"), spec.resources):
        source, target = (
            read_tar_lines(directory / resource.filename, f"{split}.{language}") for language in languages
        )
        if len(source) != len(target):
            raise DatasetError(
                f"{directory / resource.filename}: {len(source)} "
                f"{languages[0]} lines but {len(target)} {languages[1]} lines"
            )
        splits[split] = list(zip(source, target))
    return splits


def main() -> None:
    parser = argparse.ArgumentParser(description="Download and verify a Landmarks dataset.")
    parser.add_argument("name", choices=sorted(SPECS))
    parser.add_argument("--root", default=None, help="directory for the files (default: the dataset's cache)")
    args = parser.parse_args()
    directory = dataset_dir(args.name, args.root)
    download(SPECS[args.name], directory)
    verify(SPECS[args.name], directory)
    print(f"{args.name}: verified in {directory}")


if __name__ == "__main__":
    main()
