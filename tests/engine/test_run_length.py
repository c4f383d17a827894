"""Runs fitted to the data and the clock: epochs held within a floor and a ceiling, early stopping on the best
checkpoint, and trainer.time_budget."""

import pytest
import torch

from landmarks.config import validate
from landmarks.engine.budget import steps_within
from landmarks.engine.checkpoint import BEST_NAME, load_checkpoint, load_safely
from landmarks.engine.loop import run_length
from landmarks.engine.parts import EarlyStopping
from landmarks.engine.phases import Phase
from landmarks.schema import ConfigError
from tests.conftest import RegressionTask, compose_config, fit_config, tiny_run_overrides
from train import resumed_config, run


class TenBatches:
    steps_per_epoch = 10


def length(*overrides: str) -> tuple[int, int, str]:
    return run_length(compose_config(*overrides).trainer, TenBatches())


def test_epochs_are_held_between_the_floor_and_the_ceiling():
    assert length("trainer.epochs=2")[:2] == (100, 100)  # the generic floor: small data still trains
    assert length("trainer.epochs=2", "trainer.steps_floor=null")[:2] == (20, 20)
    total, stop, how = length("trainer.epochs=2", "trainer.steps_floor=50", "trainer.max_steps=30")
    assert (total, stop) == (50, 30)
    assert how == "50 steps: 5 epochs of 10 batches (trainer.epochs=2 -> trainer.steps_floor)"
    assert length("trainer.epochs=2", "trainer.steps_ceiling=15")[0] == 15  # below the generic floor: it wins
    assert length("trainer.epochs=2", "trainer.steps_floor=5", "trainer.steps_ceiling=50")[0] == 20
    assert length("trainer.steps=7", "trainer.steps_floor=50")[:2] == (7, 7)  # an explicit length wins


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("trainer.steps=10", "trainer.time_budget=60"), "steps=10 and trainer.time_budget=60 each set the run's"),
        (("trainer.flop_budget=1e9", "trainer.time_budget=60"), "time_budget=60 and trainer.flop_budget=1e"),
        (("trainer.time_cap=60", "trainer.time_budget=60"), "time_cap=60 only shortens it; keep one"),
        (("trainer.time_cap=60", "trainer.flop_budget=1e9"), "flop_budget=1e\\+09 sizes the run, trainer.time_cap"),
    ],
)
def test_contradicting_lengths_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        length(*overrides)


def test_early_stopping_counts_passes_without_improvement_in_the_metric_direction():
    lower, higher = EarlyStopping("loss", 2, "min"), EarlyStopping("acc", 2, "max")
    assert [lower.update({"loss": v}, s) for s, v in enumerate([3.0, 2.0, 2.5, 2.0])] == [True, True, False, False]
    assert lower.exhausted and (lower.best, lower.best_step) == (2.0, 1)
    assert [higher.update({"acc": v}, s) for s, v in enumerate([0.5, 0.4, 0.6])] == [True, False, True]
    assert not higher.exhausted and higher.passes_since_best == 0
    trainer = compose_config("trainer.early_stopping=loss:2").trainer
    restored = EarlyStopping.for_run(trainer, {"loss": "min"}, {"early_stopping": lower.state_dict()})
    assert restored == lower
    with pytest.raises(ValueError, match=r"early_stopping='bleu:2'.*metric of this task \(loss \(min\)\)"):
        EarlyStopping.for_run(compose_config("trainer.early_stopping=bleu:2").trainer, {"loss": "min"}, None)


@pytest.mark.parametrize(
    "value, message",
    [
        ("val/loss:0", r"trainer.early_stopping='val/loss:0': the patience is a number of passes >= 1, e.g. loss:5"),
        ("val/nonexistent:2", r"trainer.early_stopping='val/nonexistent:2'; write <metric>:<patience> .*acc \(max\)"),
        ("acc:2", r"trainer.early_stopping=acc:2 needs validation during training"),
    ],
)
def test_early_stopping_is_refused_with_the_config_before_anything_is_built(value, message):
    extra = ["trainer.eval_every=0"] if value == "acc:2" else []
    with pytest.raises(ConfigError, match=message):
        validate(compose_config(f"trainer.early_stopping={value}", *extra))


class ScriptedTask(RegressionTask):
    """Validation losses written in advance, by step; the weights each validation pass saw, recorded."""

    SCRIPT = {2: 3.0, 4: 1.0, 6: 2.0, 8: 1.5, 10: 0.5}

    def __init__(self):
        super().__init__()
        self.step, self.seen = 0, {}

    def train_batch(self, step):
        self.step = step + 1
        return super().train_batch(step)

    def evaluate(self, model, split):
        """The score of the step whose weights these are (the best's again, once loaded back)."""
        weights = [p.detach().clone() for p in model.parameters()]
        step = next((s for s, seen in self.seen.items() if all(map(torch.equal, weights, seen))), self.step)
        self.seen[step] = weights
        return {"loss": self.SCRIPT.get(step, 9.0)}


EARLY = ("optim=adamw", "trainer.steps=12", "trainer.eval_every=2", "trainer.early_stopping=loss:2")


def test_early_stopping_stops_evaluates_and_keeps_the_best_weights(tmp_path):
    model, task = torch.nn.Linear(5, 2), ScriptedTask()
    results = fit_config(compose_config(*EARLY, "trainer.progress=false"), model, task, tmp_path)
    # best at 4 (1.0); 6 and 8 are worse: two passes without improvement stop the run at 8
    assert (results["step"], results["best_step"], results["weights"]) == (8, 4, "best")
    assert sorted(task.seen) == [2, 4, 6, 8]
    for final, best in zip(model.parameters(), task.seen[4]):
        assert torch.equal(final, best)
    assert load_safely(tmp_path / BEST_NAME)["step"] == 4
    assert load_checkpoint(tmp_path)["step"] == 8 and results["val/loss"] == 1.0


def test_early_stopping_resumes_to_the_same_stop(tmp_path):
    model, task = torch.nn.Linear(5, 2), ScriptedTask()
    cut = fit_config(compose_config(*EARLY, "trainer.max_steps=6", "trainer.progress=false"), model, task, tmp_path)
    assert cut["step"] == 6 and load_checkpoint(tmp_path)["early_stopping"]["best_step"] == 4
    state = load_checkpoint(tmp_path)
    resumed = fit_config(compose_config(*EARLY, "trainer.progress=false"), model, ScriptedTask(), tmp_path,
                         resume_state=state)  # fmt: skip
    assert (resumed["step"], resumed["best_step"]) == (8, 4)


def test_a_run_without_an_early_stop_still_finishes_on_its_best_pass(tmp_path):
    model, task = torch.nn.Linear(5, 2), ScriptedTask()
    overrides = (*EARLY[:-1], "trainer.early_stopping=loss:9", "trainer.progress=false")
    results = fit_config(compose_config(*overrides), model, task, tmp_path)
    assert (results["step"], results["best_step"]) == (12, 10)  # the final pass at 12 (9.0) counted, not best


def test_the_budget_is_measured_on_steps_that_are_then_undone():
    model = torch.nn.Linear(5, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    before, rng = {k: v.clone() for k, v in model.state_dict().items()}, torch.get_rng_state()
    taken = []

    def take_step(step):
        taken.append(step)
        model(torch.randn(4, 5)).square().mean().backward()  # draws from the random stream too
        optimizer.step()

    phases = [Phase("", model, optimizer)]
    steps, step_s, timed = steps_within(1000.0, take_step, model, phases, torch.device("cpu"))
    assert taken == list(range(len(taken))) and timed >= 3 and steps == int(1000.0 / step_s)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert optimizer.state_dict()["state"] == {} and torch.equal(torch.get_rng_state(), rng)


@pytest.mark.slow
def test_a_budgeted_run_is_the_run_of_the_steps_it_printed(tiny_fashion_mnist, tmp_path, capsys):
    overrides = tiny_run_overrides(tiny_fashion_mnist, "trainer.eval_every=0", "trainer.ckpt_every=0")
    budgeted = run(compose_config(*overrides, "trainer.time_budget=1"), tmp_path / "budget")
    steps = budgeted["step"]
    assert f"trainer.time_budget=null trainer.steps={steps}" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "budget")["total_steps"] == steps
    again = run(compose_config(*overrides, f"trainer.steps={steps}"), tmp_path / "again")
    assert again["history"] == budgeted["history"]


def test_a_flop_budget_is_the_run_of_the_steps_it_printed(tiny_fashion_mnist, tmp_path, capsys):
    overrides = tiny_run_overrides(tiny_fashion_mnist, "trainer.eval_every=0", "trainer.ckpt_every=0")
    budgeted = run(compose_config(*overrides, "trainer.flop_budget=5e8"), tmp_path / "budget")
    out, steps, per_sample = capsys.readouterr().out, budgeted["step"], budgeted["flops_per_sample"]
    batch = compose_config(*overrides).trainer.batch_size
    assert "the length of trainer.flop_budget=5e+08 training FLOPs (counted next)" in out.splitlines()[1]
    assert steps == round(5e8 / (per_sample * batch)) > 1 and f"flop_budget=null trainer.steps={steps}" in out
    again = run(compose_config(*overrides, f"trainer.steps={steps}"), tmp_path / "again")
    assert again["history"] == budgeted["history"]


def test_a_time_cap_cuts_a_length_that_would_overrun_it_and_keeps_one_that_fits(tiny_fashion_mnist, tmp_path, capsys):
    overrides = tiny_run_overrides(tiny_fashion_mnist, "trainer.eval_every=0", "trainer.max_steps=2")
    run(compose_config(*overrides, "trainer.steps_floor=100000", "trainer.time_cap=0.5"), tmp_path / "cut")
    out = capsys.readouterr().out
    steps = load_checkpoint(tmp_path / "cut")["total_steps"]
    assert "within trainer.time_cap=0.5 s of training (measured next)" in out.splitlines()[1]  # the opening line
    assert 0 < steps < 100000 and f"time_cap=0.5 s decides: {steps:,} steps" in out
    assert f"the same run again: trainer.time_cap=null trainer.steps={steps}" in out
    run(compose_config(*overrides, "trainer.steps=6", "trainer.time_cap=1000"), tmp_path / "kept")
    assert "trainer.time_cap=1000 s: the 6 steps fit" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "kept")["total_steps"] == 6


def test_a_budgeted_run_resumes_with_its_measured_length(tiny_fashion_mnist, tmp_path):
    overrides = tiny_run_overrides(tiny_fashion_mnist, "trainer.time_budget=2", "trainer.max_steps=3")
    run(compose_config(*overrides), tmp_path / "cut")
    cfg, run_dir, state = resumed_config(
        compose_config(*overrides, f"trainer.resume={tmp_path / 'cut'}"), ["trainer.max_steps=null"]
    )
    state["total_steps"] = 5  # as if this machine were slower: the length measured at the start holds
    assert run(cfg, run_dir, state)["step"] == 5


def test_load_run_gives_the_best_weights_and_the_last_on_request(tiny_fashion_mnist, tmp_path, monkeypatch):
    from landmarks import load_run
    from landmarks.tasks.image_classification.task import ImageClassification

    scores, evaluate = iter([0.5, 0.9, 0.6, 0.7]), ImageClassification.evaluate  # best: the second pass, step 4

    def scripted(self, model, split="val"):
        metrics = evaluate(self, model, split)
        return {**metrics, "acc": next(scores, 0.0)} if split == "val" else metrics

    monkeypatch.setattr(ImageClassification, "evaluate", scripted)
    overrides = ("trainer.max_steps=8", "trainer.eval_every=2", "trainer.early_stopping=acc:5")
    results = run(compose_config(*tiny_run_overrides(tiny_fashion_mnist, *overrides)), tmp_path)
    assert (results["step"], results["best_step"], results["weights"]) == (8, 4, "best")
    best, last = load_safely(tmp_path / BEST_NAME)["model"], load_checkpoint(tmp_path)["model"]
    for weights, expected in (("final", best), ("last", last)):
        model = load_run(tmp_path, weights=weights).model
        for key, value in model.state_dict().items():
            assert torch.equal(value, expected[key]), (weights, key)
    assert not all(torch.equal(best[key], last[key]) for key in best)
    from eval import evaluate as evaluate_run  # eval.py evaluates the weights the report did

    assert float(evaluate_run(str(tmp_path))["test/acc"]) == pytest.approx(results["test/acc"], abs=1e-4)


def test_a_run_too_short_to_learn_says_so_in_its_opening_line(tiny_fashion_mnist, tmp_path, capsys):
    overrides = tiny_run_overrides(tiny_fashion_mnist, "trainer.eval_every=0", "trainer.ckpt_every=0")
    run(compose_config(*overrides, "trainer.steps=3"), tmp_path / "short")
    assert "3 steps" in (opening := capsys.readouterr().out.splitlines()[1]) and "too few to learn" in opening
    run(compose_config(*overrides, "trainer.steps=50", "trainer.max_steps=2"), tmp_path / "cut")
    assert "too few" not in capsys.readouterr().out  # a schedule of 50 steps, cut short on purpose
