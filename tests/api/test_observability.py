"""Per request: one access log line (route template, status, duration, case id; never the raw
path or query, so no identity number) and Prometheus request metrics by route and status."""

from __future__ import annotations

import structlog

from infra.metrics import series
from tests.api.conftest import Api
from tests.api.test_end_to_end import PNR, today

PNR_DIGITS = PNR.replace("-", "")


def requests_count(route: str, status: str, method: str = "GET") -> float:
    key = ("sjukfall_http_requests_total",
           (("method", method), ("route", route), ("status", status)))
    return series().get(key, 0.0)


async def test_every_request_is_one_log_line_and_counted_by_route_and_status(api: Api) -> None:
    start = await today(api)
    before = {k: requests_count(*k) for k in [("/cases", "201", "POST"),
                                              ("/cases/{case_id}", "200"),
                                              ("/cases", "200"), ("unmatched", "404"),
                                              ("/cases/{case_id}", "404")]}
    with structlog.testing.capture_logs() as logs:
        opened = await api.http.post("/cases", headers=api.headers(), json={
            "patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start)})
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["case_id"]
        assert (await api.http.get(f"/cases/{case_id}", headers=api.headers())).status_code == 200
        searched = await api.http.get("/cases", params={"q": PNR}, headers=api.headers())
        assert searched.status_code == 200
        assert (await api.http.get(f"/no/such/{PNR_DIGITS}")).status_code == 404
        missing = await api.http.get("/cases/no-such-case", headers=api.headers())
        assert missing.status_code == 404
    lines = [e for e in logs if e["event"] == "http_request"]
    assert [(e["method"], e["route"], e["status"]) for e in lines] == [
        ("POST", "/cases", 201), ("GET", "/cases/{case_id}", 200), ("GET", "/cases", 200),
        ("GET", "unmatched", 404), ("GET", "/cases/{case_id}", 404)]
    assert lines[1]["case_id"] == case_id and "case_id" not in lines[2]
    assert all(e["duration_ms"] >= 0 for e in lines)
    # not even before redaction: the raw path and query never reach the line
    for e in lines:
        assert PNR not in str(e) and PNR_DIGITS not in str(e), e

    after = {k: requests_count(*k) for k in before}
    assert {k: after[k] - before[k] for k in before} == {k: 1.0 for k in before}
    metrics = await api.http.get("/metrics")
    assert 'sjukfall_http_request_duration_seconds_count{method="POST",route="/cases"}' \
        in metrics.text
    assert PNR_DIGITS not in metrics.text and PNR not in metrics.text
