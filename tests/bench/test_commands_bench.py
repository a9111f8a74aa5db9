"""bench/commands.py with a handful of commands: the figures are there and sane."""

from __future__ import annotations

from tests.bench.support import run_bench


def test_commands_bench_reports_round_trips_against_the_floor_and_the_carried_state() -> None:
    code, result = run_bench("commands.py", "--commands", "5", "--no-fsync", timeout=240)

    assert code == 0
    for kind in ("floor", "consent_keyed", "consent_unkeyed"):
        assert result[kind]["n"] == 5 and 0 < result[kind]["p50_ms"] <= result[kind]["p99_ms"]
    assert result["ratio"]["keyed_vs_floor_p99"] > 0
    assert set(result["target"]) == {"keyed_vs_floor_p99_at_most", "met"}
    carried = result["carried_state"]
    # a case at every bound would not fit Temporal's 2 MB payload; compacted it does, easily
    assert carried["full_bytes"] > 2_000_000 > 10 * carried["compact_bytes"]
