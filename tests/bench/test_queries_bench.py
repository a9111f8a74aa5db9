"""bench/queries.py at a tiny scale: every query is timed, the targets and EXPLAIN are there."""

from __future__ import annotations

from tests.bench.support import run_bench


def test_queries_bench_times_every_query_and_explains_the_slowest() -> None:
    code, result = run_bench("queries.py", "--cases", "300", "--events", "3000", "--reps", "20",
                             "--access-per-case", "2")

    assert code == 0
    seed = result["seed"]
    assert seed["cases"] == 300 and seed["case_summary_rows"] == 300
    assert 1500 <= seed["events"] <= 4500
    assert seed["access_log_rows"] > 0
    for name in ("floor", "case_summary", "case_history", "pdl_log", "measures_year",
                 "measures_year_unit"):
        assert result[name]["p50_ms"] > 0, name
        assert result[name]["p99_ms"] >= result[name]["p50_ms"], name
        assert result[name]["p99_vs_floor"] > 0, name
    lists = result["list"]
    assert {"none", "phase", "unit", "min_days", "max_days", "overdue", "unanswered_fk", "text",
            "coordinator_view"} <= set(lists)
    assert lists["none"]["total"] == 300
    assert all(0 <= v["total"] <= 300 for v in lists.values())
    assert result["measures_year"]["rows"] > 0
    assert set(result["targets"]) >= {"case_summary", "case_history", "measures_year", "list:none"}
    plans = result["explain"][result["slowest"]]
    assert plans and all("Execution Time" in p for p in plans)
    # the web console's pages beside the JSON endpoints that read the same
    pages = result["pages"]
    for name in ("json_list", "list_page", "json_case", "json_events", "case_page"):
        assert pages[name]["p99_ms"] >= pages[name]["p50_ms"] > 0, name
    assert pages["list_page_vs_json"] > 0 and pages["case_page_vs_json"] > 0
    # GET /cases with every list filter, and the coordinator's view, against the floor
    every_filter = {"none", "unit", "physician", "phase", "min_days", "max_days", "grade",
                    "diagnosis_chapter", "sex", "age_band", "overdue", "not_overdue",
                    "unanswered_fk", "in_coordinator_queue", "coordination_status", "text",
                    "consent_held", "consent_not_held", "coordinator_view"}
    assert every_filter <= set(pages["api_list"])
    assert every_filter - {"coordinator_view", "not_overdue"} <= set(lists)
    for name, v in pages["api_list"].items():
        assert v["p99_ms"] >= v["p50_ms"] > 0 and v["p99_vs_floor"] > 0, name
    # the seeded year surrounds today, so the filters read at the API's own now match cases
    api_totals = {name: v["total"] for name, v in pages["api_list"].items()}
    for name in ("grade", "consent_held", "consent_not_held", "overdue", "not_overdue"):
        assert 0 < api_totals[name] < 300, (name, api_totals)
    assert api_totals["grade"] == lists["grade"]["total"]
    assert api_totals["consent_held"] == lists["consent_held"]["total"]
    assert pages["api_list_max_vs_floor"] > 0
