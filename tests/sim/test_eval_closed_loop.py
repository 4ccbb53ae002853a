"""`rstack eval` end to end: a real (tiny) policy bundle drives the sim arm through the full ROS graph.

The bundle is trained for a few steps on synthetic data shaped like the sim's (two cameras, 15-d touch): it
cannot wipe, but everything between it and the arm is real: the policy node process on onnxruntime, the
supervisor handing the arm over through /policy/start and /policy/stop, the arm node's envelope, the sim
world deciding the outcome, and the supervisor taking the arm back to lift it for the next episode; the
recorder writing each episode as MCAP; the policy's monitor features captured per planner step.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.procs import ERROR_LINE
from tests.policy.conftest import tiny_config

pytestmark = [pytest.mark.ros, pytest.mark.sim]


@pytest.fixture(scope="module")
def sim_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from policy_runtime.export.onnx_export import export_bundle
    from policy_runtime.training.synthetic import write_synthetic_dataset
    from policy_runtime.training.trainer import PolicyTrainer

    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("simpolicy")
    data = write_synthetic_dataset(base / "d.zarr", episodes=4, steps=64, touch_dim=15, seed=1)
    ckpt = PolicyTrainer(tiny_config(data, base / "run")).train(progress=False)
    return export_bundle(ckpt, base / "bundle", progress=False)


@pytest.mark.timeout(900)  # two 20 s (sim time) episodes: about 3 min on a quiet 2-core machine
def test_eval_hands_the_arm_to_the_policy_and_back(sim_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    exe = str(Path(sys.executable).parent / "rstack")
    cmd = [exe, "eval", "--policy", str(sim_bundle), "--episodes", "2", "--camera-size", "64x48",
           "--num-samples", "2", "--out", str(out)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=850)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    outcomes = json.loads((out / "outcomes.json").read_text())
    assert len(outcomes) == 2 and all(o["controller"].startswith("policy ") for o in outcomes)
    assert [o["episode"] for o in outcomes] == [1, 2]  # the supervisor lifted and reset between them
    assert re.search(r"policy \S+ +\d/2 ", res.stdout), res.stdout  # the summary row
    for o in outcomes:  # the monitor features of each episode, stamped in episode time
        with np.load(o["features"]) as z:
            emb, chunks, t_s = z["embedding"], z["chunks"], z["t_s"]
            assert str(z["kind"]) == o["kind"] and bool(z["success"]) == o["success"]
        assert len(emb) >= 3 and chunks.shape[1:] == (2, 32, 3) and len(t_s) == len(emb)
        assert np.all(np.diff(t_s) >= 0) and t_s[0] >= 0.0 and t_s[-1] <= o["time_s"]
        assert Path(o["recording"]).suffix == ".mcap" and Path(o["recording"]).is_file()
    assert "<td>nominal</td>" in (out / "report.html").read_text()
    (log,) = out.glob("nodes_nominal_policy*.log")
    text = log.read_text()
    assert text.count("engaged at planner step") == 2 and text.count("disengaged after") == 2, text[-3000:]
    errors = [ln for ln in text.splitlines() if ERROR_LINE.search(ln)]
    assert not errors, "\n".join(errors)


@pytest.mark.timeout(600)
def test_shadow_rollouts_capture_the_disengaged_policy_beside_the_expert(sim_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "shadow"
    exe = str(Path(sys.executable).parent / "rstack")
    cmd = [exe, "eval", "--expert", "--shadow-policy", str(sim_bundle), "--episodes", "1", "--camera-size", "64x48",
           "--num-samples", "2", "--no-record", "--out", str(out)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=550)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (o,) = json.loads((out / "outcomes.json").read_text())
    assert o["controller"] == "scripted expert (policy in shadow)" and o["success"], o  # the expert drove
    with np.load(o["features"]) as z:  # while the policy planned beside it, disengaged
        assert bool(z["success"]) and len(z["embedding"]) >= 10 and z["chunks"].shape[1:] == (2, 32, 3)
    (log,) = out.glob("nodes_nominal_scripted*.log")
    assert "engaged at" not in log.read_text()  # the policy was never handed the arm
