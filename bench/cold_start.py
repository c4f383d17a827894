"""Cold start: the wall time of `python train.py model=<m> trainer.max_steps=1` for each model, from an empty
process to the final report (imports, data, model, one step, the final validation and test evaluation).

    python bench/cold_start.py [resnet alexnet vit seq2seq transformer]
"""

import subprocess
import sys
import tempfile
import time

from common import REPO, machine


def main(models: list[str]) -> None:
    print(f"python train.py model=<m> trainer.max_steps=1, {machine()}")
    for model in models:
        with tempfile.TemporaryDirectory() as run_dir:
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "train.py",
                    f"model={model}",
                    "trainer.max_steps=1",
                    "trainer.progress=false",
                    f"hydra.run.dir={run_dir}",
                ],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
            print(f"{model:<12} {time.perf_counter() - start:6.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet", "alexnet", "vit", "seq2seq", "transformer"])
