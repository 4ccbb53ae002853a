"""The failure monitor's inputs computed from recorded demonstrations, with the bundle's own ONNX graphs.

- `demo_embeddings`: the observation embeddings of the training demos, what the RND predictor learns as
  in-distribution.
- `demo_rollouts`: offline shadow rollouts. The policy's planner is run on held-out successful demos at its
  planner rate, exactly as the node would run beside them (embedding + B sampled chunks decoded to base-frame
  end-effector positions), without moving anything. They calibrate a monitor when the policy itself does not
  succeed often enough yet to give M successful rollouts of its own (FIPER's intended input). Keep the
  episodes used here out of the RND training set, so their scores are those of unseen successes.

Frames are resized exactly as in training, so the monitor sees the same function of the observation as the
running policy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from policy_runtime.engine.policy_engine import PolicyEngine, planner_step
from policy_runtime.fiper.rollouts import CalibrationRollout
from policy_runtime.models.action_space import relative_positions_to_absolute
from policy_runtime.training.dataset import EpisodeData, load_dataset, open_zarr


def _load(policy_dir: str | Path, dataset: str | Path) -> tuple[PolicyEngine, EpisodeData]:
    engine = PolicyEngine(str(policy_dir))
    s = engine.bundle.shapes
    data = load_dataset(
        dataset, engine.cameras, tuple(s["image_size"]), "touch", s["horizon"], s["obs_steps"], s["obs_stride"]
    )
    if data.touch.shape[1] != s["touch_dim"]:
        raise ValueError(f"dataset {dataset}: touch has {data.touch.shape[1]} features, the policy {s['touch_dim']}")
    return engine, data


def demo_embeddings(
    policy_dir: str | Path,
    dataset: str | Path,
    stride: int = 2,
    batch: int = 256,
    progress: bool = True,
    exclude_episodes: tuple[int, ...] = (),
) -> np.ndarray:
    """Embeddings [N, E] of every `stride`-th frame of the dataset (without the `exclude_episodes`)."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    engine, data = _load(policy_dir, dataset)
    keep = np.ones(len(data), bool)
    starts = np.concatenate([[0], data.episode_ends[:-1]])
    for e in exclude_episodes:
        keep[starts[e] : data.episode_ends[e]] = False
    frames = np.flatnonzero(keep)[::stride]
    out = []
    for i in tqdm(range(0, len(frames), batch), desc="demo embeddings", unit="batch", disable=not progress):
        oi = data.obs_index[frames[i : i + batch]]
        images = {c: data.images[c][oi] for c in engine.cameras}
        out.append(engine.encode_obs(images, data.proprio[oi], data.touch[oi]))
    return np.concatenate(out).astype(np.float32)


def demo_rollouts(
    policy_dir: str | Path,
    dataset: str | Path,
    episodes: tuple[int, ...],
    planner_stride: int,
    num_samples: int,
    seed: int = 0,
    progress: bool = True,
) -> list[CalibrationRollout]:
    """The policy's monitor features along each of `episodes` of the dataset, one planner step every
    `planner_stride` frames: embedding [T, E] and sampled end-effector chunks [T, B, H, 3]."""
    if planner_stride < 1 or num_samples < 2:
        raise ValueError(f"need planner_stride >= 1 and num_samples >= 2, got {planner_stride}, {num_samples}")
    engine, data = _load(policy_dir, dataset)
    pose = np.asarray(open_zarr(dataset)["data/tcp_pose"], dtype=np.float64)
    starts = np.concatenate([[0], data.episode_ends[:-1]])
    n_ep = len(data.episode_ends)
    rng = np.random.default_rng(seed)
    out = []
    for e in tqdm(episodes, desc="shadow rollouts", unit="episode", disable=not progress):
        if not 0 <= e < n_ep:
            raise ValueError(f"dataset {dataset} has episodes 0..{n_ep - 1}, asked for {e}")
        embs, chunks = [], []
        for t in range(int(starts[e]), int(data.episode_ends[e]), planner_stride):
            oi = data.obs_index[t]
            res = planner_step(
                engine, {c: data.images[c][oi] for c in engine.cameras}, data.proprio[oi], data.touch[oi], rng,
                num_samples=num_samples,
            )  # fmt: skip
            embs.append(res.obs_emb)
            chunks.append(relative_positions_to_absolute(res.sampled_actions, pose[oi[-1]]))
        out.append(
            CalibrationRollout(f"demo_episode_{e:03d}", np.asarray(embs, np.float32), np.asarray(chunks, np.float32))
        )
    return out
