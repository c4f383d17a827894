"""The whole command a user waits on, split: for each speedrun, `python train.py experiment=speedrun_<name>`'s
wall time from the shell, and where it went (metrics.json's wall_split_s, landmarks/engine/wall.py): imports and
the config, the data, the model, the set-up before the first step, the training (validation passes included),
the final evaluation, the pictures and samples, the writing; "exit" is what the shell saw beyond the split
(the interpreter's teardown). `python -c "import torch"` is timed first: the floor of any command.

    python bench/cold_start.py                      # every speedrun; a Markdown table (docs/benchmarks.md)
    python bench/cold_start.py gpt resnet           # some
    python bench/cold_start.py gpt trainer.max_steps=1   # with overrides: the start-up alone
"""

import subprocess
import sys
import time

from common import REPO, machine, train_command

SPEEDRUNS = ("gpt", "resnet", "alexnet", "vit", "transformer", "seq2seq", "bert", "dcgan", "ddpm")


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - start


def main(args: list[str]) -> None:
    names = [arg for arg in args if "=" not in arg] or list(SPEEDRUNS)
    overrides = [arg for arg in args if "=" in arg]
    print(f"{machine()}; `python -c 'import torch'` {timed([sys.executable, '-c', 'import torch']):.1f} s\n")
    rows = []
    for name in names:
        metrics, whole = train_command([f"experiment=speedrun_{name}", *overrides])
        split = metrics["wall_split_s"]
        rows.append({"speedrun": name, "whole command": whole, **split, "exit": whole - sum(split.values())})
        print(f"{name}: {whole:.1f} s", file=sys.stderr, flush=True)
    columns = list(dict.fromkeys(column for row in rows for column in row))
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(f"{row.get(c, 0):.1f}" if c != "speedrun" else row[c] for c in columns) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
