"""The user-facing commands in one style (README's table): key=value for train.py and eval.py, `--help` listing
what each takes, and a bad argument ending in one line that names it."""

import sys

import pytest

import eval as eval_py
from landmarks import download, export


def test_eval_py_help_lists_its_keys(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["eval.py", "--help"])
    eval_py.main()
    out = capsys.readouterr().out
    assert all(f"{key}=" in out for key in ("run", "ckpt", "attack", "attack.<key>", "trust_code"))


@pytest.mark.parametrize(
    "command, argv, message",
    [
        (
            export.main,
            [],
            r"^python -m landmarks.export: the following arguments are required: run_dir, out_dir; usage",
        ),
        (download.main, ["mnst"], r"^python -m landmarks.download: argument name: invalid choice: 'mnst'.*; usage"),
    ],
)
def test_a_bad_argument_to_a_module_command_is_one_line(command, argv, message):
    with pytest.raises(SystemExit, match=message) as error:
        command(argv)
    assert "\n" not in str(error.value)
