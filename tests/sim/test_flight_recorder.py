"""The physics flight recorder: the client's command gaps, its triggers and what a saved record holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hardware.sim.flight_recorder import FlightRecorder, FlightTrigger

Z7, Z3, Z6 = np.zeros(7), np.zeros(3), np.zeros(6)


def _step(fr: FlightRecorder, k: int, new_cmd: bool, tcp: np.ndarray = Z3, mode: str = "cartesian_position"):
    return fr.record(t=k * 0.001, wall=k * 0.001, mode=mode, new_cmd=new_cmd, cmd_lag=1, q=Z7, dq=Z7,
                     q_target=Z7, tau=Z7, tcp=tcp, cmd_pos=Z3, force=Z6)  # fmt: skip


def test_gaps_are_counted_per_cartesian_motion_and_a_silent_client_saves_a_record(tmp_path: Path) -> None:
    fr = FlightRecorder(tmp_path, seconds=1.0)
    commands = [k for k in range(300) if k % 2 == 0]  # every other step: gaps of 2
    commands += [300, 330, 331]  # then one gap of 30 steps
    saved = [p for k in range(400) if (p := _step(fr, k, k in commands)) is not None]
    assert fr.max_gap_steps == 30
    s = fr.summary()
    assert s["gap_steps"]["2"] == 150 and s["gap_steps"]["21-50"] == 1 and s["gap_steps"]["1"] == 1
    # Silent from step 331 on: the record is saved 50 steps later, once (re-armed only after 5 s).
    assert len(saved) == 1 and saved[0].exists()
    z = np.load(saved[0])
    assert str(z["reason"]).startswith("client silent for 50")
    assert np.all(np.diff(z["t"]) > 0) and z["t"][-1] == 0.381  # oldest row first, ending at the trigger
    assert len(z["t"]) == 382  # the buffer had not wrapped yet: all rows so far


def test_idle_steps_are_not_gaps_and_a_fast_tcp_trips_the_recorder(tmp_path: Path) -> None:
    fr = FlightRecorder(tmp_path, seconds=0.1, trigger=FlightTrigger(tcp_speed_m_s=0.6, client_silent_steps=0))
    for k in range(100):
        _step(fr, k, k < 10, mode="idle")  # holding: the client sends nothing, and that is no gap
    assert fr.max_gap_steps == 0
    path = None
    for k in range(100, 200):  # the TCP moves at 1 m/s from step 150
        path = _step(fr, k, True, tcp=np.array([0.0, max(0, k - 150) * 0.001, 0.0])) or path
    z = np.load(path)
    assert "tcp speed 0.70" in str(z["reason"])  # 7 mm in the last 10 steps, at step 157
    assert len(z["t"]) == 100 and z["t"][0] == 0.058 and z["t"][-1] == 0.157  # wrapped: the last 0.1 s, in order
    assert np.all(np.diff(z["t"]) > 0)
