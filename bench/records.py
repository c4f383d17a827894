"""Re-run the speedrun records and print each one's time to target beside the last time recorded on this kind
of machine, as a ratio, so that a regression shows. Machines of one name differ (two "AMD EPYC" kinds here run
at 65 and 184 GFLOP/s), so a record belongs to the CPU or GPU name and its best timed matmul, within 25%.

    python bench/records.py                          # every experiment=speedrun_*
    python bench/records.py speedrun_gpt speedrun_resnet --record   # and keep these times as the new records
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from common import REPO, machine

RECORDS = Path(__file__).with_name("records.json")


def matmul_gflops() -> float:
    from landmarks.engine.flops import peak_flops

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return peak_flops(device, "fp32")[0] / 1e9


def same_machine(entry: dict, name: str, gflops: float) -> bool:
    return entry["machine"] == name and abs(entry["gflops"] / gflops - 1) < 0.25


def time_to_target(experiment: str) -> float | None:
    """Seconds of training until the experiment's target, or None if it did not reach it."""
    with tempfile.TemporaryDirectory() as run_dir:
        command = [sys.executable, "train.py", f"experiment={experiment}", "trainer.progress=false"]
        subprocess.run([*command, f"hydra.run.dir={run_dir}"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        return json.loads(Path(run_dir, "metrics.json").read_text()).get("time_to_target_s")


def main(experiments: list[str], record: bool) -> None:
    name, gflops = machine(), matmul_gflops()
    records = json.loads(RECORDS.read_text()) if RECORDS.exists() else []
    print(f"{name}, best fp32 matmul {gflops:.0f} GFLOP/s")
    for experiment in experiments:
        seconds = time_to_target(experiment)
        known = [r for r in records if r["experiment"] == experiment and same_machine(r, name, gflops)]
        last = known[-1]["seconds"] if known else None
        ratio = f"{seconds / last:.2f}x the record ({last:.1f} s)" if seconds and last else "no record on this machine"
        print(f"  {experiment:24s} {seconds or float('nan'):7.1f} s   {ratio}")
        if record and seconds:
            records.append({"experiment": experiment, "machine": name, "gflops": round(gflops), "seconds": seconds})
    if record:
        RECORDS.write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    names = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    found = sorted(path.stem for path in (REPO / "configs" / "experiment").glob("speedrun_*.yaml"))
    main(names or found, "--record" in sys.argv)
