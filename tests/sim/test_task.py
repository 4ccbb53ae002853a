"""World logic without physics: seeded randomization, scenarios, the success metric on constructed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hardware.sim.scenarios import SCENARIOS, scenario
from hardware.sim.task import EpisodeParams, TaskSpec, WipeProgress

SPEC = TaskSpec()


def test_randomization_is_reproducible_per_seed_and_episode() -> None:
    nominal = scenario("nominal")
    a = EpisodeParams.sample(nominal, seed=7, episode=3)
    assert a == EpisodeParams.sample(nominal, seed=7, episode=3)
    others = {EpisodeParams.sample(nominal, 7, e).table_top_z for e in range(20)}
    assert len(others) == 20, "episodes of one seed must differ"
    assert EpisodeParams.sample(nominal, 8, 3).table_top_z != a.table_top_z


def test_table_height_stays_in_the_scenario_range() -> None:
    for name, lo, hi in (("nominal", 0.0, 0.02), ("table_out_of_range", 0.03, 0.045)):
        offs = [EpisodeParams.sample(scenario(name), 1, e).table_top_z - SPEC.table_top_nominal_z for e in range(200)]
        mags = np.abs(offs)
        assert mags.min() >= lo - 1e-12 and mags.max() <= hi + 1e-12
        assert min(offs) < 0 < max(offs), "both signs must occur"
        assert np.ptp(mags) > 0.5 * (hi - lo)


def test_path_is_on_the_table_with_its_length() -> None:
    for e in range(50):
        p = EpisodeParams.sample(scenario("nominal"), 0, e)
        a, b = np.array(p.path_start_xy), np.array(p.path_end_xy)
        assert math.isclose(np.linalg.norm(b - a), SPEC.path_length_m, rel_tol=1e-9)
        for pt in (a, b):
            assert np.all(np.abs(pt - SPEC.table_center_xy) < SPEC.table_half_xy)


def test_the_wipe_runs_towards_plus_y_unless_the_direction_is_random() -> None:
    """A camera cannot tell the stripe's ends apart, so the task fixes where the wipe starts."""
    fixed = [EpisodeParams.sample(scenario("nominal"), 0, e) for e in range(50)]
    assert all(p.path_end_xy[1] > p.path_start_xy[1] for p in fixed)
    spec = TaskSpec(random_direction=True)
    free = [EpisodeParams.sample(scenario("nominal"), 0, e, spec) for e in range(50)]
    assert {p.path_end_xy[1] > p.path_start_xy[1] for p in free} == {True, False}
    # The direction draw is still made, so the rest of an episode (table, push, ...) is the same either way.
    assert [p.table_top_z for p in fixed] == [p.table_top_z for p in free]
    assert [p.push_at_s for p in fixed] == [p.push_at_s for p in free]


def test_scenario_knobs_reach_the_episode() -> None:
    push = EpisodeParams.sample(scenario("push"), 0, 0)
    assert push.push_at_s is not None and math.isclose(np.hypot(*push.push_force_xy_n), 25.0)
    assert EpisodeParams.sample(scenario("nominal"), 0, 0).push_at_s is None
    frozen = EpisodeParams.sample(scenario("tactile_frozen"), 0, 0)
    assert frozen.tactile_freeze_at_s is not None and 3.0 <= frozen.tactile_freeze_at_s <= 6.0
    shift = EpisodeParams.sample(scenario("camera_shift"), 0, 0)
    assert math.isclose(np.linalg.norm(shift.camera_offset_m), 0.06)
    assert EpisodeParams.sample(scenario("tool_stiffness"), 0, 0).pad_stiffness_n_per_m == 2400.0
    assert EpisodeParams.sample(scenario("lighting"), 0, 0).light_scale < 1.0


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: nominal"):
        scenario("nope")
    assert {"nominal", "table_out_of_range", "tool_friction", "tool_stiffness", "camera_shift", "lighting", "push",
            "tactile_frozen"} <= set(SCENARIOS)  # fmt: skip


def _progress() -> WipeProgress:
    p = EpisodeParams.sample(scenario("nominal"), 0, 0)
    return WipeProgress(p, SPEC)


def _along(prog: WipeProgress, s: float, lateral: float = 0.0) -> np.ndarray:
    a = np.array(prog.params.path_start_xy)
    b = np.array(prog.params.path_end_xy)
    u = (b - a) / np.linalg.norm(b - a)
    n = np.array([-u[1], u[0]])
    return a + s * u + lateral * n


def test_full_pass_in_band_succeeds() -> None:
    prog = _progress()
    out = None
    for i, s in enumerate(np.linspace(0, SPEC.path_length_m, 200)):
        out = prog.update(0.01 * i, _along(prog, s), 10.0)
        if out:
            break
    assert out is not None and out.success and out.kind == "success"
    assert out.coverage >= SPEC.required_coverage
    assert prog.update(5.0, _along(prog, 0.0), 100.0) is out, "a decided outcome never changes"


def test_force_out_of_band_or_off_path_does_not_count() -> None:
    for force, lateral in ((3.0, 0.0), (16.0, 0.0), (10.0, 0.03)):
        prog = _progress()
        for i, s in enumerate(np.linspace(0, SPEC.path_length_m, 200)):
            assert prog.update(0.01 * i, _along(prog, s, lateral), force) is None
        assert prog.coverage == 0.0


def test_hard_limit_fails_at_once_with_its_time() -> None:
    prog = _progress()
    prog.update(1.0, _along(prog, 0.01), 10.0)
    out = prog.update(1.5, _along(prog, 0.02), SPEC.hard_limit_n + 0.1)
    assert out is not None and not out.success and out.kind == "force_limit" and out.time_s == 1.5
    assert out.max_force_n > SPEC.hard_limit_n


def test_collision_and_timeout_are_failures() -> None:
    prog = _progress()
    out = prog.update(0.5, _along(prog, 0.0), 0.0, collision="robot0_hand")
    assert out is not None and out.kind == "collision" and "robot0_hand" in out.detail
    prog = _progress()
    for i, s in enumerate(np.linspace(0, SPEC.path_length_m / 2, 100)):  # only half the path
        prog.update(0.01 * i, _along(prog, s), 10.0)
    out = prog.update(SPEC.time_limit_s, _along(prog, 0.0), 0.0)
    assert out is not None and out.kind == "timeout" and 0.4 <= out.coverage <= 0.6


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        _progress().update(0.0, np.zeros(2), float("nan"))
    with pytest.raises(ValueError, match="seed"):
        EpisodeParams.sample(scenario("nominal"), -1, 0)
