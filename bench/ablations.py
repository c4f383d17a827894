"""The Fashion-MNIST record's ablations (docs/record_fashion_mnist.md): the record run, then the same run
without one trick at a time (same epochs, same seed), and the record's model evaluated with fewer test-time
views. Prints a Markdown table of test accuracy and training time.

    python bench/ablations.py                                   # all of it: about 20 minutes on 2 CPU cores
    python bench/ablations.py --record outputs/airbench_tiny-fashion_mnist-record_fashion_mnist/<time> lookahead
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from common import REPO
from omegaconf import OmegaConf

RECIPE = REPO / "configs" / "recipe" / "airbench_fashion_mnist.yaml"  # airbench94's SGD, under the record's Muon
ABLATIONS = {  # name: the overrides that remove the trick
    "muon": [f"optim.{key}={value}" for key, value in OmegaConf.load(RECIPE).optim.items()],
    "lookahead": ["trainer.lookahead=null"],
    "patch_whitening": ["model.whitening=false"],
    "label_smoothing": ["trainer.label_smoothing=0"],
}
VIEWS = {  # test-time views of the record's model: (tta_flip, tta_translate)
    "image only": (False, 0),
    "image and mirror": (True, 0),
    "image, mirror and 1 px diagonal shifts (the record)": (True, 1),
}


def train(run_dir: Path, overrides: list[str]) -> dict:
    command = [sys.executable, "train.py", "experiment=record_fashion_mnist", "trainer.progress=false", *overrides]
    subprocess.run([*command, f"hydra.run.dir={run_dir}"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return json.loads((run_dir / "metrics.json").read_text())


def views(record_dir: Path) -> dict[str, float]:
    from landmarks import load_run

    trained = load_run(record_dir)
    accuracy = {}
    for name, (flip, translate) in VIEWS.items():
        trained.config.data.augment.tta_flip, trained.config.data.augment.tta_translate = flip, translate
        accuracy[name] = trained.evaluate("test")["acc"]
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ablations", nargs="*", help=f"some of {', '.join(ABLATIONS)} (default: all)")
    parser.add_argument("--record", type=Path, help="a finished record_fashion_mnist run dir to reuse")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "ablations")
    args = parser.parse_args()
    if unknown := set(args.ablations) - set(ABLATIONS):
        parser.error(f"unknown ablations {sorted(unknown)}; choose from {', '.join(ABLATIONS)}")
    record_dir = args.record or args.out / "record"
    record = json.loads((record_dir / "metrics.json").read_text()) if args.record else train(record_dir, [])
    print("| run | test accuracy | training (s) |\n|---|---|---|")
    print(f"| record | {record['test/acc']:.2%} | {record['train_time_s']:.1f} |")
    for name in args.ablations or ABLATIONS:
        metrics = train(args.out / name, ABLATIONS[name])
        print(f"| without {name} | {metrics['test/acc']:.2%} | {metrics['train_time_s']:.1f} |", flush=True)
    for name, accuracy in views(record_dir).items():
        print(f"| record, evaluated on the {name} | {accuracy:.2%} | |")


if __name__ == "__main__":
    main()
