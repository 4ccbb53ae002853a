import numpy as np
import pytest

from policy_runtime.fiper.rule import Rule, combine, fired_label

TRUTH = [(False, False), (True, False), (False, True), (True, True)]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (Rule.AND, [False, False, False, True]),
        (Rule.OR, [False, True, True, True]),
        (Rule.RND, [False, True, False, True]),
        (Rule.ACE, [False, False, True, True]),
    ],
)
def test_rule_truth_tables(rule, expected):
    assert [combine(rule, r, a) for r, a in TRUTH] == expected
    r, a = np.array(TRUTH).T
    np.testing.assert_array_equal(combine(rule, r, a), expected)


def test_and_rule_ignores_a_benign_ood_situation():
    # RND alone says "out of distribution" for a whole rollout, the policy stays decisive: no alarm.
    rnd = np.ones(20, dtype=bool)
    ace = np.zeros(20, dtype=bool)
    assert not combine(Rule.AND, rnd, ace).any()
    assert combine(Rule.OR, rnd, ace).all()


def test_rule_parse_and_labels():
    assert Rule.parse(" AND ") is Rule.AND and Rule.parse("ace") is Rule.ACE
    with pytest.raises(ValueError, match="unknown alarm rule 'xor'"):
        Rule.parse("xor")
    assert [fired_label(r, a) for r, a in TRUTH] == ["none", "rnd", "ace", "rnd+ace"]
