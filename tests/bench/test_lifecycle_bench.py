"""bench/lifecycle.py with a handful of cases on both servers: the figures are there and sane."""

from __future__ import annotations

from tests.bench.support import run_bench


def test_lifecycle_bench_reports_costs_and_ratios_on_both_servers() -> None:
    code, result = run_bench("lifecycle.py", "--cases", "3", "--server", "both", "--no-fsync")

    assert code == 0
    for server in ("time-skipping", "dev"):
        run = result[server]
        for kind in ("lifecycle", "baseline"):
            figures = run[kind]
            assert figures["rejected_updates"] == 0, figures
            assert figures["cases_per_s"] > 0
            assert figures["history_events"] > 0 and figures["history_bytes"] > 0
            assert figures["activities"] > 0
            assert figures["actions"] >= figures["activities"] + 1  # started + activities at least
        assert run["lifecycle"]["outcomes"] == {"return_to_work_full": 3}
        assert run["baseline"]["outcomes"] == {"completed": 3}
        assert run["lifecycle"]["notifications_delivered_twice"] == 0
        assert run["lifecycle"]["store_events_per_case"] > 10
        assert all(v is None or v > 0 for v in run["ratio"].values())
        assert run["ratio"]["actions"] >= 1  # the product never beats the no-op baseline
    # the baseline's counts come from the domain: the same commands, wake-ups and notifications
    ts = result["time-skipping"]
    # day 14, consent given on day 1: the certificate goes to the FK simulator through the port
    # (on dev the milestone may fire before the consent arrives, and the certificate is held);
    # the extension recorded on day 28 follows it there (revised rules: FK pays by it)
    assert ts["lifecycle"]["fk_certificates_registered"] == 6
    assert ts["baseline"]["actions_by_kind"]["update_accepted"] == 7
    assert ts["baseline"]["timers"] == 4  # milestones 8, 14, 30 and the follow-up date
    assert result["standard_case"]["actions"] == ts["lifecycle"]["actions"]
    assert set(result["dev_throughput_vs_baseline"]) == {"ratio", "target", "met"}
