"""Wire format of the policy's monitor features (std_msgs/Float32MultiArray), ROS-free.

Float32MultiArray has no header, so each message carries its planner step index in the label of a
leading size-1 dimension, `planner_step=<k>` (k: an integer counting the policy's planner steps). The
shape a generic reader (Foxglove, a plotter) sees stays correct, and the data has no padding
(`data_offset` is always 0). Layout strides follow the ROS convention: stride[i] = prod(size[i:]).

- /policy/embedding:      dims [planner_step=k (1), embedding (D)]                     -> [1, D]
- /policy/sampled_chunks: dims [planner_step=k (1), sample (B), horizon (H), xyz (3)] -> [1, B, H, 3]
- /fiper/scores:          dims [planner_step=k (1), rnd,rnd_threshold,ace,ace_threshold (4)] (windowed)

The monitor pairs the two messages with the same k. The policy node publishes with `encode_*` and the
monitor reads with `decode_*`; the functions take and return plain values (`LayoutDim` is duck-type
compatible with std_msgs/MultiArrayDimension: label, size, stride).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

STEP_PREFIX = "planner_step="
EMBEDDING_LABELS = ("embedding",)
CHUNK_LABELS = ("sample", "horizon", "xyz")


class DimLike(Protocol):
    label: str
    size: int
    stride: int


@dataclass(frozen=True)
class LayoutDim:
    label: str
    size: int
    stride: int


class MessageFormatError(ValueError):
    """A feature message does not follow the layout above."""


def _encode(step: int, array: np.ndarray, labels: Sequence[str]) -> tuple[list[LayoutDim], np.ndarray]:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"planner step must be a non-negative integer, got {step!r}")
    a = np.ascontiguousarray(array, dtype=np.float32)
    shape = (1, *a.shape)
    names = (f"{STEP_PREFIX}{int(step)}", *labels)
    strides = [math.prod(shape[i:]) for i in range(len(shape))]
    return [LayoutDim(n, int(s), st) for n, s, st in zip(names, shape, strides, strict=True)], a.ravel()


def _decode(
    dims: Sequence[Any],
    data: Sequence[float] | np.ndarray,
    data_offset: int,
    labels: Sequence[str],
    what: str,
) -> tuple[int, np.ndarray]:
    if data_offset != 0:
        raise MessageFormatError(f"{what}: data_offset must be 0, got {data_offset}")
    if len(dims) != len(labels) + 1:
        got = [d.label for d in dims]
        raise MessageFormatError(f"{what}: expected dims [{STEP_PREFIX}k, {', '.join(labels)}], got {got}")
    head = dims[0].label
    if not head.startswith(STEP_PREFIX) or not head[len(STEP_PREFIX) :].isdigit() or dims[0].size != 1:
        raise MessageFormatError(f"{what}: first dim must be '{STEP_PREFIX}<k>' of size 1, got {head!r}")
    got_labels = tuple(d.label for d in dims[1:])
    if got_labels != tuple(labels):
        raise MessageFormatError(f"{what}: dim labels {got_labels} != expected {tuple(labels)}")
    shape = tuple(int(d.size) for d in dims[1:])
    full = (1, *shape)
    for i, d in enumerate(dims):
        want = int(np.prod(full[i:]))
        if int(d.stride) != want:
            raise MessageFormatError(f"{what}: dim {d.label!r} has stride {d.stride}, expected {want}")
    arr = np.asarray(data, dtype=np.float32)
    if arr.size != int(np.prod(shape)):
        raise MessageFormatError(f"{what}: layout {shape} needs {int(np.prod(shape))} values, got {arr.size}")
    return int(head[len(STEP_PREFIX) :]), arr.reshape(shape)


def encode_embedding(step: int, embedding: np.ndarray) -> tuple[list[LayoutDim], np.ndarray]:
    """Layout dims and flat float32 data of one observation embedding [D]."""
    e = np.asarray(embedding)
    if e.ndim != 1 or e.size == 0:
        raise ValueError(f"embedding must be a non-empty 1-D vector [D], got shape {e.shape}")
    return _encode(step, e, EMBEDDING_LABELS)


def decode_embedding(
    dims: Sequence[Any], data: Sequence[float] | np.ndarray, data_offset: int = 0
) -> tuple[int, np.ndarray]:
    """(planner step, embedding [D]) from a /policy/embedding message's layout and data."""
    return _decode(dims, data, data_offset, EMBEDDING_LABELS, "/policy/embedding")


def encode_chunks(step: int, chunks: np.ndarray) -> tuple[list[LayoutDim], np.ndarray]:
    """Layout dims and flat float32 data of B sampled end-effector chunks [B, H, 3]."""
    c = np.asarray(chunks)
    if c.ndim != 3 or c.shape[2] != 3 or 0 in c.shape:
        raise ValueError(f"sampled chunks must be [B, H, 3] end-effector xyz, got shape {c.shape}")
    return _encode(step, c, CHUNK_LABELS)


def decode_chunks(
    dims: Sequence[Any], data: Sequence[float] | np.ndarray, data_offset: int = 0
) -> tuple[int, np.ndarray]:
    """(planner step, chunks [B, H, 3]) from a /policy/sampled_chunks message's layout and data."""
    return _decode(dims, data, data_offset, CHUNK_LABELS, "/policy/sampled_chunks")


SCORE_LABELS = ("rnd,rnd_threshold,ace,ace_threshold",)


def encode_scores(
    step: int, rnd_window: float, rnd_threshold: float, ace_window: float, ace_threshold: float
) -> tuple[list[LayoutDim], np.ndarray]:
    """/fiper/scores: dims [planner_step=k (1), rnd,rnd_threshold,ace,ace_threshold (4)] -> [1, 4]."""
    return _encode(step, np.array([rnd_window, rnd_threshold, ace_window, ace_threshold]), SCORE_LABELS)


def decode_scores(
    dims: Sequence[Any], data: Sequence[float] | np.ndarray, data_offset: int = 0
) -> tuple[int, np.ndarray]:
    """(planner step, [rnd_window, rnd_threshold, ace_window, ace_threshold]) from /fiper/scores."""
    step, arr = _decode(dims, data, data_offset, SCORE_LABELS, "/fiper/scores")
    if arr.shape != (4,):
        raise MessageFormatError(f"/fiper/scores: expected 4 values, got {arr.shape}")
    return step, arr
