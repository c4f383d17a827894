"""Download and verify a dataset, for a machine that trains offline later:

    python -m landmarks.download mnist
    python -m landmarks.download cifar10 --root /data/cifar10

(`data.download=true` does the same from train.py.) The names are every task's downloadable datasets, which
register their files in landmarks/datasets.py's SPECS when their task's datasets are listed.
"""

from landmarks import datasets
from landmarks.cli import Parser
from landmarks.datasets import SPECS, DatasetError, dataset_dir, verify
from landmarks.tasks import TASKS, task_class


def main(argv: list[str] | None = None) -> None:
    for name in TASKS:  # each task's datasets register their files in SPECS
        task_class(name).datasets.names()
    parser = Parser(prog="python -m landmarks.download", description="Download and verify a Landmarks dataset.")
    parser.add_argument("name", choices=sorted(SPECS))
    parser.add_argument("--root", default=None, help="directory for the files (default: the dataset's cache)")
    args = parser.parse_args(argv)
    directory = dataset_dir(args.name, args.root)
    try:
        datasets.download(SPECS[args.name], directory)
        verify(SPECS[args.name], directory)
    except DatasetError as error:  # no network, say: one line, as data.download=true gives
        raise SystemExit(f"landmarks.download: {error}") from None
    print(f"{args.name}: verified in {directory}")


if __name__ == "__main__":
    main()
