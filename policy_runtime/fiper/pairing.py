"""Pair each planner step's embedding with its sampled chunks (they arrive as two messages)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepPair:
    """A complete planner step; `restarted` when the policy's step counter went back before it."""

    step: int
    embedding: np.ndarray
    chunks: np.ndarray
    restarted: bool = False


class StepPairer:
    """Holds the unpaired half of the newest few planner steps and emits complete ones in order.

    A message for a step at or before the last paired one is dropped (counted in `dropped`), so the
    monitor never scores out of order; a step counter that goes back by more than `max_pending` is a
    policy restart: pending halves are forgotten, `restarts` counts it and the next pair says so.
    At most `max_pending` unpaired halves of each kind are kept (the oldest are dropped).
    """

    def __init__(self, max_pending: int = 4) -> None:
        self.max_pending = max_pending
        self.last_paired = -1
        self.dropped = 0
        self.restarts = 0
        self._pending: dict[str, dict[int, np.ndarray]] = {"embedding": {}, "chunks": {}}
        self._restart_pending = False

    def add_embedding(self, step: int, embedding: np.ndarray) -> StepPair | None:
        return self._add("embedding", step, embedding)

    def add_chunks(self, step: int, chunks: np.ndarray) -> StepPair | None:
        return self._add("chunks", step, chunks)

    def _add(self, kind: str, step: int, value: np.ndarray) -> StepPair | None:
        if step <= self.last_paired:
            if self.last_paired - step <= self.max_pending:
                self.dropped += 1
                return None
            self.reset()
            self.restarts += 1
            self._restart_pending = True
        other = self._pending["chunks" if kind == "embedding" else "embedding"]
        if step not in other:
            mine = self._pending[kind]
            mine[step] = value
            while len(mine) > self.max_pending:
                del mine[min(mine)]
                self.dropped += 1
            return None
        partner = other.pop(step)
        self.last_paired = step
        for d in self._pending.values():
            for k in [k for k in d if k <= step]:
                del d[k]
                self.dropped += 1
        emb, chunks = (value, partner) if kind == "embedding" else (partner, value)
        pair = StepPair(step, emb, chunks, restarted=self._restart_pending)
        self._restart_pending = False
        return pair

    def reset(self) -> None:
        """Forget pending halves and the last paired step (a new episode)."""
        for d in self._pending.values():
            d.clear()
        self.last_paired = -1
