"""Shared helpers of the sim tests."""

from __future__ import annotations

import random


def random_loopback() -> str:
    """A random 127.x.y.z so parallel runs never bind the same libfranka ports."""
    r = random.SystemRandom()
    return f"127.{r.randint(1, 254)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
