"""The bundle loader rejects damaged bundles with an error naming the file and what is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from policy_runtime.engine.bundle import BundleError, load_bundle
from policy_runtime.engine.policy_engine import PolicyEngine
from policy_runtime.engine.providers import select_providers


@pytest.fixture
def copy(bundle_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle_dir, tmp_path / "bundle"))


def _manifest(root: Path) -> dict:
    return json.loads((root / "bundle.json").read_text())


def test_intact_bundle_loads(copy: Path) -> None:
    bundle = load_bundle(copy)
    assert set(bundle.graphs) == {"obs_encoder", "denoiser", "decoder_step", "decoder_chunk", "tokenizer_encoder"}
    assert bundle.manifest["normalizer"]["applied_in_graphs"] is True


def test_truncated_onnx_is_rejected(copy: Path) -> None:
    f = copy / "denoiser.onnx"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(BundleError, match=r"denoiser\.onnx.*truncated"):
        load_bundle(copy)


def test_wrong_sha256_is_rejected(copy: Path) -> None:
    f = copy / "decoder_step.onnx"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    f.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"decoder_step\.onnx.*sha256 mismatch"):
        load_bundle(copy)


def test_missing_file_is_rejected(copy: Path) -> None:
    (copy / "obs_encoder.onnx").unlink()
    with pytest.raises(BundleError, match=r"obs_encoder\.onnx.*missing"):
        load_bundle(copy)


def test_schema_version_mismatch_is_rejected(copy: Path) -> None:
    m = _manifest(copy)
    m["schema_version"] = 99
    (copy / "bundle.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=r"bundle\.json.*schema_version 99"):
        load_bundle(copy)


def test_corrupt_manifest_is_rejected(copy: Path) -> None:
    (copy / "bundle.json").write_text('{"schema": ')
    with pytest.raises(BundleError, match=r"bundle\.json.*not valid JSON"):
        load_bundle(copy)


def test_graph_io_mismatch_is_rejected(copy: Path) -> None:
    """A manifest whose shapes disagree with the graph (e.g. a bundle.json from another model)."""
    m = _manifest(copy)
    m["graphs"]["denoiser"]["inputs"][0]["shape"][2] += 1
    (copy / "bundle.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=r"denoiser\.onnx.*input 'sample' has shape"):
        load_bundle(copy)


def test_garbage_with_matching_hash_is_rejected_by_onnxruntime(copy: Path) -> None:
    """A replaced file whose size and sha256 were also rewritten still fails, naming the file."""
    from policy_runtime.engine.bundle import sha256_file

    f = copy / "decoder_chunk.onnx"
    f.write_bytes(b"not an onnx model" * 10)
    m = _manifest(copy)
    m["graphs"]["decoder_chunk"].update(bytes=f.stat().st_size, sha256=sha256_file(f))
    (copy / "bundle.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=r"decoder_chunk\.onnx.*onnxruntime cannot load"):
        load_bundle(copy)


def test_provider_selection_reports_cpu_and_rejects_unavailable() -> None:
    assert select_providers()[-1] == "CPUExecutionProvider"
    with pytest.raises(ValueError, match="not available"):
        select_providers(["NoSuchExecutionProvider"])


def test_engine_refuses_damaged_bundle(copy: Path) -> None:
    (copy / "decoder_step.onnx").unlink()
    with pytest.raises(BundleError, match=r"decoder_step\.onnx"):
        PolicyEngine(copy)
