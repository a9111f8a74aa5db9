"""A liveness fuzzer against the real stack (issue #13): random commands, valid and not, to a
few cases: control characters, dates at the calendar's edge, huge and empty texts, repeated
and reused idempotency keys, concurrent requests.

After every step each case answers a probe command within 10 s, its stream is gapless, and the
events recorded by people are exactly those of the commands the API accepted (a repeat of a
key adds nothing). Bounded in examples and steps so the suite stays fast.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from domain.calendar import STOCKHOLM
from tests.api.conftest import Api
from tests.api.test_end_to_end import PNR

PROBE_SECONDS = 30

fine_texts = st.sampled_from(["", "Bedömning", "rad ett\nrad två\ttab", "å" * 200])
texts = st.one_of(
    fine_texts, fine_texts, fine_texts,  # most commands are fine, so keys get reused
    st.text(max_size=30),  # any characters, control characters included
    st.sampled_from(["", "a\u0000b", "\u001b[2J", "rad\nrad\ttab", "ä" * 4000, "x" * 4001]),
    st.builds(lambda n: "y" * n, st.integers(0, 9000)),
)
dates = st.one_of(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
)


def certificate(start: date, end: date, cid: str, text: str) -> dict[str, Any]:
    issued = datetime.combine(start, datetime.min.time(), STOCKHOLM).replace(hour=9)
    return {"certificate_id": cid, "issued_at": issued.isoformat(), "issued_by": "dr-fuzz",
            "diagnoses": [{"code": "F43.8A"}], "function_impairment": text,
            "periods": [{"grade": 50, "start": str(start), "end": str(end)}]}


class Liveness(RuleBasedStateMachine):
    api: Api  # set by the test
    today: date

    cases = Bundle("cases")
    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self.http = httpx.Client(base_url=self.api.url, timeout=PROBE_SECONDS + 20)
        self.accepted: dict[str, list[str]] = {}  # case -> event types of accepted commands
        # a key's scope (key, caller, case, route) -> the first body sent under it and its answer
        self.answers: dict[tuple[str, str, str, str], tuple[Any, tuple[int, Any]]] = {}

    def teardown(self) -> None:
        self.http.close()

    def headers(self, role: str, key: str | None = None) -> dict[str, str]:
        headers = self.api.headers(role)
        return {**headers, "Idempotency-Key": key} if key else headers

    @initialize(target=cases)
    def open_cases(self) -> Any:
        opened = []
        for _ in range(2):
            response = self.http.post("/cases", headers=self.headers("physician"), json={
                "patient_id": PNR, "unit_id": "vc-norr",
                "sick_period_start": str(self.today - timedelta(days=3))})
            assert response.status_code == 201, response.text
            case_id = response.json()["case_id"]
            self.accepted[case_id] = ["CaseOpened"]
            opened.append(case_id)
        return multiple(*opened)

    @rule(target=keys)
    def new_key(self) -> str:
        return f"k-{uuid.uuid4().hex[:8]}"

    # -- commands -------------------------------------------------------------------------

    def send(self, case_id: str, path: str, role: str, body: Any, key: str | None) -> None:
        response = self.http.post(f"/cases/{case_id}/{path}", headers=self.headers(role, key),
                                  json=body)
        self.expect(response, case_id, path, role, body, key)

    def expect(self, response: httpx.Response, case_id: str, path: str, role: str, body: Any,
               key: str | None) -> None:
        """What the record must now hold, given the answer (the model of the API)."""
        assert response.status_code < 500, response.text
        scope = (key, role, case_id, path) if key else None  # as the API scopes a key
        first = self.answers.get(scope) if scope else None
        if first is not None and first[0] == body:
            assert (response.status_code, response.json()) == first[1], "a repeat differs"
            return  # nothing new recorded
        if first is not None:
            # Same key and scope, another body: refused (for that, or for the body's own fault).
            assert response.status_code == 422, response.text
            return
        if response.status_code == 200:
            self.accepted[case_id] += response.json()["events"]
        else:
            problem = response.json()
            assert problem["errors"] and all(e["field"] and e["rule"] for e in problem["errors"])
        if scope and response.status_code == 200:
            self.answers[scope] = (body, (200, response.json()))

    @rule(case=cases, key=st.one_of(st.none(), keys), text=texts,
          recipient=st.sampled_from(["employer", "fk", "af"]), until=st.one_of(st.none(), dates))
    def consent(self, case: str, key: str | None, text: str, recipient: str,
                until: date | None) -> None:
        body: dict[str, Any] = {"recipient": recipient, "purpose": "share_information"}
        if until is not None:
            body["valid_until"] = str(until)
        self.send(case, "consents", "coordinator", body, key)

    @rule(case=cases, key=st.one_of(st.none(), keys), note=texts)
    def offer_coordination(self, case: str, key: str | None, note: str) -> None:
        self.send(case, "coordination", "coordinator", {"action": "offer", "note": note}, key)

    @rule(case=cases, key=st.one_of(st.none(), keys), assessment=texts, goal=texts,
          follow_up=dates)
    def plan(self, case: str, key: str | None, assessment: str, goal: str, follow_up: date) -> None:
        self.send(case, "plan", "physician", {"plan": {
            "assessment": assessment, "goals": [goal], "sick_leave": "100 %",
            "return_to_work": "Upptrappning", "follow_up_date": str(follow_up)}}, key)

    @rule(case=cases, key=st.one_of(st.none(), keys), end=dates, text=texts,
          cid=st.sampled_from(["c1", "c2", "c3"]))
    def certify(self, case: str, key: str | None, end: date, text: str, cid: str) -> None:
        start = self.today - timedelta(days=3)
        self.send(case, "certificates", "physician",
                  {"certificate": certificate(start, end, cid, text)}, key)

    @rule(case=cases, key=keys)
    def concurrent_repeats(self, case: str, key: str) -> None:
        """The same request three times at once: one answer, recorded once."""
        body = {"action": "offer", "note": f"samtidigt {key}"}
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda _: self.http.post(
                f"/cases/{case}/coordination", headers=self.headers("coordinator", key),
                json=body), range(3)))
        assert len({(a.status_code, a.text) for a in answers}) == 1, [a.text for a in answers]
        self.expect(answers[0], case, "coordination", "coordinator", body, key)

    # -- after every step -----------------------------------------------------------------

    @invariant()
    def every_case_answers_and_its_record_is_exact(self) -> None:
        for case_id, accepted in self.accepted.items():
            # Through the case's lock: decided and recorded (once; later it changes nothing).
            probe = self.http.post(f"/cases/{case_id}/coordination",
                                   headers=self.headers("coordinator"), timeout=PROBE_SECONDS,
                                   json={"action": "set_status", "status": "contacted"})
            assert probe.status_code in (200, 409), probe.text  # 409: closed by its own timer
            if probe.status_code == 200:
                accepted += probe.json()["events"]
            history = self.http.get(f"/cases/{case_id}/events",
                                    headers=self.headers("physician")).json()["items"]
            assert [e["version"] for e in history] == list(range(1, len(history) + 1))
            by_people = [e["type"] for e in history if e["data"]["recorded_by"] != "system"]
            assert by_people == accepted


async def test_no_sequence_of_commands_jams_a_case_or_loses_one(api: Api) -> None:
    Liveness.api = api
    Liveness.today = (await api.env.get_current_time()).astimezone(STOCKHOLM).date()
    machine = Liveness.TestCase
    # No shrinking: against the real stack each shrink step replays whole runs, which can take
    # longer than the test's timeout; the failing run's steps are printed as they were.
    machine.settings = settings(max_examples=10, stateful_step_count=12, deadline=None,
                                suppress_health_check=list(HealthCheck), database=None,
                                phases=[Phase.explicit, Phase.reuse, Phase.generate])
    done = threading.Event()

    def run() -> None:
        try:
            machine().runTest()
        finally:
            done.set()

    await asyncio.wait_for(asyncio.to_thread(run), timeout=600)
