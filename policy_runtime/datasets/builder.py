"""`rstack dataset build`: recorded MCAP episodes -> one zarr training dataset (ROS-free).

Dataset layout (zarr format 2, the ReplayBuffer layout of diffusion-policy-family code):

    data/action           [T, 8]        float32  commanded target TCP pose xyz + quaternion xyzw,
                                                 then commanded gripper width (m)
    data/tcp_pose         [T, 7]        float32  measured TCP pose xyz + quaternion xyzw (base frame)
    data/gripper_width    [T, 1]        float32  measured gripper width (m)
    data/wrench           [T, 6]        float32  external wrench at the TCP: force xyz, torque xyz
    data/touch            [T, d]        float32  tactile embeddings of every sensor, sorted by name, concatenated
    data/img_<camera>     [T, H, W, 3]  uint8    RGB, one array per camera
    data/timestamp        [T]           float64  grid time (s, the sensors' clock)
    meta/episode_ends     [E]           int64    exclusive end index of each episode in T
    attrs: format, episodes (source ids, in order), rate_hz, max_skew_s, max_age_s, sync_rule,
           action_layout, sources (topic of each array), sync_report (per episode, also excluded ones)

Rows are a fixed-rate grid (`rate_hz`) over each episode, resampled by **header stamps** (never
receive or log times) with the rule of `episode_sync` (sensors latest-before with max skew and max
age; commands zero-order held). Tactile messages have no header and carry their capture stamp in
the layout (`hardware.tactile.layout`); the gripper command uses the publisher's send time. An
episode with any tick breaking the rule, or missing a stream, is flagged, reported, and left out
unless `keep_flagged`. Gripper width of the action: the newest
gripper command; before the first command, the measured width.

The dataset is written to `<out>.partial` and renamed to `<out>` once complete; an existing `<out>`
is never overwritten unless `overwrite` is given.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numcodecs
import numpy as np
import zarr
from tqdm import tqdm

from policy_runtime.datasets.episode_read import episode_summary, iter_decoded, read_stamps
from policy_runtime.datasets.episode_sync import EpisodeSync, sync_episode
from policy_runtime.datasets.index import load_index

FORMAT = "rstack-zarr/1"
ACTION_LAYOUT = ["x", "y", "z", "qx", "qy", "qz", "qw", "gripper_width"]


@dataclass(frozen=True)
class StreamMap:
    """Which topic feeds which array. Per-device topics are templates with `{name}` (from rstack.graph)."""

    camera: str
    tactile: str
    tcp_pose: str
    gripper_state: str
    wrench: str
    target_pose: str
    gripper_command: str

    def devices(self, template: str, topics: Iterable[str]) -> dict[str, str]:
        """{device name: topic} for the topics matching a `{name}` template."""
        rx = re.compile("^" + re.escape(template).replace(re.escape("{name}"), "([^/]+)") + "$")
        return {m.group(1): t for t in sorted(topics) if (m := rx.match(t))}


@dataclass
class EpisodePlan:
    """One source episode: its file, streams, sync result and whether it goes into the dataset."""

    id: str
    path: Path
    meta: dict[str, Any]
    sensors: dict[str, str]  # array key -> topic (touch may map to several: touch:<name>)
    sync: EpisodeSync | None = None
    included: bool = False
    flags: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        rep: dict[str, Any] = {"id": self.id, "file": self.path.name, "included": self.included}
        rep["flags"] = list(self.flags)
        rep["recorder_drops"] = self.meta.get("drops", {})
        if self.sync is not None:
            rep.update(self.sync.report())
            rep["flags"] = list(self.flags)
        return rep


@dataclass
class BuildResult:
    out: Path
    episodes: list[EpisodePlan]
    steps: int

    @property
    def included(self) -> list[EpisodePlan]:
        return [e for e in self.episodes if e.included]

    @property
    def flagged(self) -> list[EpisodePlan]:
        return [e for e in self.episodes if e.flags]


def jsonable(obj: Any) -> Any:
    """Plain JSON values (NaN/inf -> None, numpy scalars -> Python) for zarr attrs and reports."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer, np.floating)):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


class BuildError(ValueError):
    """The episodes cannot make a dataset; the message says which and why."""


def plan_episode(
    episode_id: str, path: Path, streams: StreamMap, rate_hz: float, max_skew_s: float, max_age_s: float | None
) -> EpisodePlan:
    """Read one episode's stamps (no image is decoded) and resample it."""
    stamps = read_stamps(path)
    topics = list(stamps)
    sensors = {f"img_{n}": t for n, t in streams.devices(streams.camera, topics).items()}
    sensors.update({f"touch:{n}": t for n, t in streams.devices(streams.tactile, topics).items()})
    for key in ("tcp_pose", "gripper_state", "wrench"):
        sensors[key] = getattr(streams, key)
    empty = np.zeros(0)

    def st(topic: str) -> np.ndarray:
        return stamps[topic].stamp_s if topic in stamps else empty

    plan = EpisodePlan(episode_id, path, episode_summary(path), sensors)
    plan.sync = sync_episode(
        {k: st(t) for k, t in sensors.items()},
        {"target_pose": st(streams.target_pose), "gripper_command": st(streams.gripper_command)},
        rate_hz,
        max_skew_s,
        max_age_s,
        required_commands=("target_pose",),
    )
    plan.flags = list(plan.sync.flags)
    return plan


def plan_episodes(
    episodes_dir: Path | Sequence[Path],
    streams: StreamMap,
    rate_hz: float,
    max_skew_s: float,
    max_age_s: float | None = None,
    outcomes: Iterable[str] = ("success",),
    progress: bool = True,
) -> list[EpisodePlan]:
    """Read every selected episode's stamps and resample it (no image is decoded here).

    Several recording directories (sessions) are read in order; their episodes are then named
    ``<directory name>/<episode id>`` so that ids stay unique.
    """
    dirs = [Path(episodes_dir)] if isinstance(episodes_dir, str | Path) else [Path(d) for d in episodes_dir]
    if len({d.resolve() for d in dirs}) != len(dirs) or len({d.name for d in dirs}) != len(dirs):
        raise BuildError(f"recording directories must be distinct and have distinct names: {[str(d) for d in dirs]}")
    sources: list[tuple[str, Path]] = []
    for d in dirs:
        index = load_index(d)
        entries = index.select(statuses=("complete",), outcomes=tuple(outcomes))
        if not entries:
            have = sorted({(e.get("status"), e.get("outcome")) for e in index.episodes.values()})
            raise BuildError(f"no complete episode with outcome in {list(outcomes)} in {d} (have: {have})")
        prefix = f"{d.name}/" if len(dirs) > 1 else ""
        sources += [(prefix + e["id"], d / e["file"]) for e in entries]
    plans = [
        plan_episode(eid, path, streams, rate_hz, max_skew_s, max_age_s)
        for eid, path in tqdm(sources, desc="sync", unit="episode", disable=not progress)
    ]
    # Every episode must have the same cameras and tactile sensors as the dataset.
    keys = set().union(*(set(p.sensors) for p in plans))
    for p in plans:
        missing = sorted(keys - set(p.sensors))
        if missing:
            p.flags.append(f"streams missing in this episode: {', '.join(missing)}")
    return plans


def _pose(msg: Any) -> list[float]:
    p, q = msg.pose.position, msg.pose.orientation
    return [p.x, p.y, p.z, q.x, q.y, q.z, q.w]


def _gripper_width(msg: Any) -> float:
    """JointState of the gripper: a 'width' joint if named, else the sum of two finger joints, else position[0]."""
    pos, names = list(msg.position), list(msg.name)
    if not pos:
        raise BuildError("gripper state message has no position")
    if "width" in names:
        return float(pos[names.index("width")])
    return float(pos[0] + pos[1]) if len(pos) == 2 else float(pos[0])


def _image(msg: Any, size: tuple[int, int] | None, where: str) -> np.ndarray:
    h, w, enc = msg.height, msg.width, msg.encoding
    buf = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(enc)
    if channels is None:
        raise BuildError(f"{where}: image encoding {enc!r} is not supported (rgb8, bgr8, rgba8, bgra8, mono8)")
    if buf.size < h * msg.step or msg.step < w * channels:
        raise BuildError(f"{where}: image of {buf.size} bytes does not fit {w}x{h} {enc} with step {msg.step}")
    img = buf[: h * msg.step].reshape(h, msg.step)[:, : w * channels].reshape(h, w, channels)
    if enc == "mono8":
        img = np.repeat(img, 3, axis=2)
    elif enc.startswith("bgr"):
        img = img[:, :, 2::-1]
    else:
        img = img[:, :, :3]
    if size is not None and (w, h) != size:
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img)


class _Arrays:
    """The dataset's arrays, created on first use with the shape of the first row."""

    def __init__(self, root: zarr.Group) -> None:
        self.data = root.require_group("data")
        self.arrays: dict[str, zarr.Array] = {}

    def ensure(self, key: str, row: np.ndarray, total: int) -> zarr.Array:
        arr = self.arrays.get(key)
        if arr is None:
            image = row.ndim == 3
            chunks = (1, *row.shape) if image else (max(1, 2**20 // max(1, row.nbytes)), *row.shape)
            comp = numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE if image else 1)
            arr = self.data.create_array(key, shape=(0, *row.shape), chunks=chunks, dtype=row.dtype, compressors=comp)
            self.arrays[key] = arr
        if arr.shape[1:] != row.shape:
            raise BuildError(f"data/{key}: row shape {row.shape} differs from earlier episodes' {arr.shape[1:]}")
        if arr.shape[0] < total:
            arr.resize((total, *arr.shape[1:]))
        return arr


def _write_episode(
    plan: EpisodePlan, streams: StreamMap, arrays: _Arrays, start: int, image_size: tuple[int, int] | None
) -> int:
    """Decode the picked messages of one episode and write its rows at [start, start + T)."""
    sync = plan.sync
    assert sync is not None
    n = sync.ticks.size
    end = start + n
    topic_keys: dict[str, list[str]] = {}
    for key, topic in plan.sensors.items():
        topic_keys.setdefault(topic, []).append(key)
    topic_keys.setdefault(streams.target_pose, []).append("target_pose")
    topic_keys.setdefault(streams.gripper_command, []).append("gripper_command")
    # which ticks use message i of each stream
    wanted: dict[str, dict[int, np.ndarray]] = {}
    for key, picks in sync.picks.items():
        order = np.argsort(picks, kind="stable")
        uniq, first = np.unique(picks[order], return_index=True)
        groups = np.split(order, first[1:])
        wanted[key] = {int(u): g for u, g in zip(uniq, groups, strict=True) if u >= 0}
    low: dict[str, np.ndarray] = {
        "tcp_pose": np.zeros((n, 7), np.float32),
        "gripper_width": np.zeros((n, 1), np.float32),
        "wrench": np.zeros((n, 6), np.float32),
        "target_pose": np.zeros((n, 7), np.float32),
        "gripper_command": np.full((n, 1), np.nan, np.float32),
    }
    touch_keys = sorted(k for k in plan.sensors if k.startswith("touch:"))
    touch_parts: dict[str, np.ndarray] = {}
    for topic, i, msg in iter_decoded(plan.path, topic_keys):
        for key in topic_keys[topic]:
            rows = wanted.get(key, {}).get(i)
            if rows is None:
                continue
            where = f"episode {plan.id} {topic} message {i}"
            if key.startswith("img_"):
                img = _image(msg, image_size, where)
                arr = arrays.ensure(key, img, end)
                for r in rows:
                    arr[start + int(r)] = img
            elif key.startswith("touch:"):
                vec = np.asarray(msg.data, dtype=np.float32)
                if key not in touch_parts:
                    touch_parts[key] = np.zeros((n, vec.size), np.float32)
                if vec.size != touch_parts[key].shape[1]:
                    raise BuildError(
                        f"{where}: embedding of {vec.size} values, earlier ones had {touch_parts[key].shape[1]}"
                    )
                touch_parts[key][rows] = vec
            elif key in ("tcp_pose", "target_pose"):
                low[key][rows] = _pose(msg)
            elif key == "gripper_state":
                low["gripper_width"][rows] = _gripper_width(msg)
            elif key == "wrench":
                f, t = msg.wrench.force, msg.wrench.torque
                low["wrench"][rows] = [f.x, f.y, f.z, t.x, t.y, t.z]
            elif key == "gripper_command":
                if len(msg.data) < 1:
                    raise BuildError(f"{where}: gripper command has no width")
                low["gripper_command"][rows] = msg.data[0]
    width_cmd = low["gripper_command"]
    action = np.concatenate(
        [low["target_pose"], np.where(np.isnan(width_cmd), low["gripper_width"], width_cmd)], axis=1
    )
    rows_out = {
        "action": action,
        "tcp_pose": low["tcp_pose"],
        "gripper_width": low["gripper_width"],
        "wrench": low["wrench"],
        "timestamp": sync.ticks.astype(np.float64),
    }
    if touch_keys:
        missing = [k for k in touch_keys if k not in touch_parts]
        if missing:
            raise BuildError(f"episode {plan.id}: no decodable message on {missing}")
        rows_out["touch"] = np.concatenate([touch_parts[k] for k in touch_keys], axis=1)
    for key, block in rows_out.items():
        arr = arrays.ensure(key, block[0], end)
        arr[start:end] = block
    return end


def build_dataset(
    episodes_dir: Path | Sequence[Path],
    out: Path,
    streams: StreamMap,
    rate_hz: float,
    max_skew_s: float,
    max_age_s: float | None = None,
    keep_flagged: bool = False,
    outcomes: Iterable[str] = ("success",),
    image_size: tuple[int, int] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> BuildResult:
    """Build the zarr dataset at `out` from the episodes in `episodes_dir` (one directory or several)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise BuildError(f"{out} exists; choose another --out or pass --overwrite")
    plans = plan_episodes(episodes_dir, streams, rate_hz, max_skew_s, max_age_s, outcomes, progress)
    for p in plans:
        p.included = (not p.flags or keep_flagged) and p.sync is not None and p.sync.ticks.size > 0
    chosen = [p for p in plans if p.included]
    if not chosen:
        detail = "; ".join(f"{p.id}: {' | '.join(p.flags)}" for p in plans)
        raise BuildError(f"every episode was flagged, nothing to build (use --keep-flagged to keep them): {detail}")
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    root = zarr.open_group(str(tmp), mode="w", zarr_format=2)
    arrays = _Arrays(root)
    ends = []
    total = 0
    for p in tqdm(chosen, desc="build", unit="episode", disable=not progress):
        total = _write_episode(p, streams, arrays, total, image_size)
        ends.append(total)
    meta = root.require_group("meta")
    meta.create_array("episode_ends", data=np.asarray(ends, dtype=np.int64), chunks=(max(1, len(ends)),))
    sources = {"action": f"{streams.target_pose} + {streams.gripper_command}", "tcp_pose": streams.tcp_pose}
    sources.update({"gripper_width": streams.gripper_state, "wrench": streams.wrench, "touch": streams.tactile})
    sources.update({k: v for p in chosen for k, v in p.sensors.items() if k.startswith("img_")})
    root.attrs.update(
        {
            "format": FORMAT,
            "episodes": [p.id for p in chosen],
            "rate_hz": rate_hz,
            "max_skew_s": max_skew_s,
            "max_age_s": max_skew_s if max_age_s is None else max_age_s,
            "sync_rule": "sensors latest-before header stamp with max skew and max age; commands zero-order hold",
            "action_layout": ACTION_LAYOUT,
            "sources": sources,
            "sync_report": jsonable([p.report() for p in plans]),
        }
    )
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return BuildResult(out, plans, total)
