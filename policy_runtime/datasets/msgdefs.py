"""ROS 2 message definitions as MCAP `ros2msg` schema text, read from the installed `.msg` files (ROS-free).

The text is what rosbag2 writes: the type's own `.msg` followed, for every nested type, by a line of
80 `=`, a `MSG: pkg/Name` line and that type's `.msg`. `.msg` files are looked up as
`<prefix>/share/<pkg>/msg/<Name>.msg` for each prefix in `AMENT_PREFIX_PATH` and `sys.prefix`
(where the ROS 2 wheels install them).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path

PRIMITIVES = frozenset(
    [
        "bool",
        "byte",
        "char",
        "float32",
        "float64",
        "int8",
        "uint8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "string",
        "wstring",
    ]
)
SEPARATOR = "=" * 80


def prefixes() -> list[Path]:
    """Install prefixes searched for `share/<pkg>/msg/*.msg`, in order."""
    out = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    out.append(Path(sys.prefix))
    return out


def split_type(type_name: str) -> tuple[str, str]:
    """`sensor_msgs/msg/Image` or `sensor_msgs/Image` -> (`sensor_msgs`, `Image`)."""
    parts = type_name.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        return parts[0], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"bad ROS message type {type_name!r}: expected 'pkg/msg/Name'")


def msg_file(pkg: str, name: str) -> Path:
    """The `.msg` file of one type, or FileNotFoundError naming where it was looked for."""
    tried = []
    for prefix in prefixes():
        f = prefix / "share" / pkg / "msg" / f"{name}.msg"
        if f.is_file():
            return f
        tried.append(str(f))
    raise FileNotFoundError(f"no message definition for {pkg}/msg/{name}; looked in: {', '.join(tried)}")


def field_types(text: str, pkg: str) -> list[str]:
    """The nested (non-primitive) types a `.msg` text uses, as `pkg/Name`, in order of first use."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        base = re.sub(r"\[.*?\]$", "", line.split()[0])  # T[], T[3], T[<=3]
        base = base.split("<=", 1)[0]  # string<=10
        if base in PRIMITIVES:
            continue
        if "/" in base:
            dep = base
        elif base == "Header":
            dep = "std_msgs/Header"
        else:
            dep = f"{pkg}/{base}"
        if dep not in out:
            out.append(dep)
    return out


@functools.cache
def schema_text(type_name: str) -> str:
    """The full `ros2msg` definition of `type_name` (its `.msg` plus every nested type's, depth first)."""
    pkg, name = split_type(type_name)
    root = msg_file(pkg, name).read_text()
    parts = [root.rstrip("\n")]
    seen: set[str] = set()
    stack = list(reversed(field_types(root, pkg)))
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        dpkg, dname = split_type(dep)
        text = msg_file(dpkg, dname).read_text()
        parts.append(f"{SEPARATOR}\nMSG: {dpkg}/{dname}\n{text.rstrip(chr(10))}")
        stack.extend(reversed(field_types(text, dpkg)))
    return "\n".join(parts) + "\n"


def has_header(text: str) -> bool:
    """Whether a message definition's first field is a `std_msgs/Header` (so its CDR starts with a stamp)."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("MSG:", "===")):
            return False
        return line.split()[0] in ("std_msgs/Header", "Header")
    return False
