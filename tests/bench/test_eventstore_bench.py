"""bench/eventstore.py at a tiny scale: every append variant and every way of rebuilding is
timed on a real PostgreSQL, and the rebuilt rows are checked against each other."""

from __future__ import annotations

from tests.bench.support import run_bench


def test_eventstore_bench_times_appends_and_rebuilds() -> None:
    code, result = run_bench("eventstore.py", "--events", "400", "--streams", "20", "--repeat",
                             "1", "--rebuild-events", "3000", "--skip-eventsourcing")

    assert code == 0
    eps = result["events_per_s"]
    assert set(eps) == {"floor_single", "store_single", "floor_batched", "store_batched"}
    assert all(v > 0 for v in eps.values())
    assert result["ratios"]["store_single_vs_floor_single"] > 0
    rebuild = result["rebuild"]
    assert 3000 <= rebuild["events"] < 3100  # whole cases, so a few more than asked
    assert set(rebuild["projections"]) == {"case_summary", "case_measure_facts"}
    ways = [*rebuild["projections"].values(), rebuild["all"]]
    assert all(w["events_per_s"] > 0 and w["seconds"] > 0 for w in ways)
    assert rebuild["events_per_s"] == min(w["events_per_s"] for w in ways)
    # each rebuild as a fraction of the read floor measured in the same run
    floor = rebuild["read_floor"]["events_per_s"]
    assert floor > 0
    assert all(w["of_read_floor"] == round(w["events_per_s"] / floor, 3) for w in ways)
    assert set(result["targets"]) == {"store_single_vs_floor_single >= 0.75",
                                      "store_batched >= 30000", "store ahead of eventsourcing",
                                      "rebuild >= 20000", "rebuild_all >= 0.5x read floor"}
    assert result["targets"]["store ahead of eventsourcing"] is None  # skipped, not judged
