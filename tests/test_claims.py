"""The claims (landmarks/claims/): each claim's quick form runs every point of its sweep through the one loop and
writes claim.json, claim.png and a run dir per point whose config holds the point's knob; the command line names
bad input in one line."""

import json

import pytest
from omegaconf import OmegaConf

from landmarks.claims import CLAIMS
from landmarks.claims.__main__ import main
from tests.conftest import write_tsv


@pytest.mark.slow
@pytest.mark.parametrize("name", CLAIMS.names())
def test_each_claims_quick_form_runs_every_point_and_writes_its_record(name, tmp_path, capsys, monkeypatch):
    claim = CLAIMS[name]
    monkeypatch.chdir(tmp_path)
    for needed in claim.needs:  # data no download gives (gettext's pairs): a small file in the real format
        (tmp_path / needed).parent.mkdir(parents=True)
        write_tsv(tmp_path / needed, pairs=48)
    record = main([name, "--quick", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "claim.json").read_text()) == record
    assert (tmp_path / "claim.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert isinstance(record["held"], bool) and record["verdict"] and record["quick"] and record["seeds"] == 1
    assert record["differs"] == claim.differs and claim.differs
    assert [row["point"] for row in record["rows"]] == [*claim.before, *claim.points]
    for row in record["rows"]:
        run_dir = tmp_path / row["run_dir"]
        ran = OmegaConf.load(run_dir / "config.yaml")
        quick = {override.split("=")[0] for override in claim.quick}
        for key, value in row["knobs"].items():  # the knob reached the run (a group's choice, model=vit, is no key)
            if "." not in key or key in quick:  # the quick form's own overrides stand over a point's
                continue
            assert OmegaConf.select(ran, key) == OmegaConf.from_dotlist([f"x={value}"]).x, (row["point"], key)
        assert json.loads((run_dir / "metrics.json").read_text())["step"] == row["metrics"]["step"]
        assert row["point"] in claim.before or all(key in row["metrics"] for key in claim.columns.values())
    printed = capsys.readouterr().out
    verdict = f"{name}: {'held' if record['held'] else 'did not hold'}: {record['verdict']}"
    runs = len(claim.before) + len(claim.points)
    assert f"[{runs}/{runs}]" in printed and verdict in printed.splitlines()
    assert f"  unlike the paper: {claim.differs}" in printed.splitlines()
    (tmp_path / "claim.png").unlink()
    assert main([name, "--redraw", str(tmp_path)]) == record and (tmp_path / "claim.png").exists()  # no training


def test_the_list_names_every_claim_with_its_paper_and_budget(capsys):
    main(["--list"])
    printed = capsys.readouterr().out
    for name in CLAIMS.names():
        assert f"{name} " in printed and CLAIMS[name].paper in printed
    assert "min on 2 CPU cores" in printed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["resnet_dept"], "no claim 'resnet_dept'; choose one of"),
        (["resnet_depth", "--seeds", "0"], "--seeds 0"),
        (["resnet_depth", "--redraw", "nowhere"], "--redraw nowhere: no claim.json there"),
        (
            ["transformer_cost", "--quick"],
            "reads data/gettext-en-de.tsv, which is not here; make it first: python scripts/gettext_pairs.py",
        ),
    ],
)
def test_bad_input_ends_in_one_line(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where no gettext pairs were made
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert message in str(stop.value) and "\n" not in str(stop.value)


def row(point: str, metrics: dict, curves: dict | None = None) -> dict:
    """A row of claim.json as the runner writes it, with only what a verdict reads."""
    return {"point": point, "metrics": metrics, "curves": curves or {}}


@pytest.mark.parametrize(
    "errors, held",
    [
        ({"plain-20": 0.10, "plain-56": 0.20, "resnet-20": 0.10, "resnet-56": 0.05}, True),
        ({"plain-20": 0.10, "plain-56": 0.08, "resnet-20": 0.10, "resnet-56": 0.05}, False),  # no degradation
        ({"plain-20": 0.10, "plain-56": 0.20, "resnet-20": 0.10, "resnet-56": 0.12}, False),  # depth hurts ResNets
    ],
)
def test_resnet_depth_holds_only_when_plain_nets_degrade_and_residual_ones_gain(errors, held):
    verdict = CLAIMS["resnet_depth"].verdict(
        [row(point, {"train/acc": 1 - error, "step": 1000}) for point, error in errors.items()]
    )
    assert verdict[0] is held and "plain-56" in verdict[1]


def test_alexnet_relu_holds_when_relus_reach_the_error_sooner_and_dropout_narrows_the_gap():
    def point(name, reached_at, train, test):
        return row(name, {"train_eval/acc": train, "test/acc": test}, {"train/acc": [[10, 0.5], [reached_at, 0.8]]})

    verdict = CLAIMS["alexnet_relu"].verdict
    assert verdict(
        [point("relu", 20, 0.99, 0.90), point("tanh", 60, 0.97, 0.90), point("relu, dropout 0.5", 40, 0.95, 0.91)]
    )[0]
    held, sentence = verdict(
        [point("relu", 60, 0.99, 0.9), point("tanh", 20, 0.97, 0.9), point("relu, dropout 0.5", 40, 0.95, 0.91)]
    )
    assert not held and "not sooner" in sentence


@pytest.mark.parametrize("plain_trains_at_25, held", [(False, True), (True, False)])
def test_batchnorm_holds_when_bn_is_faster_and_trains_at_a_rate_that_stops_the_plain_net(plain_trains_at_25, held):
    from landmarks.claims.findings.batchnorm import label

    def point(bn, multiple, reached_at, trains=True):
        curve = {"val/acc": [[50, 0.5], [reached_at, 0.9]]}
        return row(label(bn, multiple), {"val/acc": 0.9 if trains else 0.1}, curve)

    runs = [point(False, 1, 300), point(True, 1, 100), point(False, 5, 200), point(True, 5, 100)]
    runs += [point(False, 25, 200, trains=plain_trains_at_25), point(True, 25, 100)]
    assert CLAIMS["batchnorm"].verdict(runs)[0] is held
    diverged = {**point(False, 25, 200), "diverged": "loss is nan at step 12"}  # a non-finite loss: it did not train
    assert CLAIMS["batchnorm"].verdict([*runs[:4], diverged, runs[5]])[0]


def test_vit_data_holds_when_the_vit_trails_on_little_data_and_the_gap_closes():
    from landmarks.claims.findings.vit_data import SIZES

    gaps = dict(zip(SIZES, (0.10, 0.05, 0.02, 0.01)))
    runs = [
        row(f"{m}, {n}", {"test/acc": 0.8 + (gaps[n] if m == "ResNet" else 0)})
        for m in ("ViT", "ResNet")
        for n in SIZES
    ]
    assert CLAIMS["vit_data"].verdict(runs)[0]
    widening = [row(r["point"], {"test/acc": 0.8 + 0.2 * (r["point"] == f"ResNet, {SIZES[-1]}")}) for r in runs]
    assert not CLAIMS["vit_data"].verdict(widening)[0]


@pytest.mark.parametrize("robust_accuracy, held", [(0.7, True), (0.15, False)])
def test_adversarial_training_holds_by_twenty_points_at_the_training_eps(robust_accuracy, held):
    from landmarks.claims.findings.adversarial_training import EPS

    def point(name, at_train_eps):
        return row(name, {f"pgd_acc@{eps:g}": 0.9 if eps == 0 else at_train_eps for eps in EPS})

    assert (
        CLAIMS["adversarial_training"].verdict([point("standard", 0.0), point("PGD-trained", robust_accuracy)])[0]
        is held
    )


def test_attention_length_holds_when_the_fixed_context_loses_more_bleu_on_long_sentences():
    from landmarks.claims.findings.attention_length import BUCKETS, key

    def point(name, scores):
        return row(name, {key(*bucket): score for bucket, score in zip(BUCKETS, scores)})

    search, encdec = point("RNNsearch", (90, 88, 87, 85)), point("RNNencdec", (80, 60, 40, 20))
    assert CLAIMS["attention_length"].verdict([search, encdec])[0]
    assert not CLAIMS["attention_length"].verdict(
        [point("RNNsearch", (90, 60, 40, 20)), point("RNNencdec", (80, 78, 77, 76))]
    )[0]


def translation_row(point: str, test_bleu: float, val_bleu: list[float], flops_per_step: float) -> dict:
    curves = {"val/bleu": [[100 * (i + 1), b] for i, b in enumerate(val_bleu)]}
    metrics = {"test/bleu": test_bleu, "flops_per_step": flops_per_step, "s_per_step": 0.1}
    return row(point, metrics | {"train_flops": flops_per_step * 100 * len(val_bleu)}, curves)


@pytest.mark.parametrize(
    "transformer, held",
    [
        ((20.0, [10.0, 18.0, 21.0]), True),  # RNNsearch's best (15) passed at step 200: 2e9 of its 3e9 FLOPs
        ((14.0, [10.0, 12.0, 13.0]), False),  # never reaches it
        ((20.0, [10.0, 12.0, 16.0]), False),  # reaches it at 3e9 FLOPs: no cheaper than RNNsearch
    ],
)
def test_transformer_cost_holds_only_when_the_transformer_is_better_and_cheaper(transformer, held):
    rows = [
        translation_row("RNNsearch", 14.5, [8.0, 12.0, 15.0], 1e7),
        translation_row("Transformer", *transformer, 1e7),
    ]
    verdict = CLAIMS["transformer_cost"].verdict(rows)
    assert verdict[0] is held and "RNNsearch" in verdict[1]


def scaling_rows(loss) -> list[dict]:
    """Rows of the scaling sweep whose losses follow `loss(params, tokens)`: five sizes at each budget, training
    curves logged at ten points of each run."""
    from landmarks.claims.findings.scaling_laws import BUDGETS, WIDTHS, label

    rows = []
    for width, params in zip(WIDTHS, (5e4, 1.5e5, 5e5, 1.5e6, 5e6)):
        for budget in BUDGETS:
            per_step = 6 * params * 1024  # 1,024 tokens a step
            steps = budget / per_step
            curve = [[steps * k / 10, loss(params, 1024 * steps * k / 10)] for k in range(1, 11)]
            metrics = {"params": params, "flops_per_step": per_step, "val/loss": curve[-1][1]}
            rows.append(row(label(width, budget), metrics, {"train/loss": curve}))
    return rows


@pytest.mark.parametrize(
    "loss, held",
    [
        (lambda n, d: 1.0 + n**-0.3 + d**-0.3, True),  # Chinchilla's form with alpha = beta: N_opt ~ C^0.5
        (lambda n, d: 1.0 + n**-0.3, False),  # data does not matter: the largest model wins at every budget
    ],
)
def test_scaling_laws_hold_only_when_the_optimal_size_grows_with_compute(loss, held):
    verdict = CLAIMS["scaling_laws"].verdict(scaling_rows(loss))
    assert verdict[0] is held and "Approach 2" in verdict[1]
    if held:
        from landmarks.claims.findings.scaling_laws import analysis

        found = analysis(scaling_rows(loss))
        assert 0.35 < found["a2"] < 0.65 and 0.35 < found["a1"] < 0.65, found  # near the law's 0.5


@pytest.mark.parametrize(
    "pretrained, held",
    [
        ((0.30, 0.35, 0.40, 0.42), True),
        ((0.30, 0.35, 0.40, 0.38), False),  # from scratch wins with all the labels
    ],
)
def test_bert_pretraining_holds_only_when_pretraining_helps_at_every_size(pretrained, held):
    from landmarks.claims.findings.bert_pretraining import SIZES, label

    scratch = (0.15, 0.25, 0.30, 0.40)
    rows = [row("mlm", {"test/acc": 0.25, "test/most_frequent_acc": 0.03})]
    for start, accuracies in (("pre-trained", pretrained), ("from scratch", scratch)):
        rows += [row(label(start, size), {"test/acc": acc}) for size, acc in zip(SIZES, accuracies)]
    verdict = CLAIMS["bert_pretraining"].verdict(rows)
    assert verdict[0] is held and "from scratch matches pre-trained on 50 labels at 1000" in verdict[1]
