"""A synthetic reaching dataset written in the real zarr layout (for tests, benchmarks and smoke runs).

Each episode: a target on the table at a random xy; a scripted expert moves the TCP along a smooth
minimum-jerk path from a random start to above the target, descends until contact, and closes the
gripper. Cameras see the target as a bright disc whose pixel position encodes its xy (a second
camera sees it mirrored); touch features rise smoothly with contact depth. Not a simulator: it only
gives the networks learnable structure with the same arrays a recording has.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from policy_runtime.models.action_space import matrix_to_quat, matrix_to_rot6d


def _min_jerk(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)
    return 10 * s**3 - 15 * s**4 + 6 * s**5


def _disc(h: int, w: int, cx: float, cy: float, r: float, color: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w, 3), 40, dtype=np.uint8)
    img[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = color
    return img


def write_synthetic_dataset(
    path: str | Path,
    episodes: int = 8,
    steps: int = 96,
    touch_dim: int = 6,
    cameras: tuple[str, ...] = ("external", "wrist"),
    image_hw: tuple[int, int] = (48, 64),
    seed: int = 0,
) -> Path:
    """Write ``episodes`` episodes of ``steps`` frames; returns the path."""
    rng = np.random.default_rng(seed)
    h, w = image_hw
    rot = np.diag([1.0, -1.0, -1.0])  # gripper pointing down
    quat = matrix_to_quat(rot)
    poses, widths, actions, touches = [], [], [], []
    imgs: dict[str, list[np.ndarray]] = {c: [] for c in cameras}
    ends = []
    mix = np.random.default_rng(1234).standard_normal((3, touch_dim)).astype(np.float32)  # same sensor in every dataset
    for _ in range(episodes):
        target = np.array([rng.uniform(0.35, 0.65), rng.uniform(-0.2, 0.2), 0.02])
        start = np.array([rng.uniform(0.35, 0.65), rng.uniform(-0.2, 0.2), rng.uniform(0.25, 0.35)])
        s = np.arange(steps + 1) / steps
        above = target + np.array([0.0, 0.0, 0.08])
        reach = _min_jerk(s / 0.6)[:, None]
        descend = _min_jerk((s - 0.6) / 0.3)[:, None]
        traj = start + reach * (above - start) + descend * (target - above)
        grip = 0.08 - 0.06 * _min_jerk((s - 0.85) / 0.15)
        lag = np.concatenate([traj[:1], traj[:-1]])  # measured TCP lags the commanded target by one tick
        depth = np.clip(0.03 - lag[:, 2], 0.0, None) / 0.03
        feats = np.stack([depth, depth**2, np.sin(3 * depth)], axis=-1) @ mix
        feats += 0.01 * rng.standard_normal(feats.shape)
        for t in range(steps):
            poses.append(np.concatenate([lag[t], quat]))
            widths.append(grip[max(t - 1, 0)])
            actions.append(np.concatenate([traj[t + 1], matrix_to_rot6d(rot), [grip[t + 1]]]))
            touches.append(feats[t])
            px = (target[1] + 0.25) / 0.5 * (w - 1)
            py = (target[0] - 0.3) / 0.4 * (h - 1)
            tcp_px, tcp_py = (lag[t, 1] + 0.25) / 0.5 * (w - 1), (lag[t, 0] - 0.3) / 0.4 * (h - 1)
            for k, cam in enumerate(cameras):
                fx = px if k % 2 == 0 else w - 1 - px
                img = _disc(h, w, fx, py, 4, np.array([230, 60, 60], np.uint8))
                tx = tcp_px if k % 2 == 0 else w - 1 - tcp_px
                yy, xx = np.mgrid[0:h, 0:w]
                img[(xx - tx) ** 2 + (yy - tcp_py) ** 2 <= 4] = (60, 200, 60)
                imgs[cam].append(img)
        ends.append(len(poses))
    root = zarr.open_group(str(path), mode="w")
    root.create_array("meta/episode_ends", data=np.asarray(ends, dtype=np.int64))
    root.create_array("data/tcp_pose", data=np.asarray(poses, dtype=np.float64))
    root.create_array("data/gripper_width", data=np.asarray(widths, dtype=np.float64))
    root.create_array("data/action", data=np.asarray(actions, dtype=np.float64))
    root.create_array("data/touch", data=np.asarray(touches, dtype=np.float32))
    for cam in cameras:
        root.create_array(f"data/img_{cam}", data=np.asarray(imgs[cam], dtype=np.uint8), chunks=(64, h, w, 3))
    return Path(path)
