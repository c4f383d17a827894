"""The wheels bench/gpu_check.py needs on a GPU machine that has PyTorch but reaches no package index (a cluster
node, a borrowed box): downloaded here, where pip works, into a folder that travels with the command.

    python bench/gpu_wheels.py --python 3.12           # here: the machine's Python version -> .wheels/
    python bench/gpu_check.py --wheels .wheels         # there: installs them (and this project) offline, then checks

The project's dependencies and theirs are fetched as manylinux x86-64 wheels for that Python, less what every
PyTorch install brings (torch, torchvision, numpy, Pillow and the rest of WITH_TORCH), so that the folder stays
small (under MAX_MB) for a command's upload; pip there installs what it lacks from the folder and keeps the rest.
"""

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
PLATFORMS += ["manylinux_2_24_x86_64", "manylinux_2_31_x86_64", "manylinux_2_34_x86_64", "manylinux1_x86_64"]
WITH_TORCH = {  # PyTorch's and torchvision's own requirements: a machine with PyTorch has them
    "torch", "torchvision", "numpy", "pillow", "typing_extensions", "filelock", "sympy", "mpmath", "networkx",
    "jinja2", "markupsafe", "fsspec", "setuptools", "triton",
}  # fmt: skip
MAX_MB = 48  # the wheels' share of a GPU command's 64 MiB upload


def closure(python: str) -> dict[str, str]:
    """The installed project's dependencies and theirs on Linux under CPython `python`, at the versions installed
    here (name -> version), less WITH_TORCH."""
    from importlib.metadata import requires, version

    from packaging.requirements import Requirement

    target = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux", "extra": ""}
    wanted, found = [Requirement(spec) for spec in requires("landmarks")], {}  # its dev extra: no (extra is "")
    while wanted:
        requirement = wanted.pop()
        name = requirement.name.lower().replace("-", "_")
        if name in found or name in WITH_TORCH or requirement.marker and not requirement.marker.evaluate(target):
            continue
        found[name] = version(name)
        wanted += [Requirement(spec) for spec in requires(name) or []]
    return found


def download(python: str, folder: Path) -> list[Path]:
    """A wheel of each of closure()'s versions for CPython `python` on manylinux x86-64 (or the source of a pure
    Python one published without a wheel: hydra's antlr4 runtime), into `folder`."""
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(folder)]
    wheel = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp", *platforms]
    folder.mkdir(parents=True, exist_ok=True)
    for name, version in closure(python).items():
        if subprocess.run([*pip, *wheel, f"{name}=={version}"], capture_output=True).returncode:
            subprocess.run([*pip, "--no-binary=:all:", f"{name}=={version}"], check=True)
    return sorted(folder.iterdir())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=f"{sys.version_info.major}.{sys.version_info.minor}",
                        help="the GPU machine's Python version, e.g. 3.12 (default: this one's)")  # fmt: skip
    parser.add_argument("--dir", type=Path, default=REPO / ".wheels", help="where the wheels go (git ignores it)")
    args = parser.parse_args(argv)
    wheels = download(args.python, args.dir)
    megabytes = sum(wheel.stat().st_size for wheel in wheels) / 2**20
    print(f"{len(wheels)} wheels, {megabytes:.1f} MiB, in {args.dir}: {', '.join(w.name for w in wheels)}")
    if megabytes > MAX_MB:
        print(f"gpu_wheels: {megabytes:.1f} MiB exceeds {MAX_MB} MiB; carry fewer (see WITH_TORCH)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
