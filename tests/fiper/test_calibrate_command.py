"""`rstack fiper calibrate` / `info` from a recorded rollouts directory, through the CLI's argparse."""

import argparse
import json

import pytest

from policy_runtime.fiper import ace
from policy_runtime.fiper.artifacts import load_artifacts
from rstack.commands import fiper
from tests.fiper.synthetic import D, write_policy_bundle, write_rollouts_dir


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rstack")
    fiper.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_calibrate_writes_artifacts_for_the_policy(tmp_path, capsys):
    rollouts = write_rollouts_dir(tmp_path / "rollouts", m=10, seed=3, steps=12, n_train=400)
    policy = write_policy_bundle(tmp_path / "policy")
    out = tmp_path / "monitor"
    argv = ["fiper", "calibrate", "--rollouts", str(rollouts), "--policy", str(policy), "--out", str(out)]
    assert _run([*argv, "--window", "3", "--delta", "0.1", "--rnd-steps", "20", "--cell-fraction", "auto"]) == 0
    printed = capsys.readouterr().out
    assert "written to" in printed and "ACE cell fraction" in printed
    art = load_artifacts(out, policy)
    assert (art.window, art.num_rollouts, art.embedding_dim, art.rnd_config["steps"]) == (3, 10, D, 20)
    assert art.ace_cell_fraction in ace.AUTO_CELL_FRACTIONS  # the chosen grid is what the monitor uses
    assert art.ace_cell_size[0] == pytest.approx(art.ace_calibration_range[0] * art.ace_cell_fraction)

    assert _run(["fiper", "info", str(out), "--policy", str(policy)]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed[: printed.rindex("}") + 1])["calibration"]["window"] == 3

    other = write_policy_bundle(tmp_path / "other", tag="b")
    assert _run(["fiper", "info", str(out), "--policy", str(other)]) == 2
    assert "calibrated for policy" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (["--delta", "0.05"], "10 calibration rollouts cannot give a false-alarm guarantee of delta=0.05"),
        (["--window", "0"], "window must be an integer"),
    ],
)
def test_calibrate_refuses_with_a_clear_message(tmp_path, capsys, extra, error):
    rollouts = write_rollouts_dir(tmp_path / "rollouts", m=10, seed=4, steps=6, n_train=50)
    policy = write_policy_bundle(tmp_path / "policy")
    argv = ["fiper", "calibrate", "--rollouts", str(rollouts), "--policy", str(policy), "--out", str(tmp_path / "m")]
    assert _run([*argv, *extra]) == 2
    assert error in capsys.readouterr().err
    assert not (tmp_path / "m" / "fiper_monitor.json").exists()


def test_calibrate_refuses_a_missing_policy(tmp_path, capsys):
    rollouts = write_rollouts_dir(tmp_path / "rollouts", m=10, seed=5, steps=6, n_train=50)
    argv = ["fiper", "calibrate", "--rollouts", str(rollouts), "--policy", str(tmp_path / "nope"), "--out", "x"]
    assert _run(argv) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_calibrate_refuses_a_cell_fraction_that_is_neither_a_number_nor_auto(capsys):
    with pytest.raises(SystemExit) as exc:
        _run(["fiper", "calibrate", "--rollouts", "r", "--policy", "p", "--out", "o", "--cell-fraction", "fine"])
    assert exc.value.code == 2
    assert "expected a number in (0, 1] or 'auto', got 'fine'" in capsys.readouterr().err
