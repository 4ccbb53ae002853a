"""One episode as one MCAP file with ROS 2 message encoding, written so that a crash loses at most a chunk.

- Channels carry `message_encoding="cdr"`, schemas `encoding="ros2msg"` with the full message
  definition (`msgdefs.schema_text`), so `ros2 bag`, Foxglove and any MCAP reader open the file. The
  CDR bytes handed to `write` are stored as they came from the middleware: nothing is deserialized.
- mcap's own `Writer` does the format, with small chunks; its output goes through `WriteThroughFile`,
  which hands every record to the OS at once (no user-space buffer a SIGKILL could lose) and
  fsyncs periodically (bounding what a power cut loses). A killed process therefore leaves a
  file readable up to its last complete chunk (`recovery.recover_partial` turns it into a full MCAP).
- The file is written under a temp name and finalized by `finalize`: summary, fsync, then a
  no-clobber rename (link + unlink) to the final name and an fsync of the directory.
  `discard` deletes the temp file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from mcap.writer import CompressionType, Writer

from policy_runtime.datasets import msgdefs

LIBRARY = "rstack-recorder/1"
COMPRESSION = {"none": CompressionType.NONE, "lz4": CompressionType.LZ4, "zstd": CompressionType.ZSTD}


def fsync_dir(path: Path) -> None:
    """Make a rename/creation/deletion inside `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriteThroughFile:
    """A new file (never an existing one) whose writes go straight to the OS; `good` = bytes fully written."""

    def __init__(self, path: Path, fsync_period_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.good = 0
        self._fsync_period_s = fsync_period_s
        self._clock = clock
        self._last_sync = clock()

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data)
        n = len(view)
        while view:
            view = view[os.write(self._fd, view) :]
        self.good += n
        if self._fsync_period_s >= 0 and self._clock() - self._last_sync >= self._fsync_period_s:
            self.fsync()
        return n

    def tell(self) -> int:
        return self.good

    def flush(self) -> None:
        """Nothing to flush: every write already reached the OS."""

    def fsync(self) -> None:
        os.fsync(self._fd)
        self._last_sync = self._clock()

    def truncate_to_good(self) -> None:
        """Cut a torn trailing record (after a failed write) so the file ends on a record boundary."""
        os.ftruncate(self._fd, self.good)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class EpisodeWriter:
    """Writes one episode: `add_channel`, `write` (raw CDR), then exactly one of `finalize` or `discard`."""

    def __init__(
        self,
        tmp_path: Path,
        final_path: Path,
        chunk_size: int = 64 * 1024,
        compression: str = "zstd",
        fsync_period_s: float = 1.0,
    ) -> None:
        if compression not in COMPRESSION:
            raise ValueError(f"unknown compression {compression!r} (known: {', '.join(COMPRESSION)})")
        if chunk_size < 1024:
            raise ValueError(f"chunk_size must be >= 1024 bytes, got {chunk_size}")
        self.tmp_path = Path(tmp_path)
        self.final_path = Path(final_path)
        if self.final_path.exists():
            raise FileExistsError(f"refusing to overwrite finished episode {self.final_path}")
        self.file = WriteThroughFile(self.tmp_path, fsync_period_s)
        fsync_dir(self.tmp_path.parent)
        self._writer = Writer(self.file, chunk_size=chunk_size, compression=COMPRESSION[compression])
        self._writer.start(profile="ros2", library=LIBRARY)
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self.messages = 0
        self.done = False

    # ------------------------------------------------------------------ content
    def add_channel(self, topic: str, msg_type: str, definition: str | None = None) -> int:
        """Register `topic` (once) with its ROS type; returns the channel id used by `write`."""
        if topic in self._channels:
            return self._channels[topic]
        if msg_type not in self._schemas:
            text = definition if definition is not None else msgdefs.schema_text(msg_type)
            self._schemas[msg_type] = self._writer.register_schema(msg_type, "ros2msg", text.encode())
        cid = self._writer.register_channel(topic, "cdr", self._schemas[msg_type])
        self._channels[topic] = cid
        return cid

    def write(self, channel_id: int, data: bytes, log_time_ns: int, publish_time_ns: int, sequence: int = 0) -> None:
        """Append one CDR-serialized message as received (log time = receive time)."""
        self._writer.add_message(channel_id, log_time_ns, data, publish_time_ns, sequence)
        self.messages += 1

    def add_metadata(self, name: str, values: Mapping[str, object]) -> None:
        """An MCAP metadata record (values stored as strings)."""
        self._writer.add_metadata(name, {k: str(v) for k, v in values.items()})

    @property
    def bytes_written(self) -> int:
        return self.file.good

    # ------------------------------------------------------------------ endings
    def finalize(self, metadata: Mapping[str, Mapping[str, object]] = ()) -> Path:
        """Write `metadata` records and the summary, fsync, rename to the final name. Returns it."""
        self._check_open()
        for name, values in dict(metadata).items():
            self.add_metadata(name, values)
        self._writer.finish()
        self.file.fsync()
        self.file.close()
        try:
            os.link(self.tmp_path, self.final_path)  # fails instead of clobbering an existing episode
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
            raise FileExistsError(
                f"refusing to overwrite finished episode {self.final_path}; the take stays at {self.tmp_path}"
            ) from None
        os.unlink(self.tmp_path)
        fsync_dir(self.final_path.parent)
        if self.tmp_path.parent != self.final_path.parent:
            fsync_dir(self.tmp_path.parent)
        self.done = True
        return self.final_path

    def abandon(self) -> None:
        """After a failed write: cut the torn tail, fsync and close, leaving a partial file for recovery."""
        if self.done:
            return
        with contextlib.suppress(OSError):
            self.file.truncate_to_good()
            self.file.fsync()
        self.file.close()
        self.done = True

    def discard(self) -> None:
        """Delete the take: nothing of it remains on disk."""
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp_path)
        fsync_dir(self.tmp_path.parent)
        self.done = True

    def _check_open(self) -> None:
        if self.done:
            raise RuntimeError(f"episode {self.tmp_path.name} is already finalized, discarded or abandoned")
