"""The wall split's start: the process's own, unless the process ran something else before it became Python."""

import subprocess
import sys

import pytest

AGE = "import time; from landmarks.engine import wall; s = wall.process_started(); print(s and time.perf_counter() - s)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the process's start is read from Linux's /proc")
def test_the_split_starts_with_the_interpreter_not_with_a_shell_that_exec_d_it():
    alone = subprocess.run([sys.executable, "-c", AGE], capture_output=True, text=True, check=True).stdout
    assert 0 < float(alone) < 1.0  # the interpreter's start and this import
    after_a_wait = f"sleep 1.5 && exec {sys.executable} -c '{AGE}'"  # the shell's pid, and its start, become Python's
    exec_d = subprocess.run(["bash", "-c", after_a_wait], capture_output=True, text=True, check=True).stdout
    assert exec_d.strip() == "None"  # not 1.5 s of imports
