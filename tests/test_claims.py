"""The claims (landmarks/claims/): each claim's quick form runs every point of its sweep through the one loop and
writes claim.json, claim.png and a run dir per point whose config holds the point's knob; the command line names
bad input in one line."""

import json

import pytest
from omegaconf import OmegaConf

from landmarks.claims import CLAIMS
from landmarks.claims.__main__ import main


@pytest.mark.slow
@pytest.mark.parametrize("name", CLAIMS.names())
def test_each_claims_quick_form_runs_every_point_and_writes_its_record(name, tmp_path, capsys):
    claim = CLAIMS[name]
    record = main([name, "--quick", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "claim.json").read_text()) == record
    assert (tmp_path / "claim.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert isinstance(record["held"], bool) and record["verdict"] and record["quick"] and record["seeds"] == 1
    assert [row["point"] for row in record["rows"]] == list(claim.points)
    for row in record["rows"]:
        run_dir = tmp_path / row["run_dir"]
        ran = OmegaConf.load(run_dir / "config.yaml")
        for key, value in row["knobs"].items():  # the knob reached the run (a group's choice, model=vit, is no key)
            if "." not in key:
                continue
            assert OmegaConf.select(ran, key) == OmegaConf.from_dotlist([f"x={value}"]).x, (row["point"], key)
        assert json.loads((run_dir / "metrics.json").read_text())["step"] == row["metrics"]["step"]
        assert all(key in row["metrics"] for key in claim.columns.values())
    printed = capsys.readouterr().out
    verdict = f"{name}: {'held' if record['held'] else 'did not hold'}: {record['verdict']}"
    assert f"[{len(claim.points)}/{len(claim.points)}]" in printed and verdict in printed.splitlines()


def test_the_list_names_every_claim_with_its_paper_and_budget(capsys):
    main(["--list"])
    printed = capsys.readouterr().out
    for name in CLAIMS.names():
        assert f"{name} " in printed and CLAIMS[name].paper in printed
    assert "min on 2 CPU cores" in printed


@pytest.mark.parametrize(
    "argv, message",
    [(["resnet_dept"], "no claim 'resnet_dept'; choose one of"), (["resnet_depth", "--seeds", "0"], "--seeds 0")],
)
def test_bad_input_ends_in_one_line(argv, message):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert message in str(stop.value) and "\n" not in str(stop.value)


def rows(train_acc: dict[str, float]) -> list[dict]:
    return [{"point": point, "metrics": {"train/acc": acc, "step": 1000}} for point, acc in train_acc.items()]


@pytest.mark.parametrize(
    "errors, held",
    [
        ({"plain-20": 0.10, "plain-56": 0.20, "resnet-20": 0.10, "resnet-56": 0.05}, True),
        ({"plain-20": 0.10, "plain-56": 0.08, "resnet-20": 0.10, "resnet-56": 0.05}, False),  # no degradation
        ({"plain-20": 0.10, "plain-56": 0.20, "resnet-20": 0.10, "resnet-56": 0.12}, False),  # depth hurts ResNets
    ],
)
def test_resnet_depth_holds_only_when_plain_nets_degrade_and_residual_ones_gain(errors, held):
    verdict = CLAIMS["resnet_depth"].verdict(rows({point: 1 - error for point, error in errors.items()}))
    assert verdict[0] is held and "plain-56" in verdict[1]
