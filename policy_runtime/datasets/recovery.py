"""Turn a take left behind by a crash into a complete, readable MCAP marked incomplete (ROS-free).

The partial file is read sequentially with mcap's `StreamReader` (chunk CRCs checked) up to the last
record that is whole; everything read so far is copied, record by record, into a new MCAP written
like any episode (temp name, fsync, rename), with a final `episode` metadata record saying
`status=incomplete`. The raw partial is then moved aside (kept, never deleted).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcap.records import Channel, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer

from policy_runtime.datasets.episode_writer import LIBRARY, WriteThroughFile, fsync_dir


@dataclass
class Recovered:
    """What a recovery copied: per-topic counts, metadata records seen, why reading stopped."""

    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    first_log_ns: int | None = None
    last_log_ns: int | None = None
    stopped_at: str = ""


def recover_partial(partial: Path, out: Path, final_metadata: Callable[[Recovered], dict[str, str]]) -> Recovered:
    """Copy every whole record of `partial` into a finalized MCAP at `out`.

    `final_metadata(recovered)` gives the closing `episode` metadata record (it sees the counts).
    """
    partial, out = Path(partial), Path(out)
    if out.exists():
        raise FileExistsError(f"refusing to overwrite {out} while recovering {partial}")
    tmp = out.with_name(out.name + ".tmp")
    tmp.unlink(missing_ok=True)  # a previous recovery attempt that died half way
    res = Recovered(out)
    sink = WriteThroughFile(tmp, fsync_period_s=-1)
    try:
        writer = Writer(sink, chunk_size=1024 * 1024, compression=CompressionType.ZSTD)
        writer.start(profile="ros2", library=LIBRARY + " (recovered)")
        schema_ids: dict[int, int] = {}
        channels: dict[int, tuple[int, str]] = {}
        with open(partial, "rb") as f:
            try:
                for rec in StreamReader(f, validate_crcs=True).records:
                    if isinstance(rec, Schema):
                        schema_ids[rec.id] = writer.register_schema(rec.name, rec.encoding, rec.data)
                    elif isinstance(rec, Channel):
                        cid = writer.register_channel(
                            rec.topic, rec.message_encoding, schema_ids.get(rec.schema_id, 0), rec.metadata
                        )
                        channels[rec.id] = (cid, rec.topic)
                    elif isinstance(rec, Message) and rec.channel_id in channels:
                        cid, topic = channels[rec.channel_id]
                        writer.add_message(cid, rec.log_time, rec.data, rec.publish_time, rec.sequence)
                        res.counts[topic] = res.counts.get(topic, 0) + 1
                        if res.first_log_ns is None:
                            res.first_log_ns = rec.log_time
                        res.last_log_ns = rec.log_time
                    elif isinstance(rec, Metadata):
                        writer.add_metadata(rec.name, rec.metadata)
                        res.metadata[rec.name] = dict(rec.metadata)
                res.stopped_at = "end of file"
            except Exception as exc:  # a torn or corrupt tail: keep what was whole before it
                res.stopped_at = f"{type(exc).__name__}: {exc}"
        closing = final_metadata(res)
        writer.add_metadata("episode", closing)
        res.metadata["episode"] = dict(closing)
        writer.finish()
        sink.fsync()
    finally:
        sink.close()
    os.link(tmp, out)
    os.unlink(tmp)
    fsync_dir(out.parent)
    return res
