"""RND: higher off-distribution, ONNX graph equal to the torch module, corrupt files refused."""

import math
from dataclasses import replace

import numpy as np
import pytest

from policy_runtime.fiper.rnd import RNDConfig, RNDOnnxScorer, build_rnd, export_rnd_onnx, torch_scores, train_rnd
from tests.fiper.conftest import SMALL_RND
from tests.fiper.synthetic import D, in_dist_embeddings, ood_embeddings


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A briefly trained pair: enough for graph parity (the fully trained one is `calibrated`'s)."""
    rng = np.random.default_rng(0)
    model = train_rnd(in_dist_embeddings(500, rng), replace(SMALL_RND, steps=30))
    path = export_rnd_onnx(model, tmp_path_factory.mktemp("rnd") / "rnd.onnx")
    return model, path


def test_score_is_higher_off_distribution(calibrated):
    scorer = RNDOnnxScorer(calibrated.artifacts.rnd_path)
    rng = np.random.default_rng(99)  # held-out draws, never trained on
    held_out = scorer.score(in_dist_embeddings(500, rng))
    ood = scorer.score(ood_embeddings(500, rng))
    assert np.percentile(ood, 5) > np.percentile(held_out, 95)
    assert np.median(ood) > 20 * np.median(held_out)


def test_onnx_graph_matches_torch(trained):
    model, path = trained
    rng = np.random.default_rng(5)
    x = np.concatenate([in_dist_embeddings(64, rng), ood_embeddings(64, rng, scale=10.0)])
    np.testing.assert_allclose(RNDOnnxScorer(path).score(x), torch_scores(model, x), rtol=1e-4, atol=1e-7)
    assert RNDOnnxScorer(path).score(x[0]).shape == (1,)  # one embedding [D] -> [1]


def test_target_is_frozen_orthogonal_and_predictor_deeper(trained):
    model, _ = trained
    fresh = build_rnd(D, np.zeros(D), np.ones(D), SMALL_RND)
    for a, b in zip(model.target.parameters(), fresh.target.parameters(), strict=True):
        assert not a.requires_grad
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())  # untouched by training
    w = fresh.target[0].weight.detach().numpy()  # [64, D]: orthonormal columns scaled by sqrt(2)
    np.testing.assert_allclose(w.T @ w, 2.0 * np.eye(D), atol=1e-5)
    n_linear = [sum(1 for m in net if hasattr(m, "weight")) for net in (model.target, model.predictor)]
    assert n_linear[1] > n_linear[0]
    with pytest.raises(ValueError, match="deeper"):
        RNDConfig(target_hidden=(64, 64), predictor_hidden=(64,))
    assert math.isfinite(float(torch_scores(model, in_dist_embeddings(1, np.random.default_rng(1)))[0]))


def test_corrupt_or_wrong_model_files_are_refused(tmp_path, trained):
    _, path = trained
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"truncated\.onnx is corrupt"):
        RNDOnnxScorer(truncated)
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx"):
        RNDOnnxScorer(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match=f"dimension {D + 1}, the monitor expects {D}"):
        RNDOnnxScorer(path).score(np.zeros((2, D + 1), np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        RNDOnnxScorer(path).score(np.full((1, D), np.nan, np.float32))
