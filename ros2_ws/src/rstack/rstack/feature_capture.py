"""Capture the policy's monitor features (embedding + sampled chunks per planner step) during an episode.

Used by `rstack eval` on its supervisor node: the two topics are paired by their planner step, and each
step is stamped with the sim's episode time at arrival (what a live monitor would have had then).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from policy_runtime.fiper.messages import MessageFormatError, decode_chunks, decode_embedding
from rstack import graph
from rstack.ros_types import topic_class, topic_qos


class FeatureCapture:
    """Subscribes on `node`; `start()` clears and arms, `stop()` returns (embedding, chunks, t_s) arrays."""

    def __init__(self, node: Any, episode_time: Callable[[], float | None]) -> None:
        self._episode_time = episode_time
        self._lock = threading.Lock()
        self._active = False
        self._emb: dict[int, tuple[np.ndarray, float]] = {}
        self._chunks: dict[int, np.ndarray] = {}
        self.malformed = 0
        self.last_status: dict[str, Any] = {}  # the policy's latest /policy/status (JSON)
        self.alarm_t: float | None = None  # episode time of the first live /fiper/alarm while armed
        node.create_subscription(
            topic_class(graph.FIPER_ALARM), graph.FIPER_ALARM.name, self._on_alarm, topic_qos(graph.FIPER_ALARM)
        )
        node.create_subscription(
            topic_class(graph.POLICY_STATUS), graph.POLICY_STATUS.name, self._on_status, topic_qos(graph.POLICY_STATUS)
        )
        for topic, cb in ((graph.POLICY_EMBEDDING, self._on_embedding), (graph.POLICY_SAMPLED_CHUNKS, self._on_chunks)):
            node.create_subscription(topic_class(topic), topic.name, cb, topic_qos(topic))

    def _on_status(self, msg: Any) -> None:
        try:
            self.last_status = json.loads(msg.data)
        except ValueError:
            self.malformed += 1

    def _on_alarm(self, msg: Any) -> None:
        t = self._episode_time()
        with self._lock:
            if self._active and bool(msg.data) and self.alarm_t is None and t is not None:
                self.alarm_t = float(t)

    def _decode(self, decoder: Callable[..., tuple[int, np.ndarray]], msg: Any) -> tuple[int, np.ndarray] | None:
        try:
            return decoder(msg.layout.dim, msg.data, msg.layout.data_offset)
        except (MessageFormatError, ValueError):
            self.malformed += 1
            return None

    def _on_embedding(self, msg: Any) -> None:
        got = self._decode(decode_embedding, msg)
        t = self._episode_time()
        with self._lock:
            if self._active and got is not None and t is not None:
                self._emb[got[0]] = (got[1].copy(), float(t))

    def _on_chunks(self, msg: Any) -> None:
        got = self._decode(decode_chunks, msg)
        with self._lock:
            if self._active and got is not None:
                self._chunks[got[0]] = got[1].copy()

    def start(self) -> None:
        with self._lock:
            self._emb.clear()
            self._chunks.clear()
            self.alarm_t = None
            self._active = True

    def stop(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Disarm; the complete planner steps in order: embedding [T, D], chunks [T, B, H, 3], t_s [T]."""
        with self._lock:
            self._active = False
            steps = sorted(set(self._emb) & set(self._chunks))
            shapes = {self._chunks[k].shape for k in steps}
            if len(shapes) > 1:  # B or H changed mid-episode: keep the most common shape
                common = max(shapes, key=lambda s: sum(self._chunks[k].shape == s for k in steps))
                steps = [k for k in steps if self._chunks[k].shape == common]
            if not steps:
                return np.zeros((0, 0), np.float32), np.zeros((0, 0, 0, 3), np.float32), np.zeros(0)
            emb = np.stack([self._emb[k][0] for k in steps]).astype(np.float32)
            chunks = np.stack([self._chunks[k] for k in steps]).astype(np.float32)
            t_s = np.array([self._emb[k][1] for k in steps], np.float64)
            return emb, chunks, t_s
