"""`rstack pipeline`: the stage plan chains each stage's output into the next and resumes past done stages."""

from __future__ import annotations

import argparse

from rstack.commands.pipeline import run, stages


def _args(tmp_path, **kw):
    base = dict(out=str(tmp_path), demos=3, camera_size="160x120", train_config="", calibration_rollouts=10,
                delta=0.1, window=30, thresholds="band", eval_episodes=4, scenarios="nominal,push", seed=7,
                dry_run=True, shadow_calibration=False)  # fmt: skip
    return argparse.Namespace(**{**base, **kw})


def test_stages_chain_outputs_and_use_disjoint_seeds(tmp_path):
    plan = {name: argv for name, argv, _ in stages(_args(tmp_path))}
    assert list(plan) == ["collect", "dataset", "train", "export", "rollouts", "calibrate", "eval"]
    assert str(tmp_path / "demos") in plan["collect"] and str(tmp_path / "demos") in plan["dataset"]
    assert str(tmp_path / "dataset.zarr") in plan["train"] and str(tmp_path / "dataset.zarr") in plan["calibrate"]
    assert plan["calibrate"][plan["calibrate"].index("--rollouts") + 1] == str(
        tmp_path / "calibration_rollouts" / "episodes" / "nominal"
    )
    seeds = [argv[argv.index("--seed") + 1] for argv in (plan["collect"], plan["rollouts"], plan["eval"])]
    assert seeds == ["7", "507", "1007"]
    assert plan["eval"][plan["eval"].index("--monitor") + 1] == str(tmp_path / "monitor")
    cal = plan["calibrate"]
    assert cal[cal.index("--window") + 1] == "30" and cal[cal.index("--thresholds") + 1] == "band"


def test_dry_run_marks_done_stages(tmp_path, capsys):
    (tmp_path / "demos.json").write_text("[]")
    (tmp_path / "dataset.zarr").mkdir()
    assert run(_args(tmp_path)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.endswith("(done)") for ln in lines] == [True, True, False, False, False, False, False]


def test_shadow_calibration_calibrates_on_held_out_demos_without_policy_rollouts(tmp_path):
    plan = {name: argv for name, argv, _ in stages(_args(tmp_path, shadow_calibration=True))}
    assert list(plan) == ["collect", "dataset", "train", "export", "calibrate", "eval"]
    cal = plan["calibrate"]
    assert cal[cal.index("--from-demos") + 1] == "10" and "--rollouts" not in cal
