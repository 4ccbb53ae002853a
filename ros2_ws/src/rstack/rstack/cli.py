"""`rstack`: the one command-line entry point of the stack.

Each subcommand lives in `rstack/commands/<name>.py` and exposes `register(subparsers)`. Modules are
imported when the CLI starts, so they keep heavy imports (torch, rclpy, mujoco) inside their functions.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

# Order is the order of `rstack --help`. A name whose module does not exist yet is skipped.
COMMANDS = (
    "up",
    "doctor",
    "graph",
    "demo",
    "sim",
    "collect",
    "dataset",
    "train",
    "export",
    "fiper",
    "eval",
    "pipeline",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rstack",
        description="Franka + RealSense + tactile control stack: Reactive Diffusion Policy with a FIPER monitor.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, width=120, max_help_position=16),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module_name = f"rstack.commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
