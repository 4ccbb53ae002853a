"""What else the machine did while a benchmark measured: the host's steal and the CPU time used by anything outside
the benchmark's own processes. A figure taken beside a stray node or a test run, or on a virtual machine whose host
was busy, says so next to it (Linux `/proc`; zeros elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_ticks() -> tuple[int, int, int]:
    """(steal, busy, total) CPU ticks of this machine so far (/proc/stat; zeros where there is none). Steal is the time
    a virtual machine's CPUs were ready to run but the host ran something else: 0 on bare metal. Busy is user, nice,
    system, irq and softirq time."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0, 0
    fields += [0] * (8 - len(fields))
    return fields[7], fields[0] + fields[1] + fields[2] + fields[5] + fields[6], sum(fields[:8])


def tree_ticks(root: int) -> dict[int, int]:
    """CPU ticks (user + system) so far of `root` and every process descended from it, by pid ({} off Linux). Each
    process's count includes its children that have exited and been waited for (so one that ran and ended inside a
    window is still counted as the benchmark's)."""
    stats: dict[int, tuple[int, int]] = {}  # pid -> (parent, ticks)
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while listed
        stats[int(entry.name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))  # utime stime cutime cstime
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, (parent, _) in stats.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return {pid: stats[pid][1] for pid in tree if pid in stats}


class MachineLoad:
    """A measuring window: `start()`, then `stop()` gives the host's steal and the others' share of the CPU time."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self._ticks, self._tree = cpu_ticks(), tree_ticks(os.getpid())

    def stop(self) -> dict[str, float]:
        """{"host_steal", "other_cpu"}: shares of the machine's CPU time since `start()`. Others: processes outside
        this one's tree, kernel threads, interrupts."""
        t0, t1, tree1 = self._ticks, cpu_ticks(), tree_ticks(os.getpid())
        ours = sum(tree1[pid] - self._tree[pid] for pid in self._tree.keys() & tree1.keys())
        total = max(1, t1[2] - t0[2])
        return {"host_steal": (t1[0] - t0[0]) / total, "other_cpu": max(0, (t1[1] - t0[1]) - ours) / total}

    def summary(self) -> str:
        """`stop()` as one line to print under a benchmark's table."""
        load = self.stop()
        return (
            f"machine while measuring: host steal {load['host_steal']:.1%}, "
            f"others {load['other_cpu']:.1%} of the CPU time (0 on a quiet machine)"
        )
