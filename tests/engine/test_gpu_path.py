"""What a GPU run depends on, exercised on CPU where it can be: collectives over tensors on the run's device, the
download barrier, a signal agreed every step, a clock that waits for the device, recurrent layers' FLOPs, the
peak table, metrics in fp32, the random state of the run's own GPU, and the precision a GPU gets."""

import math
import os
import signal
import time

import pytest
import torch
import torch.multiprocessing as mp

from landmarks.engine import device as engine_device
from landmarks.engine import distributed, flops, parts
from landmarks.engine.flops import rnn_train_flops
from landmarks.engine.parts import Clock, TrainLog
from tests.conftest import (
    TINY_TASKS,
    RegressionTask,
    compose_config,
    fit_config,
    not_counted,
    tiny_task,
    without_evaluation,
)
from tests.engine.test_distributed import free_port
from train import run


def test_the_logged_scalars_reach_the_collective_as_tensors_on_the_runs_device(monkeypatch, tmp_path):
    """The lr is a float: handed to NCCL beside CUDA tensors it crashed the first log of every torchrun run."""
    seen = {}

    def reduce(values, device):
        distributed.check_on_device(values, device)
        seen.update(values)
        return {name: torch.zeros(()) for name in values}

    monkeypatch.setattr(distributed, "mean_over_processes", reduce)
    meta = torch.device("meta")  # stands in for a GPU: a device other than the host's
    log = TrainLog(parts.Silent(), tmp_path / "ckpt", 1.0, 1.0, 8, meta)
    log.add({"loss": torch.ones((), device=meta), "grad_norm": torch.ones((), device=meta), "lr": 0.1})
    log.flush(step=1, seconds=1.0)
    assert set(seen) == {"loss", "grad_norm", "lr"} and all(value.device == meta for value in seen.values())
    with pytest.raises(ValueError, match=r"^lr is on the host \(float\), not on the run's device meta"):
        distributed.check_on_device({"lr": 0.1}, meta)
    with pytest.raises(ValueError, match=r"^loss is on cpu, not on the run's device meta"):
        distributed.check_on_device({"loss": torch.ones(())}, meta)


def barrier_worker(rank: int, port: int, folder) -> None:
    os.environ.update(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1")
    os.environ["MASTER_PORT"] = str(port)
    distributed.setup(torch.device("cpu"))
    with distributed.local_main_first():
        if rank == 0:  # the download: slow, and written in two parts
            (folder / "part").write_text("half")
            time.sleep(0.5)
            (folder / "done").write_text("whole")
        (folder / f"saw{rank}").write_text(str((folder / "done").exists()))
    distributed.cleanup()


def test_the_first_process_prepares_the_data_while_the_others_wait(tmp_path):
    mp.spawn(barrier_worker, args=(free_port(), tmp_path), nprocs=2)
    assert (tmp_path / "saw1").read_text() == "True"  # rank 1 read only once rank 0 had finished


SIGNAL_AT, LOG_EVERY = 5, 8


def signal_worker(rank: int, port: int, folder) -> None:
    """Rank 1 alone gets SIGTERM during step 5, between log steps (every 8th): the processes agree at log steps."""
    from landmarks.engine import loop
    from train import run

    os.environ.update(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1")
    os.environ["MASTER_PORT"] = str(port)
    step_once, steps = loop.train_step, []

    def step_and_maybe_signal(*args):
        steps.append(len(steps) + 1)
        if rank == 1 and len(steps) == SIGNAL_AT:
            os.kill(os.getpid(), signal.SIGTERM)
        return step_once(*args)

    loop.train_step = step_and_maybe_signal
    loop.measure_efficiency = not_counted
    overrides = ["model.widths=[4,8,8]", "data.val_size=100", "trainer.batch_size=16", "trainer.max_steps=40"]
    quick = [
        f"trainer.log_every={LOG_EVERY}",
        "trainer.eval_every=0",
        "trainer.progress=false",
        "trainer.num_threads=1",
    ]
    results = run(compose_config(*overrides, *quick), folder / "run")
    (folder / f"steps{rank}").write_text(f"{results['step']} {results.get('interrupted')}")


@pytest.mark.slow
def test_a_signal_to_one_process_stops_every_process_at_the_same_step(tmp_path):
    """Both stop at the first log step after the signal (no collective, and no host sync, at the steps between)."""
    mp.spawn(signal_worker, args=(free_port(), tmp_path), nprocs=2)
    assert (tmp_path / "steps0").read_text() == (tmp_path / "steps1").read_text() == f"{LOG_EVERY} True"
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == LOG_EVERY


def test_the_clock_waits_for_the_gpu_at_every_reading_and_stops_with_the_steps(monkeypatch):
    syncs = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: syncs.append(device))
    gpu = torch.device("cuda", 1)
    clock = Clock(gpu)
    clock.lap()
    with clock.validating():
        pass
    clock.hit(3)
    clock.add_aside(0.05)  # a compiling step's host time: no reading of the clock
    clock.stop()
    assert len(syncs) == 6 and set(syncs) == {gpu}  # start, lap, validation x2, hit, stop
    frozen = clock.wall_s
    time.sleep(0.02)
    assert clock.wall_s == frozen and clock.aside_s >= 0.05  # what comes after the steps is not training


@pytest.mark.parametrize("mode", ["GRU", "RNN"])
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("layers, bidirectional, input_grad", [(1, False, False), (2, True, True), (2, True, False)])
def test_recurrent_flops_match_what_the_cpu_kernels_count(mode, packed, layers, bidirectional, input_grad):
    """cuDNN's fused RNN has no FLOP formula (0 on CUDA); the hook counts what the CPU's kernels compute."""
    from torch.utils.flop_counter import FlopCounterMode

    rnn = getattr(torch.nn, mode)(7, 11, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    x = torch.randn(3, 5, 7, requires_grad=input_grad)
    lengths = torch.tensor([5, 3, 2] if packed else [5, 5, 5])
    inputs = (
        torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False) if packed else x
    )
    counter = FlopCounterMode(display=False)
    with counter:
        out, _ = rnn(inputs)
        (out.data if packed else out).sum().backward()
    assert rnn_train_flops(rnn, (inputs,)) == counter.get_total_flops()
    if mode == "GRU":  # an LSTM counts 0 on CPU too (a fused kernel): the same projections with 4 gates, not 3
        lstm = torch.nn.LSTM(7, 11, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        assert rnn_train_flops(lstm, (inputs,)) == counter.get_total_flops() * 4 / 3


@pytest.mark.parametrize(
    "name, precision, peak",
    [
        ("NVIDIA H200 NVL", "bf16", 835e12),
        ("NVIDIA H200", "bf16", 989e12),
        ("NVIDIA GeForce RTX 4090", "bf16", 165.2e12),
        ("NVIDIA L40S", "fp32", 91.6e12),
        ("NVIDIA L40", "bf16", 181e12),
        ("NVIDIA L4", "bf16", 121e12),
        ("NVIDIA A10", "bf16", 125e12),
        ("NVIDIA A100-SXM4-80GB", "bf16", 312e12),
        ("Tesla T4", "fp32", 8.1e12),
        ("Tesla V100-SXM2-16GB", "fp32", 15.7e12),
    ],
)
def test_known_gpus_get_their_datasheet_peak(monkeypatch, name, precision, peak):
    monkeypatch.setattr(flops, "device_name", lambda device: name)
    assert flops.peak_flops(torch.device("cuda"), precision)[0] == peak


@pytest.mark.parametrize("name, tf32_peak", [("NVIDIA H100 80GB HBM3", 494.5e12), ("NVIDIA A100-SXM4-80GB", 156e12)])
def test_fp32_on_tensor_cores_is_measured_against_the_tf32_peak(monkeypatch, name, tf32_peak):
    monkeypatch.setattr(flops, "device_name", lambda device: name)
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")  # what device.configure sets for an fp32 run on CUDA
        peak, source = flops.peak_flops(torch.device("cuda"), "fp32")
        assert peak == tf32_peak and "tf32" in source
        torch.set_float32_matmul_precision("highest")
        assert flops.peak_flops(torch.device("cuda"), "fp32")[1].endswith("datasheet, fp32")
    finally:
        torch.set_float32_matmul_precision(before)
    monkeypatch.setattr(flops, "device_name", lambda device: "Tesla V100-SXM2-16GB")  # no bf16 tensor cores
    assert flops.peak_flops(torch.device("cuda"), "fp32")[0] == 15.7e12


def test_a_mig_slice_is_measured_and_only_the_writing_process_records_it(monkeypatch, tmp_path):
    monkeypatch.setattr(flops, "device_name", lambda device: "NVIDIA A100-SXM4-40GB MIG 3g.20gb")
    monkeypatch.setattr(flops, "fastest_matmul_s", lambda device, dtype, n: 2 * n**3 / 100e12)
    record = tmp_path / "peaks.json"
    peak, source = flops.peak_flops(torch.device("cuda"), "bf16", record, write=False)
    assert peak == pytest.approx(100e12) and "timed" in source and not record.exists()
    flops.peak_flops(torch.device("cuda"), "bf16", record)
    assert record.exists()


def test_validation_metrics_are_computed_in_fp32_under_bf16_training(tmp_path):
    seen = {}

    class Recording(RegressionTask):
        def loss(self, model, batch):
            seen.setdefault("loss", torch.is_autocast_enabled("cpu"))
            return super().loss(model, batch)

        def evaluate(self, model, split):
            seen.setdefault(split, torch.is_autocast_enabled("cpu"))
            return super().evaluate(model, split)

    cfg = compose_config("trainer.precision=bf16", "trainer.steps=4", "trainer.eval_every=2", "trainer.progress=false")
    fit_config(cfg, torch.nn.Linear(5, 2), Recording(), tmp_path)
    assert seen == {"loss": True, "val": False, "test": False}


def test_the_random_state_is_the_runs_own_gpus(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": calls.append(("get", device)) or "state")
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device="cuda": calls.append(("set", device)))
    gpu = torch.device("cuda", 1)
    engine_device.set_rng_state(engine_device.rng_state(gpu), gpu)
    assert calls == [("get", gpu), ("set", gpu)]


@pytest.mark.parametrize(
    "capability, precision", [((7, 5), "fp32"), ((7, 0), "fp32"), ((8, 0), "bf16"), ((9, 0), "bf16")]
)
def test_auto_precision_is_bf16_only_where_the_gpu_has_bf16_tensor_cores(monkeypatch, capability, precision):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert engine_device.resolve_precision(torch.device("cuda"), "auto") == precision
    assert engine_device.resolve_precision(torch.device("cpu"), "auto") == "fp32"


@pytest.mark.parametrize("task", TINY_TASKS)
def test_every_task_trains_and_reports_under_bf16_autocast(task, tmp_path, monkeypatch, tiny_fashion_mnist):
    from landmarks.engine import loop

    monkeypatch.setattr(loop, "measure_efficiency", not_counted)
    steps = ["trainer.precision=bf16", "trainer.steps=2", "trainer.eval_every=1", "trainer.progress=false"]
    results = run(
        compose_config(*tiny_task(task, tiny_fashion_mnist), *steps, "trainer.batch_size=8"), tmp_path / "run"
    )
    assert results["step"] == 2 and all(math.isfinite(loss) for _, loss in results["history"])
    assert all(isinstance(value, float) for name, value in results.items() if name.startswith(("val/", "test/")))


class NarrowingTask(RegressionTask):
    """Batches of 8 samples, then of 4 from step 3 on: a new shape, so Dynamo compiles again mid-run."""

    def train_batch(self, step):
        return (self.x, self.y) if step < 2 else (self.x[:4], self.y[:4])


def test_every_step_that_compiles_is_set_aside_from_training(tmp_path, monkeypatch):
    """Not only the first step: the recompile at step 3 (a backend that takes 1 s a graph) is compile time too."""
    compile_ = torch.compile

    def slow_backend(graph, inputs):
        time.sleep(1.0)
        return graph.forward

    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: compile_(model, backend=slow_backend, **kwargs))
    torch._dynamo.reset()
    cfg = compose_config("trainer.compile=true", "trainer.steps=6", "trainer.eval_every=0", "trainer.progress=false")
    results = fit_config(cfg, torch.nn.Linear(5, 2), NarrowingTask(), tmp_path)
    assert results["compile_s"] >= 2.0 and results["train_time_s"] < 1.0


@pytest.mark.slow
@pytest.mark.parametrize("task", TINY_TASKS)
def test_every_task_trains_under_torch_compile(task, tmp_path, monkeypatch, tiny_fashion_mnist):
    """trainer.compile=true traced by Dynamo for one model per task, compiled with the aot_eager backend (the same
    graphs and guards as inductor, without its C++ build of minutes): translation's padded, dynamic lengths compile
    once or twice, not once a length (4 steps make 11 graphs, 12 steps as many). Evaluation is left out."""
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: compile_(model, backend="aot_eager", **kwargs))
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    steps = ["trainer.compile=true", "trainer.steps=4", "trainer.eval_every=0", "trainer.progress=false"]
    cfg = compose_config(*tiny_task(task, tiny_fashion_mnist), *steps, "trainer.batch_size=8")
    without_evaluation(monkeypatch, cfg)
    results = run(cfg, tmp_path / "run")
    assert results["step"] == 4 and all(math.isfinite(loss) for _, loss in results["history"])
    assert results["compile_s"] > 0
    frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert frames <= 12, frames  # a fixed handful of graphs, not one per batch length


def test_the_runs_adamw_is_fused_and_steps_as_the_unfused_one():
    """The loop's AdamW is the fused kernel (on CUDA as on CPU): its steps equal PyTorch's for-each AdamW's."""
    from landmarks.engine.optimizers import build_optimizer
    from landmarks.engine.optimizers.adamw import AdamWConfig

    torch.manual_seed(0)
    fused_model, plain_model = torch.nn.Linear(6, 4), torch.nn.Linear(6, 4)
    plain_model.load_state_dict(fused_model.state_dict())
    cfg = AdamWConfig(name="adamw", lr=0.1, weight_decay=0.0)
    fused = build_optimizer(cfg, fused_model, torch.device("cpu"))
    plain = torch.optim.AdamW(plain_model.parameters(), lr=0.1, weight_decay=0.0, fused=False, foreach=False)
    assert all(group["fused"] for group in fused.param_groups)
    for step in range(3):
        x = torch.randn(5, 6, generator=torch.Generator().manual_seed(step))
        for model, optimizer in ((fused_model, fused), (plain_model, plain)):
            model(x).square().mean().backward()
            optimizer.step()
            optimizer.zero_grad()
    for a, b in zip(fused_model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
