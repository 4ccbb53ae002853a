"""The episode recorder's logic, without ROS: a writer thread, episode control, disk guard, counts, drops.

The ROS node only forwards raw CDR bytes to `Recorder.offer` (cheap: a queue append) and maps the
services onto `start` / `stop` / `discard`. Everything else happens here:

- One writer thread owns the open `EpisodeWriter`; messages and control commands share one FIFO,
  so a stop includes every message offered before it, and a discarded take's messages can never
  reach the next take (each take has its own generation number; stale items are dropped).
- Crash recovery on construction: any take left in `.recording/` is turned into
  `<id>.incomplete.mcap` (`recovery.recover_partial`) and listed as incomplete in the index.
- Disk guard: `start` is refused below `min_free_bytes`; while recording, free space is probed every
  `disk_check_period_s` and the episode is finalized (outcome "unlabeled", stop_reason "low_disk")
  below `stop_free_bytes`. The probe is injectable (`free_bytes`) so tests need not fill a disk.
- Drops per topic: gaps in the publisher's sequence numbers (the middleware's
  `publication_sequence_number`; exact for single-publisher topics, which is the case in this
  graph) plus messages refused because the write queue was over `max_queue_bytes`.
- A directory is owned by one recorder at a time (an flock on `.lock`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_runtime.datasets.episode_writer import EpisodeWriter
from policy_runtime.datasets.index import CRASHED_DIR, RECORDING_DIR, EpisodeIndex
from policy_runtime.datasets.recovery import Recovered, recover_partial

GB = 1e9


def disk_free_bytes(path: Path) -> int:
    """Bytes free for an unprivileged writer on the file system holding `path`."""
    return shutil.disk_usage(path).free


class RecorderError(RuntimeError):
    """A refused episode command; the message says why (shown to the operator as is)."""


@dataclass(frozen=True)
class TopicSpec:
    """A recorded topic: concrete name, ROS type; latched topics are replayed at each episode start."""

    name: str
    msg_type: str
    latched: bool = False


@dataclass
class RecorderConfig:
    """Where and how to record. Byte thresholds; `stop_free_bytes` must be below `min_free_bytes`."""

    output_dir: Path
    topics: list[TopicSpec]
    task: str = ""
    operator: str = ""
    min_free_bytes: int = int(2 * GB)
    stop_free_bytes: int = int(1 * GB)
    disk_check_period_s: float = 1.0
    chunk_size: int = 64 * 1024
    compression: str = "zstd"
    fsync_period_s: float = 1.0
    max_queue_bytes: int = 512 * 1024 * 1024
    command_timeout_s: float = 60.0
    stop_grace_s: float = 1.0

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        if not self.topics:
            raise ValueError("recorder needs at least one topic")
        if self.stop_free_bytes >= self.min_free_bytes:
            raise ValueError(
                f"stop threshold ({self.stop_free_bytes / GB:.2f} GB) must be below the start threshold "
                f"({self.min_free_bytes / GB:.2f} GB), or every episode would stop at once"
            )


@dataclass
class _TopicState:
    spec: TopicSpec
    index: int
    received: int = 0
    last_seq: int | None = None  # highest publisher sequence number seen
    latched_msg: tuple[bytes, int, int] | None = None
    last_log_ns: int = 0
    count: int = 0  # this episode, written
    drops: int = 0  # this episode, sequence gaps + queue overflow


@dataclass
class _Command:
    kind: str  # "start" | "stop" | "discard" | "close"
    gen: int
    args: dict[str, Any] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


@dataclass
class _Episode:
    id: str
    gen: int
    writer: EpisodeWriter
    meta: dict[str, Any]
    start_ns: int
    channels: list[int | None]
    last_log_ns: int = 0


class Recorder:
    """Records episodes of `config.topics` into `config.output_dir`. Thread-safe; call `close()` at the end."""

    def __init__(
        self,
        config: RecorderConfig,
        free_bytes: Callable[[Path], int] = disk_free_bytes,
        log: Callable[[str, str], None] | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.root = config.output_dir
        self._free_bytes = free_bytes
        self._log = log or (lambda level, msg: None)
        self._on_change = on_change or (lambda status: None)
        (self.root / RECORDING_DIR).mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise RecorderError(f"{self.root} is in use by another recorder (lock {self.root / '.lock'})") from None
        self.index = EpisodeIndex(self.root)
        self.recovered = self._recover_leftovers()
        self._topics = {s.name: _TopicState(s, i) for i, s in enumerate(config.topics)}
        self._cv = threading.Condition()
        self._queue: deque = deque()
        self._queued_bytes = 0
        self._gen = 0
        self._recording_gen: int | None = None
        self._start_ns = 0  # messages received before the start call are not part of the episode
        self._stop_ns: int | None = None  # nor those received after the stop call
        self._episode: _Episode | None = None  # owned by the writer thread
        self._current_id: str | None = None
        self._last: dict[str, Any] | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="recorder-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ hot path
    def offer(self, topic: str, data: bytes, log_ns: int, publish_ns: int, seq: int | None = None) -> None:
        """One received message (raw CDR). Queued if an episode is recording; never blocks on disk."""
        t = self._topics[topic]
        with self._cv:
            t.received += 1
            gap = 0
            if seq is not None:
                if t.last_seq is None or seq < t.last_seq - 10_000:  # first message, or a restarted publisher
                    t.last_seq = seq
                elif seq > t.last_seq:
                    gap = seq - t.last_seq - 1
                    t.last_seq = seq
                elif seq < t.last_seq:
                    gap = -1  # arrived late: fills a gap counted before
            if t.spec.latched:
                t.latched_msg = (data, log_ns, publish_ns)
            t.last_log_ns = log_ns
            gen = self._recording_gen
            if gen is None or log_ns < self._start_ns or (self._stop_ns is not None and log_ns > self._stop_ns):
                return  # not recording, or received (by the middleware) outside the episode's window
            t.drops = max(0, t.drops + gap)
            if self._queued_bytes + len(data) > self.config.max_queue_bytes:
                t.drops += 1
                return
            self._queue.append((gen, t.index, data, log_ns, publish_ns, seq or 0))
            self._queued_bytes += len(data)
            self._cv.notify()

    # ------------------------------------------------------------------ episode control
    def start(self, metadata: dict[str, Any] | None = None) -> str:
        """Open a new episode; returns its id. RecorderError if one is open or the disk is too full."""
        with self._cv:
            if self._closed:
                raise RecorderError("recorder is shut down")
            if self._recording_gen is not None:
                raise RecorderError(f"episode {self._current_id} is still recording: stop or discard it first")
        free = self._free_bytes(self.root)
        if free < self.config.min_free_bytes:
            raise RecorderError(
                f"refusing to start: only {free / GB:.2f} GB free on {self.root}, "
                f"below min_free_gb={self.config.min_free_bytes / GB:.2f}; free some space or record elsewhere"
            )
        with self._cv:
            self._gen += 1
            cmd = _Command("start", self._gen, {"meta": dict(metadata or {})})
            cmd.args["latched"] = [(t.index, t.latched_msg) for t in self._topics.values() if t.latched_msg is not None]
            for t in self._topics.values():
                t.count = t.drops = 0
            self._start_ns, self._stop_ns = time.time_ns(), None
            self._recording_gen = self._gen
            self._queue.append(cmd)
            self._cv.notify()
        try:
            return self._wait(cmd)
        except BaseException:
            with self._cv:
                if self._recording_gen == cmd.gen:
                    self._recording_gen = None
            raise

    def stop(self, outcome: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finalize the open episode as "success" or "failure"; returns its index entry.

        `metadata` fills keys that were still empty at start (e.g. a seed that arrived late).
        """
        if outcome not in ("success", "failure"):
            raise RecorderError(f"outcome must be 'success' or 'failure', got {outcome!r}")
        return self._end("stop", {"outcome": outcome, "stop_reason": "operator", "late_meta": metadata or {}})

    def discard(self) -> dict[str, Any]:
        """Delete the open take completely; returns {"id": ..., "discarded": True}."""
        return self._end("discard", {})

    def close(self) -> None:
        """Finalize an open episode (outcome "unlabeled", stop_reason "shutdown") and stop the thread."""
        with self._cv:
            if self._closed:
                return
            recording = self._recording_gen is not None
        if recording:
            with contextlib.suppress(RecorderError):
                self._end("stop", {"outcome": "unlabeled", "stop_reason": "shutdown"})
        with self._cv:
            self._closed = True
            cmd = _Command("close", self._gen)
            self._queue.append(cmd)
            self._cv.notify()
        self._thread.join(timeout=self.config.command_timeout_s)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)

    def status(self) -> dict[str, Any]:
        """State for /recorder/status: idle or recording, the current episode, counts, drops, free disk."""
        with self._cv:
            ep = self._episode
            out: dict[str, Any] = {
                "state": "recording" if self._recording_gen is not None else "idle",
                "episode": self._current_id,
                "output_dir": str(self.root),
                "queued_mb": round(self._queued_bytes / 1e6, 3),
                "counts": {t.spec.name: t.count for t in self._topics.values()},
                "drops": {t.spec.name: t.drops for t in self._topics.values()},
                "received": {t.spec.name: t.received for t in self._topics.values()},
                "last": self._last,
            }
            if ep is not None and self._recording_gen is not None:
                out["elapsed_s"] = round((time.time_ns() - ep.start_ns) / 1e9, 3)
        with contextlib.suppress(OSError):
            out["free_gb"] = round(self._free_bytes(self.root) / GB, 3)
        return out

    # ------------------------------------------------------------------ internals
    def _end(self, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        with self._cv:
            gen = self._recording_gen
            if gen is None:
                raise RecorderError("no episode is recording")
            self._stop_ns = stop_ns = time.time_ns()
        if kind == "stop":
            self._drain(stop_ns)
        with self._cv:
            if self._recording_gen != gen:
                raise RecorderError("the episode already ended by itself (low disk or write error); see the index")
            cmd = _Command(kind, gen, args)
            self._recording_gen = None
            self._queue.append(cmd)
            self._cv.notify()
        return self._wait(cmd)

    def _drain(self, stop_ns: int) -> None:
        """Wait (at most `stop_grace_s`) until every topic active in the last second has delivered a message
        received after `stop_ns`: what the middleware received before the stop call is then all offered."""
        deadline = time.monotonic() + self.config.stop_grace_s
        while time.monotonic() < deadline:
            with self._cv:
                behind = [t for t in self._topics.values() if stop_ns - 1_000_000_000 <= t.last_log_ns <= stop_ns]
            if not behind:
                return
            time.sleep(0.005)

    def _wait(self, cmd: _Command) -> Any:
        if not cmd.done.wait(self.config.command_timeout_s):
            raise RecorderError(f"recorder writer did not answer '{cmd.kind}' within {self.config.command_timeout_s}s")
        if cmd.error is not None:
            raise RecorderError(f"{cmd.kind} failed: {type(cmd.error).__name__}: {cmd.error}") from cmd.error
        return cmd.result

    def _ids_on_disk(self) -> list[str]:
        names = [p.name for p in self.root.glob("ep*.mcap")]
        names += [p.name for p in (self.root / RECORDING_DIR).glob("ep*")]
        names += [p.name for p in (self.root / CRASHED_DIR).glob("ep*")]
        return [n.split(".", 1)[0] for n in names]

    def _run(self) -> None:
        next_disk_check = time.monotonic()
        while True:
            with self._cv:
                while not self._queue:
                    self._cv.wait(timeout=self.config.disk_check_period_s)
                    if not self._queue:
                        break
                item = self._queue.popleft() if self._queue else None
                if isinstance(item, tuple):
                    self._queued_bytes -= len(item[2])
            if isinstance(item, _Command):
                self._do_command(item)
                if item.kind == "close":
                    return
            elif item is not None:
                self._write(item)
            if self._episode is not None and time.monotonic() >= next_disk_check:
                next_disk_check = time.monotonic() + self.config.disk_check_period_s
                self._check_disk()

    def _write(self, item: tuple) -> None:
        gen, ti, data, log_ns, pub_ns, seq = item
        ep = self._episode
        if ep is None or gen != ep.gen:
            return  # belongs to a take that was discarded or already ended
        topic = self.config.topics[ti]
        try:
            cid = ep.channels[ti]
            if cid is None:
                cid = ep.channels[ti] = ep.writer.add_channel(topic.name, topic.msg_type)
            ep.writer.write(cid, data, log_ns, pub_ns, seq)
        except OSError as exc:
            self._fail(ep, exc)
            return
        ep.last_log_ns = max(ep.last_log_ns, log_ns)
        with self._cv:
            self._topics[topic.name].count += 1

    def _do_command(self, cmd: _Command) -> None:
        try:
            if cmd.kind == "start":
                cmd.result = self._open(cmd)
            elif cmd.kind in ("stop", "discard"):
                ep = self._episode
                if ep is None or ep.gen != cmd.gen:
                    raise RecorderError("the episode already ended (low disk or write error); see the index")
                cmd.result = self._finish(ep, **cmd.args) if cmd.kind == "stop" else self._discard(ep)
        except BaseException as exc:  # reported to the caller, who raises it
            cmd.error = exc
        finally:
            cmd.done.set()
            if cmd.kind != "close":
                self._notify()

    def _open(self, cmd: _Command) -> str:
        episode_id = self.index.allocate_id(taken=self._ids_on_disk())
        c = self.config
        writer = EpisodeWriter(
            self.root / RECORDING_DIR / f"{episode_id}.mcap.part",
            self.root / f"{episode_id}.mcap",
            chunk_size=c.chunk_size,
            compression=c.compression,
            fsync_period_s=c.fsync_period_s,
        )
        start_ns = time.time_ns()
        meta = {
            "id": episode_id,
            "task": c.task,
            "operator": c.operator,
            "seed": "",
            "scenario": "",
            **{k: str(v) for k, v in cmd.args["meta"].items()},
            "start_time_ns": str(start_ns),
            "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(start_ns / 1e9)),
        }
        ep = _Episode(episode_id, cmd.gen, writer, meta, start_ns, [None] * len(c.topics))
        try:
            writer.add_metadata("episode_start", meta)
            for ti, (data, log_ns, pub_ns) in cmd.args["latched"]:
                spec = c.topics[ti]
                ep.channels[ti] = cid = writer.add_channel(spec.name, spec.msg_type)
                writer.write(cid, data, log_ns, pub_ns)
                with self._cv:
                    self._topics[spec.name].count += 1
            self.index.put({**meta, "status": "recording", "outcome": "", "file": ""})
        except BaseException:
            writer.discard()
            raise
        self._episode = ep
        with self._cv:
            self._current_id = episode_id
        return episode_id

    def _summary(self, ep: _Episode) -> tuple[dict[str, int], dict[str, int]]:
        with self._cv:
            counts = {t.spec.name: t.count for t in self._topics.values()}
            drops = {t.spec.name: t.drops for t in self._topics.values()}
        return counts, drops

    def _finish(
        self, ep: _Episode, outcome: str, stop_reason: str, late_meta: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        ep.meta.update({k: str(v) for k, v in (late_meta or {}).items() if not ep.meta.get(k)})
        counts, drops = self._summary(ep)
        end_ns = time.time_ns()
        closing = {
            **ep.meta,
            "status": "complete",
            "outcome": outcome,
            "stop_reason": stop_reason,
            "end_time_ns": str(end_ns),
            "duration_s": f"{(end_ns - ep.start_ns) / 1e9:.3f}",
            "counts": json.dumps(counts, sort_keys=True),
            "drops": json.dumps(drops, sort_keys=True),
        }
        try:
            path = ep.writer.finalize({"episode": closing})
        except OSError as exc:
            self._fail(ep, exc)
            raise
        self._episode = None
        self._clear_current(ep.id)
        entry = {
            **closing,
            "counts": counts,
            "drops": drops,
            "duration_s": round((end_ns - ep.start_ns) / 1e9, 3),
            "file": path.name,
            "bytes": path.stat().st_size,
        }
        self.index.put(entry)
        self._last = {"id": ep.id, "outcome": outcome, "stop_reason": stop_reason, "file": path.name}
        self._log("info", f"episode {ep.id} finalized as {outcome} ({stop_reason}): {path}")
        return entry

    def _discard(self, ep: _Episode) -> dict[str, Any]:
        ep.writer.discard()
        self._episode = None
        self._clear_current(ep.id)
        self.index.remove(ep.id, discarded=True)
        self._last = {"id": ep.id, "outcome": "discarded"}
        self._log("info", f"episode {ep.id} discarded")
        return {"id": ep.id, "discarded": True}

    def _notify(self) -> None:
        try:
            self._on_change(self.status())
        except Exception as exc:  # a status consumer must never stop the writer thread
            self._log("warn", f"status callback failed: {type(exc).__name__}: {exc}")

    def _clear_current(self, episode_id: str) -> None:
        with self._cv:
            if self._current_id == episode_id:
                self._current_id = None

    def _check_disk(self) -> None:
        """Below `stop_free_bytes`: queue a stop after what is already queued (nothing received is lost)."""
        ep = self._episode
        assert ep is not None
        try:
            free = self._free_bytes(self.root)
        except OSError as exc:
            self._log("warn", f"cannot probe free disk space on {self.root}: {exc}")
            return
        if free >= self.config.stop_free_bytes:
            return
        with self._cv:
            if self._recording_gen != ep.gen:
                return  # a stop or discard is already on its way
            self._recording_gen = None
            self._queue.append(_Command("stop", ep.gen, {"outcome": "unlabeled", "stop_reason": "low_disk"}))
        self._log(
            "warn",
            f"only {free / GB:.2f} GB free on {self.root} (stop_free_gb={self.config.stop_free_bytes / GB:.2f}): "
            f"finalizing episode {ep.id} now",
        )

    def _fail(self, ep: _Episode, exc: OSError) -> None:
        """A write failed (disk full, I/O error): keep what was written, mark it incomplete, stop recording."""
        self._log("error", f"writing episode {ep.id} failed ({exc}); keeping what was written as incomplete")
        with self._cv:
            if self._recording_gen == ep.gen:
                self._recording_gen = None
        ep.writer.abandon()
        self._episode = None
        self._clear_current(ep.id)
        try:
            self._recover_one(ep.writer.tmp_path, stop_reason=f"write_error: {exc}")
        except OSError as exc2:
            self._log("error", f"could not recover {ep.writer.tmp_path} now ({exc2}); it will be on next start")
        self._notify()

    # ------------------------------------------------------------------ recovery
    def _recover_leftovers(self) -> list[Recovered]:
        out = []
        for part in sorted((self.root / RECORDING_DIR).glob("ep*.mcap.part")):
            self._log("warn", f"found a take left by a crash: {part}; recovering it as incomplete")
            out.append(self._recover_one(part, stop_reason="crash"))
        for episode_id, entry in list(self.index.episodes.items()):
            if entry.get("status") == "recording":  # crashed before its file held anything
                self.index.put({**entry, "status": "incomplete", "outcome": "incomplete", "stop_reason": "crash"})
                self._log("warn", f"episode {episode_id} was recording at a crash and left no data")
        return out

    def _recover_one(self, part: Path, stop_reason: str) -> Recovered:
        episode_id = part.name.split(".", 1)[0]
        out = self.root / f"{episode_id}.incomplete.mcap"
        known = self.index.episodes.get(episode_id, {})

        def closing(rec: Recovered) -> dict[str, str]:
            start = rec.metadata.get("episode_start", {})
            first, last = rec.first_log_ns, rec.last_log_ns
            return {
                **{k: str(v) for k, v in known.items() if isinstance(v, str)},
                **start,
                "id": episode_id,
                "status": "incomplete",
                "outcome": "incomplete",
                "stop_reason": stop_reason,
                "recovered_up_to": rec.stopped_at,
                "duration_s": f"{(last - first) / 1e9:.3f}" if first is not None and last is not None else "0",
                "counts": json.dumps(rec.counts, sort_keys=True),
            }

        rec = recover_partial(part, out, closing)
        crashed = self.root / CRASHED_DIR
        crashed.mkdir(exist_ok=True)
        os.replace(part, crashed / part.name)
        meta = rec.metadata["episode"]
        self.index.put(
            {
                **meta,
                "counts": rec.counts,
                "drops": {},
                "duration_s": float(meta["duration_s"]),
                "file": out.name,
                "raw_partial": f"{CRASHED_DIR}/{part.name}",
                "bytes": out.stat().st_size,
            }
        )
        self._log("warn", f"recovered {sum(rec.counts.values())} messages of {episode_id} into {out} (incomplete)")
        return rec


def topics_from_names(pairs: Iterable[tuple[str, str, bool]]) -> list[TopicSpec]:
    """[(name, type, latched)] -> TopicSpecs, refusing duplicates."""
    specs = [TopicSpec(n, t, latched) for n, t, latched in pairs]
    names = [s.name for s in specs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"topics listed twice: {', '.join(sorted(dup))}")
    return specs
