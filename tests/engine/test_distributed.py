"""torchrun's data parallelism on CPU: two processes on gloo train exactly what one process trains on the
same global batch, end with identical weights, and only rank 0 writes."""

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

import landmarks.engine.loop
from landmarks.build import build_task
from landmarks.tasks.image_classification.task import ImageClassification
from tests.conftest import TINY_TASKS, compose_config, not_counted
from train import resumed_config, run

OVERRIDES = [
    "model=vit",
    "model.dim=32",
    "model.depth=1",
    "model.heads=2",
    "model.mlp_dim=64",  # no BatchNorm: ranks see different statistics
    "optim=sgd",  # not Adam, which blows the rounding noise of the key bias's zero gradient up to steps of lr
    "data.val_size=100",
    "data.test_size=100",
    "trainer.batch_size=32",
    "trainer.max_steps=6",
    "trainer.log_every=1",
    "trainer.eval_every=3",
    "trainer.progress=false",
    "trainer.num_threads=1",
]


def worker(rank: int, world_size: int, port: int, tmp_path) -> None:
    """What torchrun starts: the same command in every process, told its rank by the environment."""
    os.environ.update(
        WORLD_SIZE=str(world_size), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    fit, loss, labels_seen = landmarks.engine.loop.fit, ImageClassification.loss, []

    def loss_noting_the_labels(self, model, batch):
        labels_seen.append(batch[1])
        return loss(self, model, batch)

    def fit_keeping_what_it_saw(model, *args, **kwargs):
        results = fit(model, *args, **kwargs)
        saw = {
            "model": model.state_dict(),
            "history": results["history"],
            "labels": labels_seen,
            "rng": torch.get_rng_state(),
        }
        torch.save(saw, tmp_path / f"rank{rank}.pt")
        return results

    ImageClassification.loss, landmarks.engine.loop.fit = loss_noting_the_labels, fit_keeping_what_it_saw
    landmarks.engine.loop.measure_efficiency = not_counted  # no loss calls before training
    landmarks.engine.loop.check_every_parameter_trains = lambda *args: None
    run(compose_config(*OVERRIDES), tmp_path / f"run{rank}")  # as if Hydra's clock gave each process its own dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_process_on_the_global_batch(tmp_path):
    mp.spawn(worker, args=(2, free_port(), tmp_path), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    task = build_task(compose_config(*OVERRIDES), torch.device("cpu"))
    for step in range(6):  # each process trained on its own half of the global batch
        assert torch.equal(torch.cat([ranks[0]["labels"][step], ranks[1]["labels"][step]]), task.train_batch(step)[1])
    for name, value in ranks[0]["model"].items():
        assert torch.equal(value, ranks[1]["model"][name]), name
    assert not torch.equal(ranks[0]["rng"], ranks[1]["rng"])  # each process its own dropout stream

    single = run(compose_config(*OVERRIDES), tmp_path / "single")
    single_weights = torch.load(tmp_path / "single" / "checkpoint.pt", weights_only=True)["model"]
    for name, value in ranks[0]["model"].items():
        torch.testing.assert_close(value, single_weights[name], rtol=1e-4, atol=1e-5)
    steps, losses = zip(*ranks[0]["history"])
    assert list(steps) == [step for step, _ in single["history"]] == list(range(1, 7))
    torch.testing.assert_close(
        torch.tensor(losses), torch.tensor([loss for _, loss in single["history"]]), rtol=1e-4, atol=1e-5
    )

    assert not (tmp_path / "run1").exists()  # rank 1 wrote nothing: all went to rank 0's run dir
    saved = json.loads((tmp_path / "run0" / "metrics.json").read_text())
    assert saved["step"] == 6 and abs(saved["test/acc"] - single["test/acc"]) <= 0.02


def task_worker(rank: int, world_size: int, ports: tuple[int, int], tmp_path, overrides: list[str], cut: int | None):
    """torchrun's process for any task: its final weights, history and step, saved for the test to compare. With
    `cut`, the run stops at that step and is resumed from rank 0's checkpoint, as a relaunched torchrun would (on a
    second port: a relaunch has a fresh rendezvous)."""
    port = ports[0]
    os.environ.update(
        WORLD_SIZE=str(world_size), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    fit = landmarks.engine.loop.fit

    def fit_keeping_what_it_saw(model, *args, **kwargs):
        results = fit(model, *args, **kwargs)
        torch.save({"model": model.state_dict(), **results}, tmp_path / f"rank{rank}.pt")
        return results

    landmarks.engine.loop.fit = fit_keeping_what_it_saw
    landmarks.engine.loop.measure_efficiency = not_counted
    run(compose_config(*overrides, *([f"trainer.max_steps={cut}"] if cut else [])), tmp_path / f"run{rank}")
    if cut:
        os.environ["MASTER_PORT"] = str(ports[1])
        resume = [f"trainer.resume={tmp_path / 'run0'}", "trainer.max_steps=4"]
        run(*resumed_config(compose_config(*overrides, *resume), resume))


PER_TASK = {  # no dropout: one process draws other masks than two; SGD: Adam magnifies rounding noise
    "translation": [*TINY_TASKS["translation"], "model.p_drop=0", "trainer.batch_size=32", "trainer.grad_accum=2"],
    "text": [*TINY_TASKS["text"], "model.dropout=0", "trainer.batch_size=8", "trainer.target=loss:100"],
}
QUICK = ["optim=sgd", "trainer.max_steps=4", "trainer.log_every=1", "trainer.eval_every=2", "trainer.progress=false"]


@pytest.mark.slow
@pytest.mark.parametrize("task", PER_TASK)
def test_two_processes_train_every_task_like_one(task, tmp_path):
    """Translation: the processes' batches hold unequal token counts, in two micro-batches each; the gradient is
    still that of one big batch, and a run cut at step 2 resumes to the same step 4. Text: a target reached at the
    first validation stops both processes there."""
    overrides = [*PER_TASK[task], *QUICK, "trainer.num_threads=1"]
    cut = 2 if task == "translation" else None
    first = free_port()
    ports = (first, next(port for port in iter(free_port, None) if port != first))
    mp.spawn(task_worker, args=(2, ports, tmp_path, overrides, cut), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2)]
    single = run(compose_config(*overrides), tmp_path / "single")
    single_weights = torch.load(tmp_path / "single" / "checkpoint.pt", weights_only=True)["model"]
    assert ranks[0]["step"] == ranks[1]["step"] == single["step"] == (2 if task == "text" else 4)
    for name, value in ranks[0]["model"].items():
        assert torch.equal(value, ranks[1]["model"][name]), name
        torch.testing.assert_close(value, single_weights[name], rtol=1e-4, atol=1e-5)
    losses = [[loss for _, loss in history] for history in (ranks[0]["history"], single["history"][cut or 0 :])]
    torch.testing.assert_close(torch.tensor(losses[0]), torch.tensor(losses[1]), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_two_processes_step_both_players_of_a_gan_in_lockstep(tmp_path):
    """A GAN's two phases under DDP: each phase's forward reaches every parameter (DDP waits for no gradient that
    never comes), both optimizers step on the all-reduced gradients, and the processes end with the same weights (not
    those of one process: batch norm's statistics are each process's)."""
    overrides = [*TINY_TASKS["gan"], "data.train_size=256", "data.test_size=64", *QUICK, "trainer.batch_size=16"]
    overrides += ["trainer.num_threads=1"]  # the vendored images: a spawned process sees no test's patched checksums
    first = free_port()
    ports = (first, next(port for port in iter(free_port, None) if port != first))
    mp.spawn(task_worker, args=(2, ports, tmp_path, overrides, None), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2)]
    assert ranks[0]["step"] == ranks[1]["step"] == 4
    for name, value in ranks[0]["model"].items():  # batch norm's running statistics: each process's last batch
        assert "running_" in name or "num_batches" in name or torch.equal(value, ranks[1]["model"][name]), name
    optimizers = torch.load(tmp_path / "run0" / "checkpoint.pt", weights_only=True)["optimizer"]
    assert len(optimizers) == 2 and all(optimizer["state"] for optimizer in optimizers)  # both stepped (momentum)
