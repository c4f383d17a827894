"""Fast evals: a run stops as soon as validation reaches its target and reports the time it took; MFU comes
from FLOPs counted without side effects on the model."""

import contextlib
import functools
import json

import pytest
import torch
from landmarks.models import create_model
from omegaconf import OmegaConf

from landmarks.build import build_task
from landmarks.engine import flops
from landmarks.engine.flops import peak_flops, train_flops_per_sample
from landmarks.engine.parts import Target
from landmarks.tasks.image_classification.task import ImageClassification
from tests.conftest import RegressionTask, compose_config, tiny_run_overrides
from train import run


def test_a_run_stops_at_its_target_and_reports_the_time_to_it(tiny_fashion_mnist, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    splits, evaluate = [], ImageClassification.evaluate
    monkeypatch.setattr(ImageClassification, "evaluate", lambda *args: splits.append(args[2]) or evaluate(*args))
    overrides = tiny_run_overrides(
        tiny_fashion_mnist, "trainer.epochs=3", "trainer.eval_every=2", "trainer.target=acc:0.5"
    )
    results = run(compose_config(*overrides), tmp_path)
    assert results["target_reached"] and 2 < results["steps_to_target"] == results["step"] < 3 * 18
    assert 0 < results["time_to_target_s"] < results["wall_to_target_s"] <= results["train_time_s"]
    assert 0 < results["mfu"] <= 1 and results["flops_per_sample"] > 0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert (
        saved["steps_to_target"] == results["steps_to_target"]
        and saved["time_to_target_s"] == results["time_to_target_s"]
    )
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    val_acc = {event.step: event.value for event in events.Scalars("val/acc")}
    assert [step for step, acc in sorted(val_acc.items()) if acc >= 0.5] == [
        results["steps_to_target"]
    ]  # the first pass that reached it
    assert events.Scalars("target/steps")[0].value == results["steps_to_target"]
    # the final report reuses the validation pass that reached the target instead of running it again
    assert splits == ["val"] * (results["steps_to_target"] // 2) + ["test"]
    assert results["val/acc"] == val_acc[results["steps_to_target"]]
    assert {"target/train_s", "throughput/mfu"} <= set(events.Tags()["scalars"])


def test_an_unreached_target_runs_the_whole_schedule(tiny_fashion_mnist, tmp_path):
    results = run(
        compose_config(*tiny_run_overrides(tiny_fashion_mnist, "trainer.max_steps=4", "trainer.target=acc:1.01")),
        tmp_path,
    )
    assert results["step"] == 4 and results["target_reached"] is False and "time_to_target_s" not in results


def test_targets_parse_with_their_direction():
    metrics = {"loss": "min", "ppl": "min", "acc": "max", "wer": "min", "bleu": "max", "copy_bleu": None}
    assert Target.parse("val/acc:0.91", metrics).reached({"acc": 0.91})
    assert not Target.parse("acc:0.91", metrics).reached({"acc": 0.9})
    assert Target.parse("ppl:1.5", metrics).reached({"ppl": 1.4})  # a loss or perplexity from above
    assert Target.parse("wer:0.2", metrics).reached({"wer": 0.1})  # as the task declares, whatever its name
    assert not Target.parse("wer:0.2", metrics).reached({"wer": 0.3})
    assert Target.parse(None, metrics) is None
    for bad in ("accuracy:0.9", "acc", "copy_bleu:20"):  # copy_bleu: reported, but no model changes it
        with pytest.raises(ValueError, match=rf"trainer.target='{bad}'; write <metric>:<value> .*bleu \(max\)\)"):
            Target.parse(bad, metrics)
    with pytest.raises(ValueError, match=r"trainer.target='acc:high'; write <metric>:<value>, e.g. trainer.target=acc"):
        Target.parse("acc:high", metrics)
    with pytest.raises(ValueError, match="trainer.target=acc:0.9 needs validation .* trainer.eval_every > 0"):
        Target.for_run(OmegaConf.create({"target": "acc:0.9", "eval_every": 0}), metrics)


def test_flops_and_the_peak_are_measured_without_a_trace_on_the_model(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 2)
    )
    task = RegressionTask()
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}
    rng = torch.get_rng_state()
    flops = train_flops_per_sample(model, task, [(task.x, task.y)], contextlib.nullcontext())
    record = tmp_path / "peak_flops.json"
    record.write_text('{"elsewhere": 1.0}')
    peak, source = peak_flops(torch.device("cpu"), "fp32", record)
    # forward 2 * (5*4 + 4*2); backward: both weight gradients, and the input gradient of the second layer only
    assert flops == 2 * (5 * 4 + 4 * 2) + 2 * (5 * 4 + 4 * 2) + 2 * 4 * 2
    assert peak > 0 and source == f"best timed 1024x1024 fp32 matmul on this machine ({record})"
    assert sorted(json.loads(record.read_text()).values()) == [1.0, peak]  # kept for the next run, which keeps the best
    assert peak_flops(torch.device("cpu"), "fp32", record)[0] >= peak
    assert torch.equal(torch.get_rng_state(), rng)  # dropout draws the same masks with or without the counting
    assert all(torch.equal(buffer, buffers[name]) for name, buffer in model.named_buffers())
    assert all(param.grad is None for param in model.parameters())


def test_flops_are_the_mean_over_batches_of_unequal_padded_lengths():
    cfg = compose_config("model=transformer", "data.train_size=64", "data.val_size=8", "data.test_size=8")
    cfg.trainer.batch_size = 8
    task = build_task(cfg, "cpu")
    order = task.data.train.src_lengths.argsort()
    short, long = (task.data.train.batch(order[index]) for index in (slice(0, 2), slice(-6, None)))
    model = create_model("transformer_tiny", **task.model_kwargs())
    count = functools.partial(train_flops_per_sample, model, task, autocast=contextlib.nullcontext())
    assert count([long]) > 1.5 * count([short])
    assert count([short, long]) == pytest.approx((2 * count([short]) + 6 * count([long])) / 8)


class SumTask:
    """The loss is the sum of the model's outputs on the batch's first tensor: FLOPs of the model alone."""

    def loss(self, model, batch):
        return model(batch[0]).sum(), {}


class SelfAttention(torch.nn.Module):
    def __init__(self, dim: int, heads: int, attend: bool = True):
        super().__init__()
        self.qkv, self.heads, self.attend = torch.nn.Linear(dim, 3 * dim), heads, attend

    def forward(self, x):
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        return torch.nn.functional.scaled_dot_product_attention(q, k, v) if self.attend else q + k + v


def test_attention_is_counted_on_the_cpu_as_the_matrix_products_it_computes():
    torch.manual_seed(0)
    t, d = 10, 32
    batch = (torch.randn(3, t, d),)
    counts = [
        train_flops_per_sample(SelfAttention(d, 4, attend), SumTask(), [batch], contextlib.nullcontext())
        for attend in (True, False)
    ]
    assert counts[0] - counts[1] == 12 * t * t * d  # QK^T and AV forward (4 t^2 d), four products backward


def test_lrn_counts_the_channel_sums_it_computes_not_its_banded_matrix():
    model = create_model("alexnet_small")
    batch = (torch.rand(2, 1, 28, 28),)
    with_lrn = train_flops_per_sample(model, SumTask(), [batch], contextlib.nullcontext())
    for index, module in enumerate(model.features):
        if type(module).__name__ == "LocalResponseNorm":
            model.features[index] = torch.nn.Identity()
    without = train_flops_per_sample(model, SumTask(), [batch], contextlib.nullcontext())
    per_image = [24 * 28 * 28, 48 * 13 * 13]  # the elements entering the two LRNs (after conv1, conv2)
    assert with_lrn - without == sum(2 * 2 * 5 * size for size in per_image)


@pytest.mark.parametrize(
    "name, peak",
    [("NVIDIA H100 PCIe", 756e12), ("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 NVL", 835e12)],
)
def test_h100_variants_get_their_own_datasheet_peak(monkeypatch, name, peak):
    monkeypatch.setattr(flops, "device_name", lambda device: name)
    assert flops.peak_flops(torch.device("cuda"), "bf16")[0] == peak
