"""Action-chunk entropy on synthetic chunk clouds."""

import math
from collections import Counter

import numpy as np
import pytest

from policy_runtime.fiper.ace import action_chunk_entropy, calibration_range, cell_size, choose_cell_fraction

CELL = np.array([0.01, 0.01, 0.01])


def _reference_ace(chunks: np.ndarray, cell: np.ndarray) -> float:
    """Straightforward per-step loop with a Counter, to check the vectorized version against."""
    ents = []
    for h in range(chunks.shape[1]):
        pts = chunks[:, h, :].astype(np.float64)
        lo, hi = pts.min(0), pts.max(0)
        lo, hi = lo - 0.01 * (hi - lo), hi + 0.01 * (hi - lo)
        n = np.maximum(np.ceil((hi - lo) / cell), 1)
        idx = np.minimum(np.floor((pts - lo) / cell), n - 1)
        counts = Counter(map(tuple, idx.astype(int)))
        p = np.array(list(counts.values())) / len(pts)
        ents.append(float(-(p * np.log2(p)).sum()))
    return float(np.mean(ents))


def _cloud(rng, b, h, spread):
    path = np.stack([np.linspace(0.4, 0.5, h), np.zeros(h), np.full(h, 0.3)], axis=-1)
    return path[None] + spread * rng.normal(size=(b, h, 3))


def test_identical_samples_have_zero_entropy():
    chunks = np.broadcast_to(np.array([0.5, -0.1, 0.3]), (64, 8, 3)).copy()
    assert action_chunk_entropy(chunks, CELL) == 0.0


@pytest.mark.parametrize("b", [16, 64, 256])
def test_tight_cloud_has_lower_entropy_than_spread_cloud(b):
    rng = np.random.default_rng(b)
    tight = action_chunk_entropy(_cloud(rng, b, 16, 0.002), CELL)
    spread = action_chunk_entropy(_cloud(rng, b, 16, 0.05), CELL)
    assert tight < 1.5 < 0.8 * math.log2(b) < spread <= math.log2(b)


def test_hand_computed_occupancies_and_horizon_average():
    # B=4 along x: step 0 splits 2/2 into two far-apart cells (1 bit); step 1 all identical (0 bits).
    c = np.zeros((4, 2, 3))
    c[:, 0, 0] = [0.0, 0.0, 0.5, 0.5]
    assert action_chunk_entropy(c, np.array([0.1, 0.1, 0.1])) == pytest.approx(0.5)
    c[:, 0, 0] = [0.0, 0.0, 0.0, 0.5]  # 3/1 split
    assert action_chunk_entropy(c[:, :1], np.array([0.1, 0.1, 0.1])) == pytest.approx(
        -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    )


def test_every_sample_in_its_own_cell_gives_log2_b():
    b = 27
    grid = np.stack(np.meshgrid(*[np.arange(3) * 0.1] * 3, indexing="ij"), axis=-1).reshape(b, 1, 3)
    assert action_chunk_entropy(grid, CELL) == pytest.approx(math.log2(b))


def test_vectorized_matches_reference_and_is_translation_invariant():
    rng = np.random.default_rng(7)
    for spread in (0.001, 0.01, 0.05):
        c = _cloud(rng, 64, 12, spread)
        got = action_chunk_entropy(c, CELL)
        assert got == pytest.approx(_reference_ace(c, CELL), abs=1e-12)
        assert action_chunk_entropy(c + np.array([0.5, -0.25, 0.125]), CELL) == pytest.approx(got, abs=1e-9)


def test_cell_is_a_fraction_of_the_calibration_range():
    pts = np.array([[0.2, -0.3, 0.1], [0.8, 0.3, 0.1]])
    r = calibration_range(pts)
    np.testing.assert_allclose(r, [0.6, 0.6, 0.0])
    np.testing.assert_allclose(cell_size(r, 0.03), [0.018, 0.018, 1e-4])  # flat axis: floor, not 0


def test_bad_chunks_are_refused_with_what_is_wrong():
    with pytest.raises(ValueError, match=r"\[B, H, 3\]"):
        action_chunk_entropy(np.zeros((8, 4, 2)), CELL)
    bad = np.zeros((8, 4, 3))
    bad[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        action_chunk_entropy(bad, CELL)
    with pytest.raises(ValueError, match="cell fraction"):
        cell_size(np.ones(3), 0.0)


def test_auto_cell_fraction_unsaturates_small_b_and_keeps_tight_below_spread():
    """B=8 with 1 cm sample spread: at the default 3% cell (~9 mm on a 0.3 m range) nominal ACE is near its
    log2(8)=3 bit ceiling; the auto grid puts it mid-range, and a spread (failing) cloud still scores higher."""
    rng = np.random.default_rng(3)
    nominal = [_cloud(rng, 8, 16, 0.01) for _ in range(40)]
    cal_range = np.array([0.3, 0.3, 0.3])
    default_med = np.median([action_chunk_entropy(c, cell_size(cal_range, 0.03)) for c in nominal])
    assert default_med > 0.8 * 3.0
    frac, medians = choose_cell_fraction(nominal, cal_range)
    assert frac > 0.03 and abs(medians[frac] - 1.5) == min(abs(m - 1.5) for m in medians.values())
    cell = cell_size(cal_range, frac)
    spread = [_cloud(rng, 8, 16, 0.04) for _ in range(40)]
    tight_ace = np.median([action_chunk_entropy(c, cell) for c in nominal])
    spread_ace = np.median([action_chunk_entropy(c, cell) for c in spread])
    assert 1.0 < tight_ace < 2.0 < spread_ace
    with pytest.raises(ValueError, match="B >= 2"):
        choose_cell_fraction([_cloud(rng, 1, 4, 0.01)], cal_range)
