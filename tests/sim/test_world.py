"""The world in-process against a real franky client over the libfranka protocol (franky-sim server)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from hardware.realtime import scheduling_restored
from hardware.sim.world import ResetRefused, SimWorld, WorldConfig
from tests.sim.helpers import random_loopback

pytestmark = [pytest.mark.sim]


@pytest.fixture(scope="module")
def world():
    w = SimWorld(WorldConfig(host=random_loopback(), seed=3, camera_rate_hz=0.0))
    w.start()
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="module")
def robot(world):
    franky = pytest.importorskip("franky")
    with scheduling_restored():  # libfranka would leave this thread SCHED_FIFO 99
        r = franky.Robot(world.host, realtime_config=franky.RealtimeConfig.Ignore)
    r.relative_dynamics_factor = 0.3
    return r


def _move_tcp_z(robot, world, z: float) -> None:
    import franky

    pose = robot.current_cartesian_state.pose.end_effector_pose
    x, y = world.config.spec.table_center_xy
    with scheduling_restored():  # a synchronous motion's loop runs on this thread, which libfranka raises
        robot.move(franky.CartesianMotion(franky.Affine([x, y, z], pose.quaternion)))
    time.sleep(0.3)


def _settled(world, seconds: float = 0.3):
    t_end = world.sim_time + seconds
    while world.sim_time < t_end:
        time.sleep(0.02)
    return world._latest


def test_pressing_the_pad_reads_as_a_franka_wrench_and_a_tactile_field(world, robot) -> None:
    contact_z = world.params.table_top_z + world.config.tool.tool_length_m
    _move_tcp_z(robot, world, contact_z + 0.02)
    free = _settled(world)
    assert free.pad_normal_n == 0.0
    readings = []
    for depth in (0.006, 0.012):
        _move_tcp_z(robot, world, contact_z - depth)
        sample = _settled(world)
        wrench = np.asarray(robot.state.O_F_ext_hat_K)
        field, _emb, _ = world.tactile_reading()
        readings.append((sample, wrench, np.linalg.norm(field, axis=-1).mean()))
    (s1, w1, t1), (s2, w2, t2) = readings
    k = world.params.pad_stiffness_n_per_m
    for s, w in ((s1, w1), (s2, w2)):
        # franka sign: the wrench the robot exerts on the table; pressing down reads Fz < 0.
        assert w[2] < -2.0 and abs(-w[2] - s.pad_normal_n) < 0.15 * s.pad_normal_n + 0.5
        assert abs(s.pad_normal_n - k * s.pad_compression_m) < 2.0, "force comes from the pad spring"
        assert np.linalg.norm(w[:2]) < 0.2 * abs(w[2])
    assert s2.pad_normal_n > s1.pad_normal_n + 2.0 and t2 > t1 > 0.0
    assert not s1.collision and not s2.collision


def test_reset_is_refused_in_contact_and_moves_the_table_after_lifting(world, robot) -> None:
    contact_z = world.params.table_top_z + world.config.tool.tool_length_m
    _move_tcp_z(robot, world, contact_z - 0.008)
    _settled(world)
    with pytest.raises(ResetRefused, match="lift the tool"):
        world.reset_episode()
    # A stopped arm pressed into the table is freed by lowering the table, as a person would do.
    assert world._latest.pad_normal_n > 0.5
    table_z = world.release_table(0.05)
    assert table_z == pytest.approx(world.params.table_top_z - 0.05)
    _settled(world)
    assert world._latest.pad_normal_n < 0.5
    _move_tcp_z(robot, world, contact_z + 0.08)
    _settled(world)
    before = world.params
    params = world.reset_episode()
    assert params.episode == before.episode + 1
    snap = world.snapshot()
    table = world._ids["table"]
    assert abs(snap.mocap_pos[table][2] - params.table_top_z) < 1e-12
    assert world.outcomes and world.outcomes[-1].kind == "aborted"


def test_snapshots_come_from_the_physics_thread_in_order(world) -> None:
    snaps = [world.snapshot() for _ in range(5)]
    times = [s.sim_time for s in snaps]
    assert all(b > a for a, b in itertools.pairwise(times))
    assert all(s.wall_time <= time.time() for s in snaps)
    assert world.physics_errors == 0, world.last_physics_error
