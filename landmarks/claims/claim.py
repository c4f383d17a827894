"""What a claim declares (one module a claim in landmarks/claims/findings/, registered in CLAIMS): the paper and
its finding, the runs (train.py overrides shared by all, and each point's knob), how to shrink them to seconds
(`quick`), and the three things only the claim knows: what a run measures beyond its metrics.json, the verdict
and the figure."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from landmarks.registry import Registry

QUICK_IMAGES = (  # an image claim's quick form: two steps of 16 images, 32 to validate and test on
    "trainer.steps=2",
    "trainer.log_every=1",
    "trainer.eval_every=1",
    "trainer.batch_size=16",
    "data.val_size=32",
    "data.test_size=32",
)
CLAIMS = Registry("claim", "claim", package="landmarks.claims.findings")


@dataclass(frozen=True)
class Before:
    """A run the points build on (a pre-training), run once with seed 0 before them: a point's override names its
    run dir as {its name} (model.init_from={mlm}); its row leads claim.json's rows."""

    overrides: tuple[str, ...]  # train.py overrides (the claim's base is not added)
    quick: tuple[str, ...] = ()  # added under --quick


@dataclass(frozen=True)
class Claim:
    name: str
    paper: str  # authors, year and where in the paper: "He et al. 2015, Fig. 1 and 6"
    statement: str  # the paper's finding, one sentence
    budget_min: int  # the full form's minutes on 2 CPU cores (docs/claims.md names the machine)
    base: tuple[str, ...]  # train.py overrides of every run
    points: dict[str, tuple[str, ...]]  # a point's label -> the overrides that set its knob(s)
    quick: tuple[str, ...]  # added under --quick: a few steps on a little data, for the tests
    verdict: Callable[[list[dict]], tuple[bool, str]]  # the rows -> (held, one sentence with the numbers)
    draw: Callable[[list[dict], object], None]  # the rows, a matplotlib Figure -> the paper's figure, redrawn
    columns: dict[str, str]  # the table's columns: heading -> a metric of the rows (mean and spread over seeds)
    curves: tuple[str, ...] = ("train/acc", "val/acc")  # TensorBoard scalars kept per run for the figure
    measure: Callable[[Path], dict] | None = None  # a finished run dir -> metrics beyond metrics.json
    seeds: int = 3
    differs: str = ""  # what differs from the paper's setting (data, size, length): printed and in claim.json
    needs: dict[str, str] = field(default_factory=dict)  # files no download gives -> the command that makes each
    before: dict[str, Before] = field(default_factory=dict)  # runs the points build on, by the name they use


def register(claim: Claim) -> Claim:
    return CLAIMS.register(claim.name)(claim)
