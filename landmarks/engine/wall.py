"""Where a command's wall time goes, beyond the training that the loop's clock counts: imports and the config,
the data, the model, the set-up before the first step, the training (its validation passes included), the final
evaluation, the pictures and samples, the writing. One split per process, begun by each run; the final report
prints it and metrics.json keeps it (`wall_split_s`), so that bench/cold_start.py can show it for each speedrun."""

import os
import time
from pathlib import Path

_split = {"last": time.perf_counter(), "seconds": {}}


def begin(started: float | None = None) -> None:
    """A new split from `started` (a perf_counter reading: train.py's process start), or from now."""
    _split["last"], _split["seconds"] = started or time.perf_counter(), {}


def process_started() -> float | None:
    """This process's start as a perf_counter reading, so that a split from it counts the interpreter's start and
    the imports too: Linux's /proc/self/stat (in clock ticks since boot); None elsewhere, and None where the process
    is older than its own CPU time by more than a second: a shell that exec'd Python after other commands (`bash -c
    "pip install -e . && python train.py"` does, keeping its start time) would count their minutes as imports."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError, IndexError):
        return None
    cpu = os.times()
    return time.perf_counter() - age if age < cpu.user + cpu.system + 1.0 else None


def lap(name: str) -> None:
    """The time since the previous lap, added to `name`."""
    now = time.perf_counter()
    _split["seconds"][name] = _split["seconds"].get(name, 0.0) + now - _split["last"]
    _split["last"] = now


def seconds() -> dict[str, float]:
    """Each phase's seconds so far, in the order they first ran."""
    return {name: round(value, 2) for name, value in _split["seconds"].items()}
