import numpy as np
import pytest

from policy_runtime.fiper.window import RollingWindowSum, windowed_sums


@pytest.mark.parametrize("w", [1, 3, 7, 50])
def test_windowed_sums_match_brute_force(w):
    x = np.random.default_rng(w).gamma(2.0, size=40)
    expected = [x[max(0, t - w + 1) : t + 1].sum() for t in range(x.size)]
    np.testing.assert_allclose(windowed_sums(x, w), expected, rtol=1e-12)


def test_window_sum_is_partial_at_start_and_drops_old_values():
    np.testing.assert_array_equal(windowed_sums(np.array([1.0, 2.0, 4.0, 8.0]), 2), [1.0, 3.0, 6.0, 12.0])


def test_streaming_window_equals_batch_window_and_resets():
    x = np.random.default_rng(0).normal(size=30)
    win = RollingWindowSum(4)
    np.testing.assert_allclose([win.push(v) for v in x], windowed_sums(x, 4), rtol=1e-12, atol=1e-12)
    assert len(win) == 4
    win.reset()
    assert win.value == 0.0 and win.push(2.5) == 2.5


@pytest.mark.parametrize("w", [0, -1, 2.5, True, 10_000])
def test_bad_window_is_refused(w):
    with pytest.raises(ValueError, match="window"):
        RollingWindowSum(w)
