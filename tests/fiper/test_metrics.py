import math

import pytest

from policy_runtime.fiper.metrics import RolloutOutcome, detection_metrics, first_alarm


def test_metrics_on_a_hand_computed_example():
    outcomes = [
        RolloutOutcome(True, 2, 10),  # DT 0.2
        RolloutOutcome(True, 4, 10),  # DT 0.4
        RolloutOutcome(True, 12, 20),  # DT 0.6
        RolloutOutcome(True, None, 10),  # missed failure
        RolloutOutcome(False, 3, 10),  # false alarm
        *[RolloutOutcome(False, None, 10) for _ in range(4)],
    ]
    m = detection_metrics(outcomes)
    assert (m.n_fail, m.n_succ, m.tp, m.tn) == (4, 5, 3, 4)
    assert m.tpr == pytest.approx(0.75) and m.tnr == pytest.approx(0.8)
    assert m.accuracy == pytest.approx(0.775)
    assert m.detection_time == pytest.approx(0.4)
    assert m.twa == pytest.approx(0.5 * ((0.8 + 0.6 + 0.4) / 4 + 0.8))


def test_late_detection_lowers_twa_not_accuracy():
    early = detection_metrics([RolloutOutcome(True, 1, 10), RolloutOutcome(False, None, 10)])
    late = detection_metrics([RolloutOutcome(True, 9, 10), RolloutOutcome(False, None, 10)])
    assert early.accuracy == late.accuracy == 1.0
    assert early.twa > late.twa


def test_undefined_rates_are_nan_and_bad_outcomes_refused():
    m = detection_metrics([RolloutOutcome(False, None, 5)])
    assert math.isnan(m.tpr) and m.tnr == 1.0
    with pytest.raises(ValueError, match="outside"):
        RolloutOutcome(True, 5, 5)
    assert first_alarm([False, False, True, True]) == 2 and first_alarm([False]) is None
