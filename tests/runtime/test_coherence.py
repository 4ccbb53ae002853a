"""Executing the sampled chunk that continues the previous one (backward coherence)."""

from __future__ import annotations

import numpy as np
import pytest

from policy_runtime.runtime.coherence import CoherentChoice, overlap_distances

H, DT = 32, 1.0 / 24


def _line(start_y: float, velocity_y: float, t0: float = 0.0) -> np.ndarray:
    """A chunk moving along y from `start_y` at `velocity_y` (m/s), step k at t0 + k * DT."""
    y = start_y + velocity_y * DT * np.arange(H)
    return np.stack([np.full(H, 0.5), y, np.full(H, 0.1)], axis=-1)


def test_distance_compares_the_steps_due_at_the_same_time():
    prev = _line(0.0, 0.04)
    later = 8 * DT  # planned 8 steps later: its step 0 is the previous chunk's step 8
    same_motion = _line(prev[8, 1], 0.04)
    d = overlap_distances(np.stack([same_motion, prev]), later, prev, 0.0, DT)
    assert d is not None and d[0] == pytest.approx(0.0, abs=1e-12) and d[1] > 0.01
    assert overlap_distances(prev[None], H * DT, prev, 0.0, DT) is None  # no step in common
    assert overlap_distances(prev[None], -DT, prev, 0.0, DT) is None  # older than the previous chunk


def test_the_choice_follows_the_mode_being_executed_not_sample_0():
    """Two modes (wipe +y, wipe -y): sample 0 flips between them, the coherent choice stays with the first."""
    choice, first_only = CoherentChoice(DT), CoherentChoice(DT, enabled=False)
    y, picked_dirs = 0.0, []
    for step in range(6):
        t = step * 8 * DT
        forward, backward = _line(y, 0.04), _line(y, -0.04)
        samples = np.stack([backward, forward] if step % 2 else [forward, backward])  # sample 0 alternates
        pick = choice.choose(samples, t)
        assert first_only.choose(samples, t) == 0
        picked = samples[pick]
        picked_dirs.append(np.sign(picked[-1, 1] - picked[0, 1]))
        y = picked[8, 1]  # the arm followed the picked chunk for 8 steps
    assert picked_dirs == [1.0] * 6
    assert choice.switched == 3  # on the steps where sample 0 was the other mode
    choice.reset()  # a new episode: nothing to continue, sample 0
    assert choice.choose(np.stack([_line(0, -0.04), _line(0, 0.04)]), 100.0) == 0


def test_a_non_finite_distance_falls_back_to_sample_0():
    choice = CoherentChoice(DT)
    choice.choose(_line(0.0, 0.04)[None], 0.0)
    bad = np.stack([_line(0.0, 0.04), _line(0.0, 0.04)])
    bad[1, 3, 0] = np.nan
    assert choice.choose(bad, DT) == 0
    with pytest.raises(ValueError, match="step_s"):
        CoherentChoice(0.0)
