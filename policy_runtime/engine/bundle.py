"""The policy bundle: a directory of ONNX graphs + ``bundle.json``, and its verifying loader.

``bundle.json`` holds the schema version, every graph's file, byte size, sha256 and input/output
names, dtypes and shapes (``"B"``/``"T"`` mark dynamic axes), the model shapes, rates, diffusion
level table and alphas, and the normalizer statistics (already applied inside the graphs; kept for
inspection and for checking recorded data). `load_bundle` verifies all of it and raises
`BundleError` naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "rstack.policy_bundle"
SCHEMA_VERSION = 1
MANIFEST = "bundle.json"
# The bundled default policy (committed; trained by `rstack pipeline` on sim demos): `rstack demo` runs it.
DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "wipe_sim"
GRAPHS = ("obs_encoder", "denoiser", "decoder_step", "decoder_chunk", "tokenizer_encoder")
ONNX_DTYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(int64)": "int64"}


class BundleError(ValueError):
    """A bundle file is missing, corrupt, truncated or does not match bundle.json."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy dtype name
    shape: tuple[int | str, ...]  # ints, or a symbol for a dynamic axis

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TensorSpec:
        return cls(d["name"], d["dtype"], tuple(d["shape"]))


@dataclass(frozen=True)
class GraphSpec:
    name: str
    path: Path
    sha256: str
    size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True)
class PolicyBundle:
    """A verified bundle: graph specs + the manifest's model description."""

    root: Path
    manifest: dict[str, Any]
    graphs: dict[str, GraphSpec]

    @property
    def cameras(self) -> list[str]:
        return list(self.manifest["shapes"]["cameras"])

    @property
    def shapes(self) -> dict[str, Any]:
        return self.manifest["shapes"]

    @property
    def rates(self) -> dict[str, float]:
        return self.manifest["rates"]

    @property
    def level_timesteps(self) -> np.ndarray:
        return np.asarray(self.manifest["diffusion"]["level_timesteps"], dtype=np.int64)

    @property
    def alphas_cumprod(self) -> np.ndarray:
        return np.asarray(self.manifest["diffusion"]["alphas_cumprod"], dtype=np.float64)


def _fail(path: Path, what: str) -> BundleError:
    return BundleError(f"policy bundle file {path}: {what}")


def verify_session_io(session: Any, spec: GraphSpec) -> None:
    """Check an onnxruntime session's inputs/outputs against bundle.json (names, dtypes, shapes)."""
    for kind, actual, expected in (
        ("input", session.get_inputs(), spec.inputs),
        ("output", session.get_outputs(), spec.outputs),
    ):
        got = [a.name for a in actual]
        want = [e.name for e in expected]
        if got != want:
            raise _fail(spec.path, f"{kind} names {got} do not match bundle.json {want}")
        for a, e in zip(actual, expected, strict=True):
            dtype = ONNX_DTYPES.get(a.type, a.type)
            if dtype != e.dtype:
                raise _fail(spec.path, f"{kind} {a.name!r} has dtype {dtype}, bundle.json says {e.dtype}")
            shape = [d if isinstance(d, int) else "?" for d in a.shape]
            want_shape = [d if isinstance(d, int) else "?" for d in e.shape]
            if shape != want_shape:
                raise _fail(spec.path, f"{kind} {a.name!r} has shape {a.shape}, bundle.json says {list(e.shape)}")


def load_bundle(root: str | Path, check_graphs: bool = True) -> PolicyBundle:
    """Read and verify a bundle directory.

    Checks, in order: the manifest parses, schema and version match, every graph file is present,
    has the recorded byte size (else: truncated/extended), the recorded sha256 (else: corrupt or
    replaced), and (``check_graphs``) loads in onnxruntime with the recorded input/output names,
    dtypes and shapes.
    """
    root = Path(root)
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"policy bundle {root}: not a directory")
    if not manifest_path.is_file():
        raise _fail(manifest_path, "missing")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _fail(manifest_path, f"not valid JSON ({e})") from e
    if manifest.get("schema") != SCHEMA:
        raise _fail(manifest_path, f"schema is {manifest.get('schema')!r}, expected {SCHEMA!r}")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise _fail(
            manifest_path,
            f"schema_version {manifest.get('schema_version')!r} is not supported (this runtime reads {SCHEMA_VERSION})",
        )
    graphs: dict[str, GraphSpec] = {}
    for name in GRAPHS:
        entry = manifest.get("graphs", {}).get(name)
        if entry is None:
            raise _fail(manifest_path, f"graph {name!r} is not listed")
        path = root / entry["file"]
        spec = GraphSpec(
            name=name,
            path=path,
            sha256=entry["sha256"],
            size=int(entry["bytes"]),
            inputs=tuple(TensorSpec.from_json(t) for t in entry["inputs"]),
            outputs=tuple(TensorSpec.from_json(t) for t in entry["outputs"]),
        )
        if not path.is_file():
            raise _fail(path, f"missing (graph {name!r} listed in {manifest_path.name})")
        size = path.stat().st_size
        if size != spec.size:
            state = "truncated" if size < spec.size else "longer than recorded"
            raise _fail(path, f"{state}: {size} bytes, bundle.json records {spec.size}")
        digest = sha256_file(path)
        if digest != spec.sha256:
            raise _fail(path, f"sha256 mismatch: file has {digest[:16]}..., bundle.json records {spec.sha256[:16]}...")
        graphs[name] = spec
    bundle = PolicyBundle(root, manifest, graphs)
    if check_graphs:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        for spec in graphs.values():
            try:
                sess = ort.InferenceSession(str(spec.path), opts, providers=["CPUExecutionProvider"])
            except Exception as e:  # onnxruntime raises its own exception types
                raise _fail(spec.path, f"onnxruntime cannot load it: {e}") from e
            verify_session_io(sess, spec)
    return bundle
