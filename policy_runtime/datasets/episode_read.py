"""Reading recorded episodes back with the mcap reader (ROS-free).

`read_stamps` is the cheap pass (no deserialization): per topic, each message's stamp, taken from
its header when the type has one (`hardware.wire.stamped.header_stamp_ns`), else the capture stamp a *MultiArray carries
in its first layout label (`cdr.layout_stamp_ns`), else the MCAP publish time (the publisher's send
time, from the middleware); plus the receive (log) time.
`iter_decoded` is the full pass (mcap-ros2-support's decoder). Both read in log-time order, so the
n-th message of a topic is the same message in both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory

from hardware.wire.stamped import header_stamp_ns
from policy_runtime.datasets.cdr import layout_stamp_ns
from policy_runtime.datasets.msgdefs import has_header


@dataclass
class TopicStamps:
    """One topic's messages in read order: stamp (s), receive time (s), and where the stamp came from."""

    topic: str
    msg_type: str
    stamp_s: np.ndarray
    log_s: np.ndarray
    stamped_by: str  # "header" | "layout" (capture stamp in a MultiArray label) | "publish_time"

    def __len__(self) -> int:
        return len(self.stamp_s)


def read_metadata(path: Path) -> dict[str, dict[str, str]]:
    """Every MCAP metadata record of an episode, by name."""
    with open(path, "rb") as f:
        return {m.name: dict(m.metadata) for m in make_reader(f).iter_metadata()}


def episode_summary(path: Path) -> dict[str, Any]:
    """The closing `episode` metadata (counts/drops parsed), or the start record of an unfinished file."""
    meta = read_metadata(path)
    ep = dict(meta.get("episode") or meta.get("episode_start") or {})
    for key in ("counts", "drops"):
        if key in ep:
            ep[key] = json.loads(ep[key])
    return ep


def read_stamps(path: Path, topics: Iterable[str] | None = None) -> dict[str, TopicStamps]:
    """Per-topic stamps of an episode without deserializing any message."""
    stamps: dict[str, list[int]] = {}
    logs: dict[str, list[int]] = {}
    kinds: dict[str, tuple[str, bool]] = {}
    by_layout: set[str] = set()
    with open(path, "rb") as f:
        reader = make_reader(f)
        for schema, channel, msg in reader.iter_messages(topics=_topic_list(topics), log_time_order=True):
            topic = channel.topic
            if topic not in kinds:
                text = schema.data.decode() if schema is not None else ""
                kinds[topic] = (schema.name if schema is not None else "", has_header(text))
                stamps[topic], logs[topic] = [], []
            stamp = header_stamp_ns(msg.data) if kinds[topic][1] else None
            if stamp is None and kinds[topic][0].endswith("MultiArray"):
                stamp = layout_stamp_ns(msg.data)
                if stamp is not None:
                    by_layout.add(topic)
            stamps[topic].append(stamp if stamp is not None else msg.publish_time)
            logs[topic].append(msg.log_time)
    return {
        t: TopicStamps(
            t,
            kinds[t][0],
            np.asarray(stamps[t], dtype=np.int64) / 1e9,
            np.asarray(logs[t], dtype=np.int64) / 1e9,
            "header" if kinds[t][1] else "layout" if t in by_layout else "publish_time",
        )
        for t in stamps
    }


def iter_decoded(path: Path, topics: Iterable[str]) -> Iterator[tuple[str, int, Any]]:
    """(topic, n-th message of that topic, decoded message) in log-time order."""
    seen: dict[str, int] = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _, channel, _, decoded in reader.iter_decoded_messages(topics=_topic_list(topics), log_time_order=True):
            n = seen.get(channel.topic, 0)
            seen[channel.topic] = n + 1
            yield channel.topic, n, decoded


def _topic_list(topics: Iterable[str] | None) -> list[str] | None:
    return None if topics is None else list(topics)
