"""`rstack up --profile NAME [--params FILE]`: start every node of a profile, stop them all together."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="start every node of a profile (robot, teleop, sim) in its own process")
    p.add_argument("--profile", required=True, help="profile from the graph description (robot, teleop, sim)")
    p.add_argument("--params", default=None, help="ROS 2 parameter file (YAML) with overrides")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rstack.launcher import up

    return up(args.profile, params_file=args.params, duration_s=args.duration)
