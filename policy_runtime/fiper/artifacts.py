"""Monitor artifacts on disk, tied to the policy they were calibrated for.

A monitor directory holds:
- `rnd.onnx`: the RND graph (embedding [N, D] -> score [N]);
- `fiper_monitor.json`: schema name and version, the policy's identity (fingerprint and embedding
  dim), the RND file's sha256 and config, the ACE grid (cell fraction, calibration range, cell size,
  number of samples B and horizon H it was calibrated with), the calibration settings (M, delta,
  window) and the thresholds (constant, time-varying, the band when calibrated with one, and the per-rollout
  maxima they came from).

Policy identity: the fingerprint of a policy bundle directory is the sha256 over the relative paths and
contents of every `*.onnx` / `*.onnx.data` file in it (recursively; the graphs carry the weights and
the normalizers), skipping any folder that holds a monitor (so a monitor may live inside its bundle).
Re-exporting the same weights to identical graphs keeps the identity; a retrained policy changes it.
The bundle may declare the size of what it publishes on /policy/embedding as `embedding_dim` in a
top-level JSON file (e.g. `bundle.json`, at any depth); when it does, it is checked too.
Loading a monitor for a different policy, a truncated/edited RND file or an unknown schema raises
`ArtifactError` naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from policy_runtime.engine.bundle import sha256_file

SCHEMA = "rstack.fiper.monitor"
SCHEMA_VERSION = 1
MONITOR_JSON = "fiper_monitor.json"
RND_ONNX = "rnd.onnx"


class ArtifactError(ValueError):
    """A monitor artifact is missing, corrupt, or does not belong to the given policy."""


@dataclass(frozen=True)
class PolicyIdentity:
    fingerprint: str
    embedding_dim: int | None


@dataclass(frozen=True)
class IndicatorThresholds:
    """Calibrated thresholds of one indicator's windowed score."""

    constant: float
    time_varying: tuple[float, ...] = ()
    rollout_maxima: tuple[float, ...] = ()
    band: tuple[float, ...] = ()  # calibrated with the band option: used instead of the constant threshold

    def at(self, step: int, time_varying: bool) -> float:
        """Threshold at a 0-based step: per-step when `time_varying` (past its horizon, the default); by default the
        band when calibrated with one (past its horizon, its last value), else the constant threshold."""
        if time_varying and 0 <= step < len(self.time_varying):
            return self.time_varying[step]
        if self.band:
            return self.band[min(max(step, 0), len(self.band) - 1)]
        return self.constant

    def describe(self) -> str:
        """The default threshold in a few characters: '0.82', or 'band 0.25..2.34' over the steps."""
        return f"band {min(self.band):.4g}..{max(self.band):.4g}" if self.band else f"{self.constant:.4g}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "constant": self.constant,
            "time_varying": list(self.time_varying),
            "rollout_maxima": list(self.rollout_maxima),
            "band": list(self.band),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndicatorThresholds:
        return cls(
            float(d["constant"]),
            tuple(map(float, d["time_varying"])),
            tuple(map(float, d["rollout_maxima"])),
            tuple(map(float, d.get("band", ()))),
        )


@dataclass(frozen=True)
class MonitorArtifacts:
    """Everything the run-time monitor needs besides the RND graph itself."""

    policy: PolicyIdentity
    embedding_dim: int
    num_rollouts: int
    delta: float
    window: int
    ace_cell_fraction: float
    ace_calibration_range: tuple[float, float, float]
    ace_cell_size: tuple[float, float, float]
    ace_num_samples: int
    ace_horizon: int
    rnd: IndicatorThresholds
    ace: IndicatorThresholds
    rnd_config: dict[str, Any] = field(default_factory=dict)
    rnd_sha256: str = ""
    num_train_embeddings: int = 0
    directory: Path | None = None

    @property
    def rnd_path(self) -> Path:
        if self.directory is None:
            raise ArtifactError("these monitor artifacts were not loaded from or saved to a directory")
        return self.directory / RND_ONNX

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "policy": {"fingerprint": self.policy.fingerprint, "embedding_dim": self.embedding_dim},
            "rnd": {
                "file": RND_ONNX,
                "sha256": self.rnd_sha256,
                "config": self.rnd_config,
                "num_train_embeddings": self.num_train_embeddings,
            },
            "ace": {
                "cell_fraction": self.ace_cell_fraction,
                "calibration_range": list(self.ace_calibration_range),
                "cell_size": list(self.ace_cell_size),
                "num_samples": self.ace_num_samples,
                "horizon": self.ace_horizon,
            },
            "calibration": {"num_rollouts": self.num_rollouts, "delta": self.delta, "window": self.window},
            "thresholds": {"rnd": self.rnd.as_dict(), "ace": self.ace.as_dict()},
        }


# ---------------------------------------------------------------------------- policy identity


def _find_key(obj: Any, key: str) -> list[Any]:
    if isinstance(obj, dict):
        found = [obj[key]] if key in obj else []
        for v in obj.values():
            found += _find_key(v, key)
        return found
    if isinstance(obj, list):
        return [x for v in obj for x in _find_key(v, key)]
    return []


def policy_identity(bundle_dir: str | Path) -> PolicyIdentity:
    """Fingerprint and declared embedding dim of a policy bundle directory (see the module docstring)."""
    root = Path(bundle_dir)
    if not root.is_dir():
        raise ArtifactError(f"policy bundle {root} is not a directory")
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if MONITOR_JSON in filenames and Path(dirpath) != root:
            dirnames[:] = []
            continue
        dirnames.sort()
        here = Path(dirpath)
        files += [here / name for name in sorted(filenames) if name.endswith((".onnx", ".onnx.data"))]
    if not any(f.name.endswith(".onnx") for f in files):
        raise ArtifactError(f"policy bundle {root} holds no .onnx file")
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + sha256_file(f).encode() + b"\0")
    dims: set[int] = set()
    for f in sorted(root.glob("*.json")):
        try:
            doc = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"policy bundle file {f} is not valid JSON: {exc}") from exc
        dims.update(int(v) for v in _find_key(doc, "embedding_dim") if isinstance(v, (int, float)))
    if len(dims) > 1:
        raise ArtifactError(f"policy bundle {root} declares conflicting embedding_dim values {sorted(dims)}")
    return PolicyIdentity("sha256:" + h.hexdigest(), dims.pop() if dims else None)


# ---------------------------------------------------------------------------- save / load
def save_artifacts(art: MonitorArtifacts, out_dir: str | Path, rnd_onnx: str | Path) -> MonitorArtifacts:
    """Copy the RND graph into `out_dir`, write the JSON next to it (atomically); return the saved copy."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = Path(rnd_onnx)
    dst = out / RND_ONNX
    if src.resolve() != dst.resolve():
        tmp = dst.with_suffix(".onnx.tmp")
        tmp.write_bytes(src.read_bytes())
        os.replace(tmp, dst)
    saved = replace(art, rnd_sha256=sha256_file(dst), directory=out)
    tmp_json = out / (MONITOR_JSON + ".tmp")
    tmp_json.write_text(json.dumps(saved.to_json(), indent=2) + "\n")
    os.replace(tmp_json, out / MONITOR_JSON)
    return saved


def _triple(v: Any, what: str) -> tuple[float, float, float]:
    a = np.asarray(v, dtype=np.float64)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise ArtifactError(f"{what} must be 3 finite numbers, got {v!r}")
    return (float(a[0]), float(a[1]), float(a[2]))


def load_artifacts(monitor_dir: str | Path, policy_dir: str | Path | None = None) -> MonitorArtifacts:
    """Read and check a monitor directory; with `policy_dir`, refuse a monitor made for another policy."""
    root = Path(monitor_dir)
    meta_path = root / MONITOR_JSON
    if not meta_path.is_file():
        raise ArtifactError(f"monitor directory {root} has no {MONITOR_JSON} (run `rstack fiper calibrate`)")
    try:
        doc = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{meta_path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ArtifactError(f"{meta_path} is not a FIPER monitor file (schema {doc.get('schema')!r})")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(
            f"{meta_path} has schema version {doc.get('schema_version')!r}; this code reads version "
            f"{SCHEMA_VERSION}: re-run `rstack fiper calibrate`"
        )
    try:
        cal, ace, rnd, pol, thr = doc["calibration"], doc["ace"], doc["rnd"], doc["policy"], doc["thresholds"]
        art = MonitorArtifacts(
            policy=PolicyIdentity(str(pol["fingerprint"]), int(pol["embedding_dim"])),
            embedding_dim=int(pol["embedding_dim"]),
            num_rollouts=int(cal["num_rollouts"]),
            delta=float(cal["delta"]),
            window=int(cal["window"]),
            ace_cell_fraction=float(ace["cell_fraction"]),
            ace_calibration_range=_triple(ace["calibration_range"], "ace.calibration_range"),
            ace_cell_size=_triple(ace["cell_size"], "ace.cell_size"),
            ace_num_samples=int(ace["num_samples"]),
            ace_horizon=int(ace["horizon"]),
            rnd=IndicatorThresholds.from_dict(thr["rnd"]),
            ace=IndicatorThresholds.from_dict(thr["ace"]),
            rnd_config=dict(rnd.get("config", {})),
            rnd_sha256=str(rnd["sha256"]),
            num_train_embeddings=int(rnd.get("num_train_embeddings", 0)),
            directory=root,
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"{meta_path} is missing or has a malformed field: {exc!r}") from exc
    for name, t in (("rnd", art.rnd), ("ace", art.ace)):
        vals = (t.constant, *t.time_varying, *t.band)
        if not all(np.isfinite(vals)):
            raise ArtifactError(f"{meta_path}: the {name} thresholds contain non-finite values")
    if not art.rnd_path.is_file():
        raise ArtifactError(f"monitor directory {root} has no {RND_ONNX}")
    actual = sha256_file(art.rnd_path)
    if actual != art.rnd_sha256:
        raise ArtifactError(
            f"{art.rnd_path} does not match {MONITOR_JSON} (sha256 {actual[:12]}... != "
            f"{art.rnd_sha256[:12]}...): the file is truncated, edited, or from another calibration"
        )
    if policy_dir is not None:
        check_policy_match(art, policy_identity(policy_dir), str(policy_dir))
    return art


def check_policy_match(art: MonitorArtifacts, ident: PolicyIdentity, where: str = "the policy") -> None:
    """Raise ArtifactError if the monitor was calibrated for another policy than `ident`."""
    if ident.embedding_dim is not None and ident.embedding_dim != art.embedding_dim:
        raise ArtifactError(
            f"monitor {art.directory} expects embedding dim {art.embedding_dim}, but {where} declares "
            f"{ident.embedding_dim}: this monitor belongs to another policy; re-run `rstack fiper calibrate`"
        )
    if ident.fingerprint != art.policy.fingerprint:
        raise ArtifactError(
            f"monitor {art.directory} was calibrated for policy {art.policy.fingerprint[:19]}..., "
            f"but {where} is {ident.fingerprint[:19]}...: a monitor is only valid for the exact policy "
            "it was calibrated on; re-run `rstack fiper calibrate` for this policy"
        )
