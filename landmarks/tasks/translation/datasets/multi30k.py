"""Multi30k (Elliott et al. 2016): English-German image captions (also French and Czech in these tarballs), in
their official splits, from the WMT16 multimodal task 1 tarballs; downloads on request, sha256-verified."""

import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from landmarks.datasets import DatasetError, DatasetSpec, DownloadConfig, Resource, prepared, register_spec
from landmarks.tasks.translation.datasets import DATASETS, TranslationDataConfig

SPEC = register_spec(  # sha256 digests as torchtext lists them
    DatasetSpec(
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
    )
)


@dataclass
class Multi30kConfig(TranslationDataConfig, DownloadConfig):
    languages: list[str] = field(default_factory=lambda: ["en", "de"])  # source, target


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


@DATASETS.register("multi30k", config=Multi30kConfig)
def load(cfg: Multi30kConfig) -> dict[str, list[tuple[str, str]]]:
    """Multi30k's train (29,000), val (1,014) and test 2016 (1,000) sentence pairs, source and target
    languages as `cfg.languages` says."""
    directory, languages = prepared("multi30k", cfg), tuple(cfg.languages)
    splits = {}
    for split, resource in zip(("train", "val", "test"), SPEC.resources):
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
