"""`rstack collect --profile sim --episodes N`: record N demonstrations end to end through ROS.

In sim the scripted expert is the operator: it drives the arm through /franka/target_pose while the
recorder node writes one MCAP file per episode, finalized as success or failure by the sim's own outcome.
On the robot, collection is `rstack up --profile teleop` with the teleop keys (B start, S/F stop, X discard).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("collect", help="record N sim demonstrations (scripted expert) as MCAP episodes through ROS")
    p.add_argument("--profile", default="sim", choices=["sim"], help="sim only; on the robot use the teleop profile")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--out", default="runs/episodes", help="episode directory (MCAP files + index.json)")
    p.add_argument("--scenario", default="nominal")
    p.add_argument("--seed", type=int, default=0, help="base seed; episode i draws from (seed, i)")
    p.add_argument("--host", default="", help="loopback address for the sim server (default: random 127.x.y.z)")
    p.add_argument("--log", default="", help="write the started nodes' output to this file")
    p.add_argument("--json", default="", help="write the per-episode outcomes to this JSON file")
    p.add_argument("--no-cameras", action="store_true", help="record without camera images (faster on a CPU)")
    p.add_argument("--camera-size", default="", help="sim camera size WxH (default 320x240; policies train on 64x48)")
    p.set_defaults(func=run, attach=False)


def run(args: argparse.Namespace) -> int:
    from rstack.commands.sim import expert_session

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    code = expert_session(args, "rstack collect", record_dir=out)
    print(f"episodes in {out} (index: {out / 'index.json'})")
    return code
