"""Episode dataset in the zarr layout of the diffusion-policy family, held in memory.

Layout (one zarr group, directory store or ``.zarr.zip``):
- ``meta/episode_ends`` [E] int: exclusive end index of each episode in the concatenated time axis;
- ``data/tcp_pose`` [T, 7]: measured TCP pose, xyz (m) + quaternion x, y, z, w (base frame);
- ``data/gripper_width`` [T] or [T, 1]: measured gripper width (m);
- ``data/action`` [T, 10] absolute target, xyz + rot6d + gripper width, or [T, 8] xyz + quaternion
  xyzw + gripper width (converted to rot6d);
- ``data/<touch_key>`` [T, d_touch]: touch features (PCA of marker flow, or the 6-D TCP wrench);
- ``data/img_<camera>`` [T, H, W, 3] uint8 RGB, resized here once to the configured size.

A sample at frame t: observation frames ``t - stride*(To-1) .. t`` (clamped to the episode start),
action chunk ``t .. t+H-1`` (the last target repeated past the episode end) expressed relative to the
TCP measured at t (see `policy_runtime.models.action_space`), and the touch features of the same
H frames (what the fast head would have read at each tick).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import zarr
from tqdm import tqdm

from policy_runtime.models.action_space import A_DIM, absolute_to_relative, pose_to_action


def resize_image(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 ``[h, w, 3]`` -> ``[H, W, 3]`` (cv2 INTER_AREA). The runtime must resize the same way."""
    h, w = size
    if img.shape[:2] == (h, w):
        return img
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


@dataclass
class EpisodeData:
    """The whole dataset in memory plus precomputed per-sample indices and TCP-relative chunks."""

    path: str
    episode_ends: np.ndarray
    images: dict[str, np.ndarray]  # camera -> [T, H, W, 3] uint8
    proprio: np.ndarray  # [T, 4] TCP xyz + gripper width
    touch: np.ndarray  # [T, d]
    obs_index: np.ndarray  # [N, To] frame indices of each sample's observation
    action_chunks: np.ndarray  # [N, H, 10] TCP-relative
    touch_chunks: np.ndarray  # [N, H, d]

    @property
    def cameras(self) -> list[str]:
        return list(self.images)

    def __len__(self) -> int:
        return len(self.obs_index)


def _read(root: zarr.Group, key: str, path: str) -> np.ndarray:
    try:
        return np.asarray(root[key][:])
    except KeyError:
        raise KeyError(f"dataset {path}: missing array {key!r}") from None


def open_zarr(path: str | Path) -> zarr.Group:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"dataset {p} does not exist")
    store = zarr.storage.ZipStore(str(p), mode="r") if p.suffix == ".zip" else str(p)
    try:
        return zarr.open_group(store, mode="r")
    except Exception as e:
        raise ValueError(f"dataset {p} is not a readable zarr group: {e}") from e


def load_dataset(
    path: str | Path,
    cameras: list[str] | None,
    image_size: tuple[int, int],
    touch_key: str,
    horizon: int,
    obs_steps: int,
    obs_stride: int,
) -> EpisodeData:
    """Read and validate the zarr dataset; resize images; build TCP-relative action chunks."""
    path = str(path)
    root = open_zarr(path)
    ends = _read(root, "meta/episode_ends", path).astype(np.int64).reshape(-1)
    pose = _read(root, "data/tcp_pose", path).astype(np.float64)
    width = _read(root, "data/gripper_width", path).astype(np.float64).reshape(len(pose), -1)[:, 0]
    action = _read(root, "data/action", path).astype(np.float64)
    touch = _read(root, f"data/{touch_key}", path).astype(np.float32)
    total = len(pose)
    if len(ends) == 0 or np.any(np.diff(ends) <= 0) or ends[0] <= 0 or ends[-1] != total:
        raise ValueError(f"dataset {path}: meta/episode_ends must be increasing and end at {total}, got {ends}")
    if pose.shape[1:] != (7,):
        raise ValueError(f"dataset {path}: data/tcp_pose must be [T, 7] (xyz + quat xyzw), got {pose.shape}")
    if action.shape[1:] == (8,):
        action = pose_to_action(action[:, :7], action[:, 7])
    if action.shape[1:] != (A_DIM,):
        raise ValueError(f"dataset {path}: data/action must be [T, 10] or [T, 8], got {action.shape}")
    if touch.ndim != 2:
        raise ValueError(f"dataset {path}: data/{touch_key} must be [T, d], got {touch.shape}")
    for name, arr in (("action", action), ("gripper_width", width), (touch_key, touch)):
        if len(arr) != total:
            raise ValueError(f"dataset {path}: data/{name} has {len(arr)} frames, data/tcp_pose has {total}")
    available = sorted(k[4:] for k in root["data"].array_keys() if k.startswith("img_"))
    cameras = list(cameras) if cameras is not None else available
    if not cameras:
        raise ValueError(f"dataset {path}: no data/img_<camera> arrays")
    images = {}
    for cam in cameras:
        arr = root[f"data/img_{cam}"] if cam in available else None
        if arr is None:
            raise KeyError(f"dataset {path}: missing array 'data/img_{cam}' (has {available})")
        if arr.shape[0] != total or arr.ndim != 4 or arr.shape[3] != 3 or arr.dtype != np.uint8:
            raise ValueError(
                f"dataset {path}: data/img_{cam} must be uint8 [{total}, H, W, 3], got {arr.dtype} {arr.shape}"
            )
        out = np.empty((total, *image_size, 3), dtype=np.uint8)
        for start in tqdm(range(0, total, 512), desc=f"load img_{cam}", leave=False):
            block = np.asarray(arr[start : start + 512])
            for i, img in enumerate(block):
                out[start + i] = resize_image(img, image_size)
        images[cam] = out

    obs_index, chunks, touch_chunks = [], [], []
    starts = np.concatenate([[0], ends[:-1]])
    abs_action = action
    for s, e in zip(starts, ends, strict=True):
        for t in range(s, e):
            obs_index.append([max(s, t - obs_stride * k) for k in range(obs_steps - 1, -1, -1)])
            idx = np.minimum(np.arange(t, t + horizon), e - 1)
            chunks.append(absolute_to_relative(abs_action[idx], pose[t]))
            touch_chunks.append(touch[idx])
    proprio = np.concatenate([pose[:, :3], width[:, None]], axis=-1).astype(np.float32)
    return EpisodeData(
        path=path,
        episode_ends=ends,
        images=images,
        proprio=proprio,
        touch=touch,
        obs_index=np.asarray(obs_index, dtype=np.int64),
        action_chunks=np.asarray(chunks, dtype=np.float32),
        touch_chunks=np.asarray(touch_chunks, dtype=np.float32),
    )
