"""Files from the outside world, shared by every task's datasets: checksum-verified downloads in the files'
original formats, a cache directory, and UTF-8 text read with a clear error. The datasets themselves live with
their task (landmarks/tasks/<task>/datasets/), each registering here the files it downloads (`SPECS`).

Fetch one with `python -m landmarks.download NAME --root DIR`; `data.download=true` does the same from train.py.
Downloads go through torchvision's `download_url`, then are checked here: torchvision's checks are md5 only
(Multi30k publishes sha256) and know one digest per file (the vendored Fashion-MNIST was gzipped anew).
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from landmarks.schema import rule

REPO_ROOT = Path(__file__).resolve().parents[1]


class DatasetError(RuntimeError):
    """A dataset file that is missing, corrupted or malformed; the message says how to fix it."""


class TextError(ValueError):
    """Malformed text input; the message names the file, the line and the fix."""


def read_utf8(path: Path) -> str:
    """The text of `path`; a file that is not UTF-8 raises TextError naming the line, the byte and the fix."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise TextError(
            f"{path}:{line}: byte 0x{data[error.start]:02x} is not UTF-8; convert the file, e.g. "
            f"`iconv -f latin1 -t utf-8 {path} > {path}.utf8`, and point data.path at the result"
        ) from None


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


SPECS: dict[str, DatasetSpec] = {}  # every downloadable dataset's files, registered by its module
DEFAULT_ROOTS: dict[str, Path] = {}  # datasets that ship with the repository: their folder


@dataclass
class DownloadConfig:
    """The `data.*` keys of a dataset that downloads."""

    root: str | None = None  # null = the shipped copy, else ~/.cache/landmarks/<name>; relative to the repo root
    download: bool = False  # fetch missing files (checksum-verified) into root


def register_spec(spec: DatasetSpec, shipped: Path | None = None) -> DatasetSpec:
    SPECS[spec.name] = spec
    if shipped:
        DEFAULT_ROOTS[spec.name] = shipped
    return spec


def prepared(name: str, cfg: DownloadConfig) -> Path:
    """The verified folder of dataset `name` (SPECS), downloaded first if `cfg.download`."""
    spec, directory = SPECS[name], dataset_dir(name, cfg.root)
    if cfg.download:
        download(spec, directory)
    verify(spec, directory)
    return directory


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


SHAKESPEARE = REPO_ROOT / "data" / "tinyshakespeare" / "input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def shakespeare_text() -> str:
    """Tiny Shakespeare (Karpathy 2015), vendored in data/tinyshakespeare and sha256-verified at every load."""
    if file_hash(SHAKESPEARE, "sha256") != SHAKESPEARE_SHA256:
        raise DatasetError(f"{SHAKESPEARE} fails its sha256 checksum; restore it with `git checkout {SHAKESPEARE}`")
    return SHAKESPEARE.read_text(encoding="utf-8")


HELD_OUT_EVERY = 5  # every fifth speech of Tiny Shakespeare is held out of training, by every task that reads it


@dataclass(frozen=True)
class Speech:
    speaker: str  # "ROMEO"
    text: str  # the block as in the file: "ROMEO:" and the speech's lines
    held_out: bool


def shakespeare_speeches() -> list[Speech]:
    """Tiny Shakespeare as its speeches in order (blocks of "SPEAKER:" and lines, blank-line separated), every
    HELD_OUT_EVERY-th held out: the masked LM validates on the held-out speeches and the speaker-attribution task
    validates and tests on their lines, so that no pretraining run reads a line a fine-tuned model is tested on."""
    blocks = shakespeare_text().strip().split("\n\n")
    return [
        Speech(block.split(":", 1)[0], block, index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1)
        for index, block in enumerate(blocks)
    ]


def text_path():
    """The schema field `data.path` of a text file."""
    return rule(lambda path: isinstance(path, str) and path.strip(), "a UTF-8 text file")


def text_file(path: str) -> str:
    """The UTF-8 text of data.path, read whole: one line naming the fix if it is missing or empty."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise TextError(f"data.path={path}: no such file; point it at a UTF-8 text file")
    text = read_utf8(file)
    if not text.strip():
        raise TextError(f"data.path={path} holds no text; point it at a non-empty UTF-8 text file")
    return text


def fetch_command(name: str, directory: Path) -> str:
    return f"python -m landmarks.download {name} --root {directory}"


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
