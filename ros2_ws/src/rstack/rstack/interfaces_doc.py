"""Generate docs/interfaces.md from the graph description (a test keeps the committed file in sync)."""

from __future__ import annotations

from rstack import graph


def _qos_text(name: str) -> str:
    q = graph.QOS_PROFILES[name]
    return f"{name} ({q['reliability']}, {q['durability']}, depth {q['depth']})"


def interfaces_markdown() -> str:
    """The whole ROS interface of the stack as Markdown."""
    lines = [
        "# ROS interfaces",
        "",
        "Generated from `ros2_ws/src/rstack/rstack/graph.py` by `make docs` (`rstack graph --markdown`);",
        "do not edit by hand. `{name}` in a topic is a camera or tactile sensor name from the profile.",
        "",
        "## QoS profiles",
        "",
        "| profile | reliability | durability | depth |",
        "|---|---|---|---|",
    ]
    for name, q in graph.QOS_PROFILES.items():
        lines.append(f"| {name} | {q['reliability']} | {q['durability']} | {q['depth']} |")
    lines += ["", "## Topics", "", "| topic | type | QoS | meaning |", "|---|---|---|---|"]
    for t in graph.TOPICS:
        lines.append(f"| `{t.name}` | `{t.msg_type}` | {t.qos} | {t.doc} |")
    lines += ["", "## Services", "", "| service | type | meaning |", "|---|---|---|"]
    for s in graph.SERVICES:
        lines.append(f"| `{s.name}` | `{s.srv_type}` | {s.doc} |")
    lines += ["", "## Nodes", ""]
    for k in graph.NODE_KINDS:
        lines += [f"### `{k.executable}`", "", k.doc, ""]
        for label, items in (
            ("publishes", k.publishes),
            ("subscribes", k.subscribes),
            ("serves", k.serves),
            ("calls", k.calls),
        ):
            if items:
                lines.append(f"- {label}: " + ", ".join(f"`{i.name}`" for i in items))
        if k.parameters:
            lines.append("- parameters (defaults): " + ", ".join(f"`{n}`={v!r}" for n, v in k.parameters.items()))
        lines.append("")
    lines += ["## Profiles", ""]
    for p in graph.PROFILES.values():
        lines += [f"### {p.name}", "", p.doc, ""]
        lines.append("| node | executable | required | parameters over the defaults |")
        lines.append("|---|---|---|---|")
        for n in p.nodes:
            over = ", ".join(f"`{k}`={v!r}" for k, v in n.parameters.items()) or "-"
            lines.append(f"| {n.name} | `{n.kind.executable}` | {'yes' if n.required else 'no'} | {over} |")
        lines += ["", "Topics: " + ", ".join(f"`{t}`" for t in p.topic_names()), ""]
    return "\n".join(lines).rstrip() + "\n"
