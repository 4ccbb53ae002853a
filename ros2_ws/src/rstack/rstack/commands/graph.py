"""`rstack graph [--profile NAME] [--markdown]`: show the ROS interface of the stack."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graph", help="list nodes, topics, types and QoS (or write docs/interfaces.md with --markdown)")
    p.add_argument("--profile", default=None, help="only this profile")
    p.add_argument("--markdown", action="store_true", help="print the interface document (docs/interfaces.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rstack import graph
    from rstack.interfaces_doc import interfaces_markdown

    if args.markdown:
        print(interfaces_markdown(), end="")
        return 0
    try:
        profiles = [graph.profile(args.profile)] if args.profile else list(graph.PROFILES.values())
    except ValueError as exc:
        print(f"rstack graph: error: {exc}")
        return 2
    for prof in profiles:
        print(f"profile {prof.name}: {prof.doc}")
        for inst in prof.nodes:
            print(f"  node {inst.name} ({inst.kind.executable}){'' if inst.required else ' [optional]'}")
        for name in prof.topic_names():
            t = next(t for t in graph.TOPICS if name in graph.expand(t, prof))
            print(f"  topic {name:40s} {t.msg_type:38s} qos={t.qos}")
    return 0
