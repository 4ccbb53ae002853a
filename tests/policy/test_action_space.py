"""TCP-relative action representation: conversions are exact inverses and respect the frames."""

from __future__ import annotations

import numpy as np

from policy_runtime.models.action_space import (
    absolute_to_relative,
    action_to_pose,
    matrix_to_quat,
    pose_to_action,
    quat_to_matrix,
    relative_action_to_target,
    relative_positions_to_absolute,
    relative_to_absolute,
)


def _random_quats(rng: np.random.Generator, n: int) -> np.ndarray:
    q = rng.standard_normal((n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_quaternion_matrix_round_trip() -> None:
    q = _random_quats(np.random.default_rng(0), 200)
    back = matrix_to_quat(quat_to_matrix(q))
    # q and -q are the same rotation: compare up to sign
    assert np.allclose(np.abs(np.sum(back * q, axis=1)), 1.0, atol=1e-9)


def test_relative_absolute_round_trip_and_frame() -> None:
    rng = np.random.default_rng(1)
    tcp = np.concatenate([rng.uniform(-0.5, 0.5, 3), _random_quats(rng, 1)[0]])
    poses = np.concatenate([rng.uniform(-0.5, 0.5, (16, 3)), _random_quats(rng, 16)], axis=1)
    absolute = pose_to_action(poses, rng.uniform(0, 0.08, 16))
    rel = absolute_to_relative(absolute, tcp)
    assert np.allclose(relative_to_absolute(rel, tcp), absolute, atol=1e-9)
    # the positions-only form (the monitor's chunk positions) is the same positions, batched or not
    chunks = rel.reshape(4, 4, 10)
    assert np.allclose(relative_positions_to_absolute(chunks, tcp), absolute[:, :3].reshape(4, 4, 3), atol=1e-9)
    assert np.allclose(relative_positions_to_absolute(rel[0], tcp), absolute[0, :3], atol=1e-9)
    # the TCP itself is the origin with identity rotation in its own frame
    at_tcp = absolute_to_relative(pose_to_action(tcp, np.array(0.04)), tcp)
    assert np.allclose(at_tcp[:9], [0, 0, 0, 1, 0, 0, 0, 1, 0], atol=1e-9)
    # relative offsets are expressed in the TCP frame: a base-frame offset d becomes R^T d
    d = np.array([0.1, -0.02, 0.05])
    moved = pose_to_action(np.concatenate([tcp[:3] + d, tcp[3:]]), np.array(0.0))
    assert np.allclose(absolute_to_relative(moved, tcp)[:3], quat_to_matrix(tcp[3:]).T @ d, atol=1e-9)
    pose_back, width = action_to_pose(absolute)
    assert np.allclose(np.abs(np.sum(pose_back[:, 3:] * poses[:, 3:], axis=1)), 1.0, atol=1e-9)
    assert np.allclose(width, absolute[:, 9])


def test_the_fast_heads_scalar_conversion_equals_the_vectorized_one() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        q = rng.normal(size=4)
        tcp = np.concatenate([rng.uniform(-1, 1, 3), q / np.linalg.norm(q)])
        action = np.concatenate([rng.normal(0, 0.05, 3), rng.normal(size=6), [rng.uniform(0, 0.08)]])
        pose, width = action_to_pose(relative_to_absolute(action, tcp))
        fast = relative_action_to_target(action, tcp)
        np.testing.assert_allclose(fast, np.concatenate([pose, [width]]), atol=1e-12)
