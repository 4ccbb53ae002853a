"""Wire format of the monitor features and the pairing of the two messages of a planner step."""

import numpy as np
import pytest

from policy_runtime.fiper.messages import (
    LayoutDim,
    MessageFormatError,
    decode_chunks,
    decode_embedding,
    decode_scores,
    encode_chunks,
    encode_embedding,
    encode_scores,
)
from policy_runtime.fiper.pairing import StepPairer


def test_round_trip_and_ros_conventions():
    rng = np.random.default_rng(0)
    emb, ch = rng.normal(size=12).astype(np.float32), rng.normal(size=(5, 4, 3)).astype(np.float32)
    dims, data = encode_embedding(41, emb)
    assert [(d.label, d.size, d.stride) for d in dims] == [("planner_step=41", 1, 12), ("embedding", 12, 12)]
    step, back = decode_embedding(dims, data.tolist())
    assert step == 41 and np.array_equal(back, emb)
    dims, data = encode_chunks(7, ch)
    assert [d.stride for d in dims] == [60, 60, 12, 3] and [d.size for d in dims] == [1, 5, 4, 3]
    step, back = decode_chunks(dims, data)
    assert step == 7 and np.array_equal(back, ch)
    step, vals = decode_scores(*encode_scores(3, 0.5, 1.0, 2.0, 3.0))
    assert step == 3 and vals.tolist() == [0.5, 1.0, 2.0, 3.0]


def _dims(*spec):
    return [LayoutDim(*s) for s in spec]


@pytest.mark.parametrize(
    ("dims", "n", "offset", "match"),
    [
        (_dims(("embedding", 4, 4)), 4, 0, "expected dims"),
        (_dims(("step=1", 1, 4), ("embedding", 4, 4)), 4, 0, "first dim must be 'planner_step=<k>'"),
        (_dims(("planner_step=x", 1, 4), ("embedding", 4, 4)), 4, 0, "first dim"),
        (_dims(("planner_step=1", 1, 4), ("features", 4, 4)), 4, 0, "dim labels"),
        (_dims(("planner_step=1", 1, 4), ("embedding", 4, 1)), 4, 0, "stride 1, expected 4"),
        (_dims(("planner_step=1", 1, 4), ("embedding", 4, 4)), 3, 0, "needs 4 values, got 3"),
        (_dims(("planner_step=1", 1, 4), ("embedding", 4, 4)), 4, 2, "data_offset must be 0"),
    ],
)
def test_malformed_embedding_messages_are_refused(dims, n, offset, match):
    with pytest.raises(MessageFormatError, match=match):
        decode_embedding(dims, np.zeros(n), offset)


def test_encode_refuses_wrong_shapes():
    with pytest.raises(ValueError, match=r"\[B, H, 3\]"):
        encode_chunks(0, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="non-negative integer"):
        encode_embedding(-1, np.zeros(3))


def test_pairer_pairs_by_step_in_either_order():
    p = StepPairer()
    assert p.add_embedding(0, "e0") is None
    pair = p.add_chunks(0, "c0")
    assert (pair.step, pair.embedding, pair.chunks, pair.restarted) == (0, "e0", "c0", False)
    assert p.add_chunks(1, "c1") is None
    assert p.add_embedding(2, "e2") is None  # step 1's embedding lost: step 2 waits for its chunks
    pair = p.add_embedding(1, "e1")
    assert (pair.embedding, pair.chunks) == ("e1", "c1")
    pair = p.add_chunks(2, "c2")
    assert (pair.step, pair.embedding) == (2, "e2")


def test_pairer_drops_stale_and_unmatched_halves():
    p = StepPairer(max_pending=2)
    p.add_embedding(5, "e5")
    p.add_chunks(5, "c5")
    assert p.add_chunks(4, "late") is None and p.dropped == 1  # older than the last paired step
    for k in (6, 7, 8):
        p.add_embedding(k, f"e{k}")  # chunks never come for 6; only 2 pending kept
    assert p.dropped == 2 and p.add_chunks(6, "c6") is None
    assert p.add_chunks(8, "c8").embedding == "e8"
    assert p.add_chunks(7, "c7") is None  # 7 is now older than the last pair


def test_pairer_detects_a_policy_restart():
    p = StepPairer(max_pending=2)
    for k in range(10):
        p.add_embedding(k, k)
        p.add_chunks(k, k)
    assert p.add_embedding(0, "new") is None and p.restarts == 1
    pair = p.add_chunks(0, "newc")
    assert pair.restarted and pair.embedding == "new"
    p.add_embedding(1, 1)
    assert not p.add_chunks(1, 1).restarted
