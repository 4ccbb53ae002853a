"""Parameter overrides in the standard ROS 2 parameter-file format, checked against the graph.

    franka:                 # node name (a leading '/' and '/**' wildcards are accepted)
      ros__parameters:
        robot_ip: "172.16.0.2"

Every override is checked before anything starts: the node must be in the profile, the key must be
one of the node's parameters, and the value must have the default's type (an int is accepted for a
float). Errors are one line and name the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rstack import graph

WILDCARDS = ("/**", "**")


class ParamError(ValueError):
    """A bad parameter file or value; the message is one line naming the file and key."""


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return type(v).__name__


def coerce(default: Any, value: Any, where: str) -> Any:
    """`value` converted to the type of `default`, or ParamError naming `where`."""

    def bad() -> ParamError:
        return ParamError(f"{where}: expected {_type_name(default)}, got {_type_name(value)} {value!r}")

    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise bad()
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad()
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise bad()
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise bad()
    if isinstance(default, list):
        if not isinstance(value, list):
            raise bad()
        if not default:
            return list(value)
        return [coerce(default[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise bad()


def load_overrides(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a ROS 2 parameter file: {node name or wildcard: {param: value}}."""
    p = Path(path)
    if not p.is_file():
        raise ParamError(f"{p}: parameter file not found")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParamError(f"{p}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ParamError(f"{p}: expected a mapping of node names to 'ros__parameters', got {_type_name(doc)}")
    out: dict[str, dict[str, Any]] = {}
    for node, body in doc.items():
        if not isinstance(body, dict) or "ros__parameters" not in body:
            raise ParamError(f"{p}: {node}: expected a 'ros__parameters' mapping")
        params = body["ros__parameters"]
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ParamError(f"{p}: {node}.ros__parameters: expected a mapping, got {_type_name(params)}")
        key = str(node)
        key = key if key in WILDCARDS else key.lstrip("/")
        out[key] = params
    return out


def resolve(
    profile: graph.Profile, overrides: dict[str, dict[str, Any]] | None = None, source: str = "params"
) -> dict[str, dict[str, Any]]:
    """Final parameters of every node of `profile`: kind defaults < profile < wildcard < per-node override."""
    overrides = overrides or {}
    names = profile.node_names()
    for node in overrides:
        if node not in WILDCARDS and node not in names:
            raise ParamError(f"{source}: node {node!r} is not in profile {profile.name!r} (nodes: {', '.join(names)})")
    result: dict[str, dict[str, Any]] = {}
    for inst in profile.nodes:
        params = {"use_sim_time": profile.sim_time, **inst.merged_parameters()}  # rclpy's own, set per profile
        for key in (*WILDCARDS, inst.name):
            for k, v in overrides.get(key, {}).items():
                where = f"{source}: {key}.ros__parameters.{k}"
                if k not in params:
                    if key in WILDCARDS:
                        continue  # a wildcard key applies only to the nodes that have it
                    raise ParamError(f"{where}: unknown parameter (known: {', '.join(sorted(params))})")
                params[k] = coerce(params[k], v, where)
        result[inst.name] = params
    return result


def params_file_text(node_name: str, params: dict[str, Any]) -> str:
    """A ROS 2 parameter file for one node."""
    return yaml.safe_dump({node_name: {"ros__parameters": params}}, sort_keys=True)
