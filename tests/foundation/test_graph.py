"""The graph description is the single source of truth: types resolve, names are unique, docs and
launch files and nodes name no topic it does not define, every executable is registered."""

from __future__ import annotations

import ast
import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from rstack import graph
from rstack.interfaces_doc import interfaces_markdown
from rstack.ros_types import message_class, qos

ROOT = Path(__file__).resolve().parents[2]
TOPIC_RX = re.compile(
    r"(?<![\w.])/(?:franka|camera|tactile|policy|fiper|teleop|recorder|sim|diagnostics)(?:/[\w{}<>]+)*"
)


def _known_names() -> set[str]:
    return graph.all_topic_names() | graph.all_service_names()


def _normalize(name: str) -> str:
    return re.sub(r"<(\w+)>", "{name}", name)


def test_topic_and_service_names_are_unique():
    names = [t.name for t in graph.TOPICS] + [s.name for s in graph.SERVICES]
    assert len(names) == len(set(names))


def test_every_type_and_qos_resolves_to_real_ros_objects():
    for t in graph.TOPICS:
        cls = message_class(t.msg_type)
        assert cls.__name__ == t.msg_type.rsplit("/", 1)[1]
        qos(t.qos)
    for s in graph.SERVICES:
        assert hasattr(message_class(s.srv_type), "Request")
    with pytest.raises(ValueError, match="unknown QoS profile"):
        qos("fast")


def test_every_node_kind_interface_is_in_the_topic_lists():
    for kind in graph.NODE_KINDS:
        for t in (*kind.publishes, *kind.subscribes):
            assert t in graph.TOPICS, f"{kind.executable} uses {t.name}, not listed in graph.TOPICS"
        for s in (*kind.serves, *kind.calls):
            assert s in graph.SERVICES, f"{kind.executable} uses {s.name}, not listed in graph.SERVICES"


def test_every_profile_executable_is_a_registered_console_script():
    scripts = {ep.name for ep in entry_points(group="console_scripts") if ep.value.startswith("rstack.")}
    for prof in graph.PROFILES.values():
        for inst in prof.nodes:
            assert inst.kind.executable in scripts, f"{inst.kind.executable} is not registered in setup.py"
    assert "rstack" in scripts


def test_per_device_topics_expand_with_the_profile_devices():
    sim = graph.profile("sim")
    assert "/camera/wrist/image_raw" in sim.topic_names()
    assert "/tactile/tool/embedding" in sim.topic_names()
    assert not any("{" in n for n in sim.topic_names())


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown profile 'simm' \(known: robot, sim, teleop\)"):
        graph.profile("simm")


def test_interfaces_doc_is_generated_from_the_graph():
    committed = (ROOT / "docs" / "interfaces.md").read_text()
    assert committed == interfaces_markdown(), "docs/interfaces.md is stale: run `make docs`"


@pytest.mark.parametrize(
    "path",
    sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("launch/*.py")]),
)
def test_docs_and_launch_files_name_only_graph_topics(path):
    text = (ROOT / path).read_text()
    unknown = sorted({m for m in TOPIC_RX.findall(text) if _normalize(m) not in _known_names()})
    assert not unknown, f"{path} names topics/services the graph does not define: {unknown}"


def test_nodes_and_launch_files_spell_no_topic_names():
    """Topic names live in rstack.graph only: a string literal that looks like one elsewhere is a bug."""
    files = [*(ROOT / "ros2_ws/src/rstack/rstack/nodes").glob("*.py"), *(ROOT / "launch").glob("*.py")]
    offenders = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and TOPIC_RX.fullmatch(node.value):
                offenders.append(f"{f.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert not offenders, "topic names spelled outside rstack.graph:\n" + "\n".join(offenders)


def test_the_topic_scanner_catches_an_unknown_topic():
    """Guard for the two tests above: the pattern does see a made-up topic."""
    assert TOPIC_RX.findall("publish on /franka/target_posee now") == ["/franka/target_posee"]
    assert "/franka/target_posee" not in _known_names()
