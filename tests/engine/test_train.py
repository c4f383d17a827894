"""The loop end to end: loss falls, resume reproduces the
uninterrupted run, accumulation, the CLI (faults: test_faults.py)."""

import contextlib
import glob
import json
from pathlib import Path

import pytest
import torch
from landmarks.models import create_model
from omegaconf import OmegaConf

from landmarks.build import build_task
from landmarks.engine import distributed
from landmarks.engine.checkpoint import load_checkpoint, save_checkpoint
from landmarks.engine.loop import micro_batches, train_step
from landmarks.engine.phases import Phase
from tests.conftest import (
    TINY_TASKS,
    RegressionTask,
    cli,
    compose_config,
    fit_config,
    tiny_run_overrides,
    tiny_task,
    without_evaluation,
    write_images,
)
from train import resumed_config, run


def test_loss_falls_on_real_images(tiny_fashion_mnist, tmp_path):
    cfg = compose_config(*tiny_run_overrides(tiny_fashion_mnist, "trainer.max_steps=16"))
    results = run(cfg, tmp_path / "run")
    losses = [loss for _, loss in results["history"]]
    assert losses[-1] < 0.75 * losses[0], losses
    assert results["test/acc"] > 0.3  # ten classes: chance is 0.1
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["step"] == 16 and saved["test/acc"] == results["test/acc"]
    environment = json.loads((tmp_path / "run" / "environment.json").read_text())  # what README lists
    assert environment["torch"] == torch.__version__ and environment["threads"] == torch.get_num_threads()
    assert {"cuda", "device_name", "python", "git_commit"} <= set(environment)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run"), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/acc", "train/lr", "train/grad_norm", "val/acc", "test/acc"} <= scalars, scalars
    assert "test/confusion_matrix" in events.Tags()["images"] and "test/misclassified" in events.Tags()["images"]
    hparams = events.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams)
    assert b"optim.lr" in hparams["_hparams_/session_start_info"]  # every config value, against the metrics


@pytest.mark.parametrize("model, tag", [("vit", "test/attention_rollout"), ("alexnet", "model/first_layer_filters")])
def test_model_pictures_reach_tensorboard(tiny_fashion_mnist, tmp_path, model, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(compose_config(*tiny_run_overrides(tiny_fashion_mnist, f"model={model}", "trainer.max_steps=2")), tmp_path)
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    events.Reload()
    assert tag in events.Tags()["images"]
    assert events.Images(tag)[-1].width > 28


@pytest.mark.parametrize("model", ["transformer", "seq2seq"])
def test_translation_loss_falls_and_decodes_to_tensorboard(tmp_path, model):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = compose_config(
        f"model={model}",
        "data.train_size=640",
        "data.val_size=32",
        "data.test_size=32",
        "data.beam_size=2",
        "trainer.batch_size=32",
        "trainer.epochs=2",
        "trainer.log_every=5",
        "trainer.eval_every=20",
        "trainer.progress=false",
    )
    results = run(cfg, tmp_path)
    losses = [loss for _, loss in results["history"]]
    assert losses[-1] < 0.8 * losses[0], losses
    assert 0 <= results["test/exact_match"] <= 1 and 0 <= results["test/bleu"] <= 100 and results["test/ppl"] > 1
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    assert "alignment/0" in events.Tags()["images"] and "test/translations/text_summary" in events.Tags()["tensors"]


def test_resume_reproduces_the_uninterrupted_run(tiny_fashion_mnist, tmp_path):
    # The record's recipe (lookahead, whitening, scaled BatchNorm learning rate) at 18 steps per epoch: the
    # interrupted run stops at step 22, inside the second epoch and between two lookahead syncs.
    slim = ["model=airbench", "model.widths=[8,16,16]", "trainer.epochs=2", "trainer.max_steps=28"]
    overrides = tiny_run_overrides(tiny_fashion_mnist, *slim)
    straight = run(compose_config(*overrides), tmp_path / "straight")
    run(compose_config(*overrides, "trainer.max_steps=22"), tmp_path / "cut")
    cfg, run_dir, state = resumed_config(
        compose_config(*overrides, f"trainer.resume={tmp_path / 'cut'}"),
        [f"trainer.resume={tmp_path / 'cut'}", "trainer.max_steps=28"],
    )
    assert run_dir == tmp_path / "cut" and cfg.trainer.max_steps == 28 and cfg.trainer.lookahead
    resumed = run(cfg, run_dir, state)
    assert resumed["history"] == [entry for entry in straight["history"] if entry[0] > 22]
    for key, value in load_checkpoint(tmp_path / "straight")["model"].items():
        assert torch.equal(value, load_checkpoint(run_dir)["model"][key]), key
    assert resumed["test/acc"] == straight["test/acc"]


def test_a_resume_refuses_overrides_that_would_make_another_run_and_keeps_the_runs_own(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("- model=vit\n- optim.lr=0.01\n")
    save_checkpoint(run_dir / "checkpoint.pt", {"model": {}, "optimizer": {}, "scheduler": {}, "step": 2, "config": {}})
    cfg = compose_config(f"trainer.resume={run_dir}")
    again = [f"trainer.resume={run_dir}", "model=vit", "optim.lr=0.01", "trainer.max_steps=50", "trainer.device=cpu"]
    assert resumed_config(cfg, again)[0].trainer.max_steps == 50  # the run's own overrides repeated, and its length
    changed = [f"trainer.resume={run_dir}", "model=alexnet", "+model.width=16", "trainer.max_steps=50"]
    with pytest.raises(ValueError, match=r"continues that run as it was: model=alexnet \+model.width=16 would make"):
        resumed_config(cfg, changed)


@pytest.mark.parametrize("grad_accum", [2, 4])
def test_gradient_accumulation_matches_one_big_batch(tmp_path, grad_accum):
    weights = []
    for accum in (1, grad_accum):
        torch.manual_seed(0)
        model = torch.nn.Linear(5, 2)
        cfg = compose_config("optim=adamw", f"trainer.grad_accum={accum}", "trainer.epochs=1", "trainer.progress=false")
        fit_config(cfg, model, RegressionTask(), tmp_path / str(accum))
        weights.append(model.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1])


def test_accumulation_that_does_not_divide_the_batch_is_refused(tmp_path):
    cfg = compose_config("trainer.batch_size=10", "trainer.grad_accum=4")
    with pytest.raises(ValueError, match="trainer.batch_size=10 must be divisible by trainer.grad_accum=4"):
        fit_config(cfg, torch.nn.Linear(5, 2), RegressionTask(), tmp_path)


@pytest.mark.slow
def test_cli_sweep_lands_in_named_run_dirs_and_eval_compares_them(tmp_path):
    quick = [
        "trainer.max_steps=2",
        "data.val_size=100",
        "data.test_size=100",
        "trainer.batch_size=32",
        "trainer.progress=false",
    ]
    sweep = cli("train.py", "-m", "model=resnet", "optim.lr=0.1,0.05", *quick, f"hydra.sweep.dir={tmp_path}")
    assert sweep.returncode == 0, sweep.stderr
    run_dirs = sorted(glob.glob(str(tmp_path / "*optim.lr=*")))
    assert [Path(d).name.split("optim.lr=")[1].split(",")[0] for d in run_dirs] == ["0.05", "0.1"]
    for run_dir in run_dirs:
        metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
        assert metrics["step"] == 2 and 0 <= metrics["test/acc"] <= 1
    second, first = (
        json.loads((Path(d) / "metrics.json").read_text())["wall_split_s"] for d in run_dirs
    )  # 0.1 ran first
    assert second["imports and config"] < sum(first.values())  # the second job's split starts with it, not the process
    evaluation = cli("eval.py", f"run={tmp_path}/*")
    assert evaluation.returncode == 0, evaluation.stderr
    header, *rows = evaluation.stdout.strip().splitlines()
    assert header.split()[:4] == ["run", "optim.lr", "model", "params"] and len(rows) == 2  # a column per swept key
    assert [row.split()[1] for row in rows] == ["0.05", "0.1"]
    saved = json.loads((Path(run_dirs[0]) / "metrics.json").read_text())
    assert f"{saved['test/acc']:.4f}" in rows[0]


def test_eval_names_a_missing_checkpoint(tmp_path):
    result = cli("eval.py", f"run={tmp_path}")
    assert result.returncode != 0
    assert f"eval.py: No checkpoint at {tmp_path}/checkpoint.pt" in result.stderr


def test_accumulation_over_micro_batches_of_unequal_lengths_equals_one_big_batch():
    """Translation batches hold sentences of unequal lengths: each micro-batch weighs by its target tokens."""
    cfg = compose_config("model=transformer", "data.train_size=64", "data.val_size=8", "data.test_size=8")
    cfg.trainer.batch_size = 8
    task = build_task(cfg, "cpu")
    order = task.data.train.tgt_lengths.argsort()
    batch = task.data.train.batch(torch.cat([order[:4], order[-4:]]))  # four short pairs, then four long ones
    halves = micro_batches(batch, 2)
    assert task.loss_weight(halves[0]) * 2 < task.loss_weight(halves[1])
    weights, losses = [], []
    for accum in (1, 2):
        torch.manual_seed(0)
        model = create_model("transformer_tiny", p_drop=0.0, **task.model_kwargs())
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        trainer = OmegaConf.create({"grad_accum": accum, "grad_clip": None})
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        phases = [Phase("", model, optimizer, schedule)]
        logs = train_step(task, model, batch, phases, trainer, contextlib.nullcontext())
        weights.append({name: p.detach().clone() for name, p in model.named_parameters()})
        losses.append(logs["loss"])
    torch.testing.assert_close(losses[0], losses[1])
    for name, value in weights[0].items():
        torch.testing.assert_close(value, weights[1][name], rtol=1e-4, atol=1e-6)
    torch.manual_seed(0)
    model = create_model("transformer_tiny", p_drop=0.0, **task.model_kwargs())
    mean_of_means = sum(task.loss(model, half)[0] for half in halves) / 2  # what weighing micro-batches alike gives
    assert abs(mean_of_means - losses[0]) > 1e-3


def test_each_process_draws_its_own_dropout_masks_deterministically(monkeypatch):
    masks = {}
    for rank in (0, 1, 1):
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        torch.manual_seed(0)  # the seed that built the weights, the same in every process
        distributed.seed_process(0)
        masks.setdefault(rank, []).append(torch.nn.functional.dropout(torch.ones(1000), 0.5))
    torch.manual_seed(0)
    assert torch.equal(masks[0][0], torch.nn.functional.dropout(torch.ones(1000), 0.5))  # rank 0: a single process's
    assert not torch.equal(masks[0][0], masks[1][0])
    assert torch.equal(masks[1][0], masks[1][1])


@pytest.mark.slow
def test_a_run_off_a_terminal_prints_plain_lines_and_writes_what_ran(tmp_path):
    """stdout and stderr to files (CI, nohup): a line at each log step, not tqdm's line per refresh; the opening
    line names the experiment; the run dir holds the config as it ran, with the sizes from the data."""
    run_dir = tmp_path / "run"
    short = ["trainer.max_steps=60", "trainer.log_every=50", "data.val_windows=16", "model.n_layer=1"]
    short += ["data.val_fraction=0.01", "data.sample_length=8"]
    short += ["trainer.num_threads=1"]  # beside the other pytest worker
    done = cli("train.py", "experiment=speedrun_gpt", *short, f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr + done.stdout and len(done.stderr + done.stdout) < 2000
    lines = done.stdout.splitlines()
    assert lines[0].startswith("experiment speedrun_gpt (configs/experiment/speedrun_gpt.yaml: target loss:1.88")
    assert [line.split(":")[0] for line in lines if line.startswith("step ")] == ["step 50/60", "step 60/60"]
    ran = OmegaConf.load(run_dir / "config.yaml")
    assert ran.model.vocab_size == 65 and ran.model.block_size == 64 and ran.trainer.max_steps == 60
    assert not (run_dir / "train.log").exists()


@pytest.mark.slow
@pytest.mark.parametrize("task", [*TINY_TASKS, "streamed images"])
def test_resume_is_exact_for_every_task(task, tiny_fashion_mnist, tmp_path, monkeypatch):
    """A run cut at step 3 and resumed trains steps 4-6 as the uninterrupted run did (dropout, the data order, the
    schedule, and the states of Muon and of AdamW, which trains the embeddings, norms and biases beside it), for an
    image folder streamed from disk too (its read-ahead starts over at the resumed step). The final evaluation,
    which resume does not touch, is skipped."""
    if task == "streamed images":
        folder = write_images(tmp_path / "images", per_class=16)
        data = ["data=image_folder", f"data.path={folder}", "data.image_size=32", "data.val_size=8"]
        data += [
            "data.max_memory_gb=1e-6",
            "data.num_workers=0",
            "data.augment.crop_padding=2",
            "model.widths=[8,16,32]",
        ]
    else:
        data = tiny_task(task, tiny_fashion_mnist)
    every = ("optim=muon", "trainer.steps=8", "trainer.log_every=1", "trainer.eval_every=0", "trainer.ckpt_every=0")
    overrides = (*data, "trainer.batch_size=16", *every, "trainer.progress=false")
    without_evaluation(monkeypatch, compose_config(*overrides))
    straight = run(compose_config(*overrides, "trainer.max_steps=6"), tmp_path / "straight")
    run(compose_config(*overrides, "trainer.max_steps=3"), tmp_path / "cut")
    resume = [f"trainer.resume={tmp_path / 'cut'}", "trainer.max_steps=6"]
    resumed = run(*resumed_config(compose_config(*overrides, *resume), resume))
    assert resumed["history"] == straight["history"][3:]
    cut = load_checkpoint(tmp_path / "cut")
    assert len(cut["optimizer"]) == len(cut["scheduler"]) == (2 if task == "gan" else 1)  # one a phase
    cut_weights = cut["model"]
    for key, value in load_checkpoint(tmp_path / "straight")["model"].items():
        assert torch.equal(value, cut_weights[key]), key
