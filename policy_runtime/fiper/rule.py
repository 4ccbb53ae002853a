"""How the two indicators combine into an alarm.

FIPER alarms only when BOTH the RND (out-of-distribution) and the ACE (action-chunk entropy) windowed
scores exceed their thresholds (`Rule.AND`): a benign out-of-distribution observation where the policy
still acts decisively does not stop the robot. `OR`, `RND` only and `ACE` only are the baselines of the
paper, selectable for evaluation.
"""

from __future__ import annotations

from enum import Enum

import numpy as np


class Rule(str, Enum):
    AND = "and"
    OR = "or"
    RND = "rnd"
    ACE = "ace"

    @classmethod
    def parse(cls, name: str | Rule) -> Rule:
        """`"and"`/`"or"`/`"rnd"`/`"ace"` (any case) -> Rule; a clear error otherwise."""
        if isinstance(name, Rule):
            return name
        try:
            return cls(str(name).strip().lower())
        except ValueError:
            raise ValueError(f"unknown alarm rule {name!r} (known: {', '.join(r.value for r in cls)})") from None


def combine(rule: Rule, rnd_exceeds: np.ndarray | bool, ace_exceeds: np.ndarray | bool) -> np.ndarray | bool:
    """Alarm decision(s) of `rule` given which indicators exceed (element-wise on arrays)."""
    r = np.asarray(rnd_exceeds, dtype=bool)
    a = np.asarray(ace_exceeds, dtype=bool)
    if rule is Rule.AND:
        out = r & a
    elif rule is Rule.OR:
        out = r | a
    elif rule is Rule.RND:
        out = r.copy()
    elif rule is Rule.ACE:
        out = a.copy()
    else:  # pragma: no cover - exhaustive enum
        raise ValueError(f"unknown rule {rule!r}")
    return bool(out) if out.ndim == 0 else out


def fired_label(rnd_exceeds: bool, ace_exceeds: bool) -> str:
    """Which indicators exceed their thresholds: "rnd+ace", "rnd", "ace" or "none"."""
    names = [n for n, on in (("rnd", rnd_exceeds), ("ace", ace_exceeds)) if on]
    return "+".join(names) if names else "none"
