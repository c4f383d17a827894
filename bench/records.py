"""Re-run the speedrun records and print each one's time to target beside the last time recorded on this kind
of machine, as a ratio, so that a regression shows. Machines of one name differ (two "AMD EPYC" kinds here run
at 65 and 184 GFLOP/s), so a record belongs to the CPU or GPU name and its best timed matmul, within 25%.
With --against, each speedrun also runs at an earlier commit, side by side in one sitting (the two alternate
which goes first), which is how a record from another machine is carried over to this one.

    python bench/records.py                          # every experiment=speedrun_*
    python bench/records.py speedrun_gpt speedrun_resnet --record   # and keep these times as the new records
    python bench/records.py --against b705659 --record   # beside the code that set the 2026-11-24 records
"""

import argparse
import json
import subprocess
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import torch
from common import REPO, machine, train_command

RECORDS = Path(__file__).with_name("records.json")


def matmul_gflops() -> float:
    from landmarks.engine.flops import peak_flops

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return peak_flops(device, "fp32")[0] / 1e9


def same_machine(entry: dict, name: str, gflops: float) -> bool:
    return entry["machine"] == name and abs(entry["gflops"] / gflops - 1) < 0.25


def commit(rev: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()


def checkout(rev: str, into: Path) -> Path:
    """The repository's files at `rev`, unpacked into `into`; `landmarks/models` links to `models/`, as
    pyproject's package-dir installs it, so that the old code imports its own models, not the installed ones."""
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "landmarks" / "models").symlink_to("../models")
    return into


def speedrun(experiment: str, repo: Path = REPO) -> dict:
    """The run's seconds of training until the experiment's target and steps there (absent if it did not reach
    it), and its whole command's seconds."""
    metrics, whole = train_command([f"experiment={experiment}"], repo)
    reached = (
        {"seconds": metrics["time_to_target_s"], "steps": metrics["steps_to_target"]}
        if metrics.get("time_to_target_s")
        else {}
    )
    return {**reached, "wall": round(whole, 1)}


def side_by_side(experiment: str, old: Path, old_first: bool) -> dict[str, dict]:
    """The experiment's runs here ("new") and at the old commit ("old", {} where it has no such experiment), the
    two in the order given."""
    runs = {"old": old, "new": REPO} if old_first else {"new": REPO, "old": old}
    has = {name: (repo / "configs" / "experiment" / f"{experiment}.yaml").exists() for name, repo in runs.items()}
    return {name: speedrun(experiment, repo) if has[name] else {} for name, repo in runs.items()}


def described(result: dict) -> str:
    if "seconds" not in result:
        return "target not reached" if result else "no such speedrun"
    return f"{result['seconds']:6.1f} s, {result['steps']:5d} steps, {result['wall']:6.1f} s whole"


def ratio(seconds: float | None, than: float | None, what: str) -> str:
    return f"{seconds / than:.2f}x {what}" if seconds and than else f"nothing to compare with {what}"


def main(experiments: list[str], record: bool, against: str | None) -> None:
    name, gflops = machine(), matmul_gflops()
    records = json.loads(RECORDS.read_text()) if RECORDS.exists() else []
    print(f"{name}, best fp32 matmul {gflops:.0f} GFLOP/s" + (f"; beside commit {against}" if against else ""))
    commits = {"old": commit(against) if against else None, "new": commit("HEAD")}  # what each side ran
    with tempfile.TemporaryDirectory() as scratch:
        old = checkout(against, Path(scratch)) if against else None
        for i, experiment in enumerate(experiments):
            known = [r for r in records if r["experiment"] == experiment and same_machine(r, name, gflops)]
            runs = side_by_side(experiment, old, old_first=i % 2 == 0) if old else {"new": speedrun(experiment)}
            seconds = runs["new"].get("seconds")
            columns = [f"{experiment:22s} {described(runs['new'])}"]
            columns.append(ratio(seconds, known[-1]["seconds"] if known else None, "the record"))
            if old:
                columns += [ratio(seconds, runs["old"].get("seconds"), "the old"), f"old: {described(runs['old'])}"]
            print("  " + " | ".join(columns), flush=True)
            for side in ("old", "new"):  # the new last: the last one kept is the record
                if record and runs.get(side, {}).get("seconds"):
                    kept = {"seconds": runs[side]["seconds"], "steps": runs[side]["steps"], "commit": commits[side]}
                    records.append({"experiment": experiment, "machine": name, "gflops": round(gflops), **kept})
    if record:
        RECORDS.write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="*", help="speedrun experiments (default: every speedrun_*)")
    parser.add_argument("--record", action="store_true", help="keep the times in bench/records.json")
    parser.add_argument("--against", metavar="REV", help="also run each speedrun at this commit, side by side")
    args = parser.parse_args()
    found = sorted(path.stem for path in (REPO / "configs" / "experiment").glob("speedrun_*.yaml"))
    main(args.experiments or found, args.record, args.against)
