"""The scripted expert's logic in closed loop with a lagged arm + pad-spring model (no physics engine).

The full loop through franky-sim and ROS is exercised by `rstack sim expert`; this checks that the
controller itself reaches the force band from measured force only, over the randomized episodes.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from hardware.sim.expert import WipeExpert, WipeTask
from hardware.sim.scenarios import scenario
from hardware.sim.task import EpisodeParams, TaskSpec, WipeProgress

TOOL_LENGTH = 0.042


def run_closed_loop(params: EpisodeParams, rate_hz: float = 30.0, lag_s: float = 0.08, delay_ticks: int = 2):
    """Arm: first-order lag towards the (delayed) target. Pad: a spring of the episode's stiffness."""
    task = WipeTask.from_params(params.to_dict(), TOOL_LENGTH)
    ee = np.array([0.554, 0.0, 0.52])
    expert = WipeExpert(task, ee)
    progress = WipeProgress(params, TaskSpec())
    dt = 1.0 / rate_hz
    pipe: deque[np.ndarray] = deque([ee.copy()] * (delay_ticks + 1), maxlen=delay_ticks + 1)
    t, force, forces = 0.0, 0.0, []
    while not expert.done and t < 60.0:
        pipe.append(expert.step(dt, force))
        ee += (pipe[0] - ee) * (1 - np.exp(-dt / lag_s))
        force = max(0.0, params.pad_stiffness_n_per_m * (task.contact_z - ee[2]))
        forces.append(force)
        progress.update(t, ee[:2], force)
        t += dt
    return expert, progress, np.asarray(forces)


@pytest.mark.parametrize("name", ["nominal", "tool_stiffness", "table_out_of_range"])
def test_expert_wipes_in_band_from_measured_force(name: str) -> None:
    for episode in range(5):
        params = EpisodeParams.sample(scenario(name), seed=11, episode=episode)
        expert, progress, forces = run_closed_loop(params)
        assert expert.done
        assert progress.outcome is not None and progress.outcome.success, (name, episode, progress.outcome)
        assert forces.max() < TaskSpec().hard_limit_n


def test_expert_lifts_when_asked_and_never_dives_from_below() -> None:
    params = EpisodeParams.sample(scenario("nominal"), 0, 0)
    task = WipeTask.from_params(params.to_dict(), TOOL_LENGTH)
    low = np.array([0.5, 0.0, task.contact_z + 0.005])
    expert = WipeExpert(task, low)
    hover = task.contact_z + expert.cfg.hover_m
    targets = [expert.step(0.02, 0.0) for _ in range(20)]
    below = [p for p in targets if p[2] < hover - 1e-9]
    assert below and all(np.allclose(p[:2], low[:2]) for p in below), "below the hover height it only rises"
    assert np.all(np.diff([p[2] for p in below]) > 0)
    expert.lift()
    while not expert.done:
        expert.step(0.05, 0.0)
    assert expert.target[2] >= task.contact_z + 0.1 - 1e-9


def test_expert_refuses_bad_input() -> None:
    params = EpisodeParams.sample(scenario("nominal"), 0, 0)
    expert = WipeExpert(WipeTask.from_params(params.to_dict(), TOOL_LENGTH), np.array([0.5, 0.0, 0.4]))
    with pytest.raises(ValueError, match="finite"):
        expert.step(0.03, float("nan"))
    with pytest.raises(ValueError, match="dt"):
        expert.step(0.0, 1.0)
    with pytest.raises(ValueError, match="start target"):
        WipeExpert(expert.task, np.array([np.nan, 0.0, 0.0]))
