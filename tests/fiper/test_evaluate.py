"""Offline FIPER evaluation: the monitor and its baselines replayed over recorded episodes, and the report."""

from __future__ import annotations

import numpy as np
import pytest

from policy_runtime.evaluation.report import write_eval_report
from policy_runtime.fiper.evaluate import EpisodeFeatures, format_rules, load_episode, score_episodes, summarize
from policy_runtime.fiper.rollouts import load_rollouts
from tests.fiper.synthetic import rollout

STEPS = 30
DT = 0.25  # s between planner steps


def _episode(rng, name, success, ood_from=None, spread_from=None, kind="success"):
    emb, ch = rollout(rng, STEPS)
    if ood_from is not None:
        emb[ood_from:] = rollout(rng, STEPS - ood_from, ood=True)[0]
    if spread_from is not None:
        ch[spread_from:] = rollout(rng, STEPS - spread_from, spread_m=0.05)[1]
    t = DT * np.arange(STEPS)
    return EpisodeFeatures(name, "nominal" if success else "push", success, kind, t[-1] if success else 6.0, emb, ch, t)


@pytest.fixture(scope="module")
def episodes():
    rng = np.random.default_rng(7)
    succ = [_episode(rng, f"s{i}", True) for i in range(6)]
    # a failure where both indicators rise at step 10 (2.5 s), before the failure event at 6 s
    both = [_episode(rng, f"f{i}", False, ood_from=10, spread_from=10, kind="collision") for i in range(3)]
    # a benign OOD episode that still succeeds: the AND rule must not alarm, RND-only does
    benign = [_episode(rng, "benign", True, ood_from=5)]
    return succ + both + benign


def test_rules_side_by_side(calibrated, episodes):
    scores = score_episodes(calibrated.artifacts, episodes)
    rows = {r.rule: r for r in summarize(scores)}
    fiper, rnd, ace, either = rows["FIPER (AND)"], rows["RND only"], rows["ACE only"], rows["OR"]
    assert fiper.metrics.n_fail == 3 and fiper.metrics.n_succ == 7
    # every failure caught by FIPER, before its failure event
    assert fiper.metrics.tpr == 1.0 and fiper.flagged_before_failure == 1.0
    first = {s.episode.name: s for s in scores}
    assert all(2.5 <= first[f"f{i}"].alarm_time_s("FIPER (AND)") < 6.0 for i in range(3))
    # the benign OOD success: RND alone alarms, the AND rule does not
    assert first["benign"].first_alarm["RND only"] is not None
    assert first["benign"].first_alarm["FIPER (AND)"] is None
    assert fiper.metrics.tnr > rnd.metrics.tnr
    assert either.metrics.tnr <= min(rnd.metrics.tnr, ace.metrics.tnr)
    assert fiper.metrics.accuracy >= max(rnd.metrics.accuracy, ace.metrics.accuracy, either.metrics.accuracy)
    assert "FIPER (AND)" in format_rules(list(rows.values()))


def test_episode_files_round_trip_and_calibrate_skips_failures(tmp_path, episodes, calibrated):
    for ep in episodes:
        ep.save(tmp_path / f"{ep.name}.npz")
    back = load_episode(tmp_path / "f0.npz")
    assert back.kind == "collision" and not back.success and back.failure_time_s == 6.0
    np.testing.assert_array_equal(back.chunks, episodes[6].chunks)
    with pytest.raises(ValueError, match="marked unsuccessful"):
        load_rollouts(tmp_path)
    assert len(load_rollouts(tmp_path, skip_failures=True)) == 7


def test_report_shows_tables_and_traces(tmp_path, calibrated, episodes):
    scores = score_episodes(calibrated.artifacts, episodes)
    outcomes = [
        {"controller": "policy p", "scenario": e.scenario, "success": e.success, "kind": e.kind, "coverage": 0.5}
        for e in episodes
    ]
    out = write_eval_report(
        tmp_path / "r.html", outcomes, "rstack eval", scores, summarize(scores), {"push": summarize(scores[6:9])}
    )
    text = out.read_text()
    assert text.count("<img") == len(episodes)
    tables = text.split("<h2>Score traces")[0]
    assert "<td>nominal</td><td>policy p</td><td>7/7</td>" in tables
    assert "<td>push</td><td>policy p</td><td>0/3</td>" in tables
    assert "<h3>push</h3>" in tables and "<td>FIPER (AND)</td><td>1.00</td>" in tables


def _eval_dir(root, episodes, fingerprint):
    """What `rstack eval --out ROOT` leaves: outcomes.json, with each policy episode's features file."""
    import json

    outcomes = [{"controller": "scripted expert", "scenario": "nominal", "episode": 0, "success": True}]
    for i, ep in enumerate(episodes):
        path = ep.save(root / "episodes" / ep.scenario / f"{ep.name}.npz")
        outcomes.append(
            {
                "controller": "policy p",
                "scenario": ep.scenario,
                "episode": i,
                "success": ep.success,
                "kind": ep.kind,
                "time_s": ep.failure_time_s,
                "coverage": 0.9 if ep.success else 0.3,
                "features": str(path),
                "policy_fingerprint": fingerprint,
            }
        )
    (root / "outcomes.json").write_text(json.dumps(outcomes))
    return root


def test_fiper_evaluate_replays_a_monitor_over_episodes_already_run(tmp_path, calibrated, episodes, capsys):
    """`rstack fiper evaluate`: the metrics `rstack eval --monitor` prints, from an eval's output directories."""
    import argparse
    import json

    from policy_runtime.fiper.artifacts import policy_identity
    from rstack.commands import fiper

    def run(argv):
        parser = argparse.ArgumentParser(prog="rstack")
        fiper.register(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(["fiper", "evaluate", *argv])
        return args.func(args)

    fp = policy_identity(calibrated.policy_dir).fingerprint
    a = _eval_dir(tmp_path / "a", episodes[:5], fp)  # two evaluation runs: successes here, failures there
    b = _eval_dir(tmp_path / "b", episodes[5:], fp)
    common = ["--monitor", str(calibrated.monitor_dir), "--policy", str(calibrated.policy_dir)]
    out = tmp_path / "out"
    assert run(["--eval-dir", str(a), "--eval-dir", str(b), *common, "--out", str(out)]) == 0
    result = json.loads((out / "fiper.json").read_text())
    rows = {r["rule"]: r for r in result["overall"]}
    assert rows["FIPER (AND)"]["n_fail"] == 3 and rows["FIPER (AND)"]["n_succ"] == 7  # the expert row is skipped
    assert rows["FIPER (AND)"]["tpr"] == 1.0 and rows["FIPER (AND)"]["tnr"] > rows["RND only"]["tnr"]
    assert set(result["by_scenario"]) == {"nominal", "push"}
    assert "FIPER (AND)" in (out / "report.html").read_text()
    assert "report:" in capsys.readouterr().out

    other = _eval_dir(tmp_path / "c", episodes[:2], "sha256:" + "0" * 64)  # run by another policy
    assert run(["--eval-dir", str(other), *common, "--out", str(tmp_path / "o2")]) == 2
    assert "was run by another policy" in capsys.readouterr().err
    assert run(["--eval-dir", str(tmp_path / "none"), *common, "--out", str(tmp_path / "o3")]) == 2
    assert "outcomes.json does not exist" in capsys.readouterr().err
