"""The GPU path waits for the device only at log steps. No GPU runs here, so the waits are found by what causes
them: a collective whose result the host reads (counted under a fake two-process group) and, in each task's
step, an op that reads a value back or makes a shape from values (a dispatch mode records them on CPU)."""

import contextlib
import traceback
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.testing._internal.distributed.fake_pg import FakeStore
from torch.utils._python_dispatch import TorchDispatchMode

from landmarks.build import build_model, build_task
from landmarks.config import validate
from landmarks.engine import loop
from landmarks.engine.phases import build_phases
from tests.conftest import REPO, TINY_TASKS, compose_config, tiny_task, write_labelled, write_text
from train import run

LOG_EVERY = 4
OURS = (f"{REPO}/models/", f"{REPO}/landmarks/")  # the code whose syncs count (not PyTorch's, not the tests')
ON_THE_HOST = {  # file -> function ("*": all) whose reads are of CPU tensors on any device
    "models/inputs.py": "*",  # token ids in range: checked on CPU only, as its docstrings say
    "landmarks/tasks/text_classification/task.py": "rows",  # each sequence's length, kept on the CPU
}


def test_the_processes_agree_only_at_log_steps(tmp_path, monkeypatch):
    """Under two processes (a fake group: collectives are counted, not sent), the loop's all-reduces (the logged
    means, the signal flag) come at log steps only; DDP's own gradient all-reduce is left out (plain module)."""
    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=2)
    try:
        step, at = [0], []
        step_once, all_reduce = loop.train_step, dist.all_reduce

        def counted_step(*args):
            step[0] += 1
            return step_once(*args)

        monkeypatch.setattr(loop, "train_step", counted_step)
        monkeypatch.setattr(loop, "wrap", lambda model, compile_model, world: (model, model))
        monkeypatch.setattr(
            dist, "all_reduce", lambda tensor, *a, **k: (at.append(step[0]), all_reduce(tensor, *a, **k))
        )
        quick = ["trainer.batch_size=16", "trainer.max_steps=12", f"trainer.log_every={LOG_EVERY}"]
        quick += ["trainer.eval_every=0", "trainer.ckpt_every=0", "trainer.progress=false"]
        run(compose_config("model.widths=[4,8,8]", "data.val_size=100", *quick), tmp_path / "run")
    finally:
        if dist.is_initialized():  # run() leaves the group at its end; not after a failure
            dist.destroy_process_group()
    assert at and set(at) == {4, 8, 12}


class HostSyncs(TorchDispatchMode):
    """Records the ops that make the host wait for a GPU: a value read back (`item`, a tensor's truth) or a shape
    made from values (nonzero, boolean indexing, masked_select), with the line of ours that asked for it, except
    where ON_THE_HOST says the values are read on the CPU whatever the device, and F.one_hot's range check
    (PyTorch skips it on CUDA, where scatter's device assert does it)."""

    SYNCING = {"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2"}

    def __init__(self):
        super().__init__()
        self.found = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        masks = name == "index" and any(i is not None and i.dtype == torch.bool for i in args[1])
        if name in self.SYNCING or masks:
            ours = [frame for frame in traceback.extract_stack() if frame.filename.startswith(OURS)][-1]
            where = f"{Path(ours.filename).relative_to(REPO)}:{ours.lineno}"
            host = ON_THE_HOST.get(where.split(":")[0]) in ("*", ours.name)
            if not host and "one_hot(" not in ours.line:
                self.found.append(f"{'boolean indexing' if masks else name} at {where}")
        return func(*args, **(kwargs or {}))


@pytest.fixture
def task_overrides(tmp_path, tiny_fashion_mnist) -> dict[str, list[str]]:
    tiny = {task: tiny_task(task, tiny_fashion_mnist) for task in TINY_TASKS}
    corpus, labelled = write_text(tmp_path / "corpus.txt"), write_labelled(tmp_path / "labelled.tsv", 120)
    bert = ["model=bert", "data.vocab_size=300", "data.block_size=32"]
    tiny["masked LM"] = [*bert, "data=text_mlm", f"data.path={corpus}", "data.val_sequences=4"]
    tiny["text classification"] = [*bert, "data=labelled_text", f"data.path={labelled}"]
    return tiny


@pytest.mark.parametrize("task", [*TINY_TASKS, "masked LM", "text classification"])
def test_a_training_step_reads_nothing_back_from_the_device(task, task_overrides):
    """The batch, the forward, the loss and the backward of every task's step, as the loop runs them."""
    config = validate(compose_config(*task_overrides[task], "trainer.batch_size=8"))
    built = build_task(config, torch.device("cpu"))
    model = build_model(config, built, torch.device("cpu"))
    phases = build_phases(config.optim, model, torch.device("cpu"))
    built.local_batch(0, 0, 1)  # the first epoch's order drawn outside: once an epoch is not once a step
    with HostSyncs() as syncs:
        batch = built.local_batch(1, 0, 1)
        for phase in phases:
            loop.accumulate_gradients(built, model, batch, phase, config.trainer, contextlib.nullcontext())
    assert syncs.found == []


def test_a_parameter_that_gets_no_gradient_is_named_before_ddp_stops_on_it(task_overrides):
    """A masked LM with a next-sentence head (+model.next_sentence=true) that the task never trains: under torchrun
    the loop names the idle parameters before the first step, where DDP would fail at the second."""
    config = validate(compose_config(*task_overrides["masked LM"], "+model.next_sentence=true", "trainer.batch_size=8"))
    built = build_task(config, torch.device("cpu"))
    model = build_model(config, built, torch.device("cpu"))
    with pytest.raises(ValueError, match=r"^pooler.weight, pooler.bias, nsp.weight, nsp.bias get no gradient"):
        loop.check_every_parameter_trains(model, built, 0, contextlib.nullcontext())
    without = build_model(validate(compose_config(*task_overrides["masked LM"])), built, torch.device("cpu"))
    state = {name: tensor.clone() for name, tensor in without.state_dict().items()}
    loop.check_every_parameter_trains(without, built, 0, contextlib.nullcontext())  # every parameter trains
    assert all(p.grad is None for p in without.parameters())  # and the check left no trace
    assert all(torch.equal(tensor, state[name]) for name, tensor in without.state_dict().items())
