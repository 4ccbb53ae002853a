"""The episode index of a recording directory: `index.json`, rewritten atomically (ROS-free).

Layout of a recording directory:

    index.json                      this index (every episode, with status and metadata)
    ep000001.mcap                   finished episodes (status "complete"), never touched again
    ep000004.incomplete.mcap        recovered from a crash (status "incomplete")
    .recording/ep000005.mcap.part   the take being recorded (temp name)
    .crashed/ep000004.mcap.part     raw bytes of a crashed take, kept after recovery

An index entry: id, file, status ("recording" | "complete" | "incomplete"), outcome ("success" |
"failure" | "unlabeled" | "incomplete"), stop_reason, task, operator, seed, scenario, start_time,
duration_s, counts and drops per topic, bytes. Discarded takes leave only their id in `discarded`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from policy_runtime.datasets.episode_writer import fsync_dir

FORMAT = "rstack-episodes/1"
INDEX_NAME = "index.json"
RECORDING_DIR = ".recording"
CRASHED_DIR = ".crashed"
OUTCOMES = ("success", "failure", "unlabeled", "incomplete")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file in the same directory, fsync, rename over `path`, fsync the directory."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o644)
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


class EpisodeIndex:
    """The index of one recording directory. Not thread-safe: one owner (the recorder) mutates it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / INDEX_NAME
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"episode index {self.path} is not valid JSON ({exc}); fix or move it") from None
            if self.data.get("format") != FORMAT:
                raise ValueError(f"{self.path}: unknown format {self.data.get('format')!r}, expected {FORMAT!r}")
        else:
            self.data = {"format": FORMAT, "next_id": 1, "episodes": {}, "discarded": []}

    @property
    def episodes(self) -> dict[str, dict[str, Any]]:
        return self.data["episodes"]

    def allocate_id(self, taken: Iterable[str] = ()) -> str:
        """A fresh episode id (never reused, also not any id in `taken`); persisted at once."""
        used = set(self.episodes) | set(self.data["discarded"]) | set(taken)
        n = int(self.data["next_id"])
        while f"ep{n:06d}" in used:
            n += 1
        self.data["next_id"] = n + 1
        self.save()
        return f"ep{n:06d}"

    def put(self, entry: dict[str, Any]) -> None:
        self.episodes[entry["id"]] = entry
        self.save()

    def remove(self, episode_id: str, discarded: bool = True) -> None:
        self.episodes.pop(episode_id, None)
        if discarded and episode_id not in self.data["discarded"]:
            self.data["discarded"].append(episode_id)
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)

    def select(
        self, statuses: Iterable[str] = ("complete",), outcomes: Iterable[str] | None = ("success",)
    ) -> list[dict[str, Any]]:
        """Entries with one of `statuses` and (unless None) one of `outcomes`, sorted by id."""
        st, oc = set(statuses), (None if outcomes is None else set(outcomes))
        return [
            e
            for _, e in sorted(self.episodes.items())
            if e.get("status") in st and (oc is None or e.get("outcome") in oc)
        ]


def load_index(root: Path) -> EpisodeIndex:
    """The index of an existing recording directory, or a clear error."""
    root = Path(root)
    if not (root / INDEX_NAME).is_file():
        raise FileNotFoundError(f"{root} is not a recording directory: no {INDEX_NAME}")
    return EpisodeIndex(root)
