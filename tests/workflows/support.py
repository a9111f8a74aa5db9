"""Driving a case workflow the way the API does."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.commands import open_case, send_command, workflow_id
from domain.calendar import STOCKHOLM, day_start
from domain.certificate import Certificate
from domain.commands import Actor, OpenCase
from domain.plan import Plan, PlannedMeasure
from tests.workflows.conftest import Harness
from workflows.case import CaseOutcome, CaseWorkflow, CommandResult

PNR = "191212121212"
PHYSICIAN = Actor(id="dr-anna", role="physician", unit_id="vc-norr")
PATIENT = Actor(id="patient", role="patient")


def certificate(start: date, first: int, last: int, cid: str = "c1", grade: int = 100,
                issued: datetime | None = None, **extra: Any) -> Certificate:
    data: dict[str, Any] = {
        "certificate_id": cid,
        "issued_at": issued or day_start(start, first) + timedelta(hours=9),
        "issued_by": PHYSICIAN.id,
        "diagnoses": [{"code": "F43.8A"}],
        "periods": [{"grade": grade, "start": start + timedelta(days=first - 1),
                     "end": start + timedelta(days=last - 1)}],
        **extra,
    }
    return Certificate.model_validate(data)


async def skip_to(env: WorkflowEnvironment, target: datetime) -> None:
    """Time-skip the test server to `target`, a day at a time. The server answers a skip only
    once every timer on the way has fired and its work is done; on a loaded machine a long one
    outlasts the client's call ("Timeout expired", or the HTTP/2 stream reset) while the server
    goes on: ask again from wherever it got to (a skip never passes its target)."""
    failures = 0
    while (now := await env.get_current_time()) < target:
        try:
            await env.sleep(min(target - now, timedelta(days=1)))
        except RPCError:
            failures += 1
            if failures > 15:  # a server that never gets there still fails by the test timeout
                raise


async def today(h: Harness) -> date:
    return (await h.env.get_current_time()).astimezone(STOCKHOLM).date()


async def morning(h: Harness) -> date:
    """Day 1 for a new case: the test server's clock is moved on to 10:00 Stockholm of the next
    day, so that every test sees the same time of day whatever the wall clock says."""
    now = (await h.env.get_current_time()).astimezone(STOCKHOLM)
    ten = datetime.combine(now.date() + timedelta(days=1), time(10), STOCKHOLM)
    await skip_to(h.env, ten)
    return ten.date()


async def open_new_case(h: Harness, start: date, cert: Certificate | None = None,
                        **extra: Any) -> tuple[str, CommandResult]:
    case_id = uuid.uuid4().hex[:12]
    command = OpenCase(actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
                       sick_period_start=start, certificate=cert, **extra)
    result = await open_case(h.client, h.task_queue, command, f"open-{case_id}")
    h.cases.append(case_id)
    return case_id, result


async def do(h: Harness, case_id: str, command: Any, key: str | None = None) -> CommandResult:
    return await send_command(h.client, case_id, command, key or uuid.uuid4().hex)


async def outcome(h: Harness, case_id: str) -> CaseOutcome:
    """Let time run until the case closes (update-with-start handles skip no time by themselves)."""
    handle = h.client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(case_id))
    async with h.env.time_skipping_unlocked():  # type: ignore[attr-defined]
        return await asyncio.wait_for(handle.result(), timeout=120)


async def event_types(h: Harness, case_id: str) -> list[str]:
    return [e.type for e in await h.store.read_stream(case_id)]


def plan(follow_up_date: date) -> Plan:
    return Plan(
        assessment="Stressrelaterad utmattning; arbetsförmågan nedsatt mot nuvarande arbete.",
        goals=["Återgång i arbete på 50 % inom sex veckor"],
        measures=[PlannedMeasure(what="Samtalsbehandling", by_whom="kurator")],
        sick_leave="100 % i fyra veckor, därefter upptrappning",
        return_to_work="Upptrappning via 50 % efter samtal med arbetsgivaren",
        follow_up_date=follow_up_date,
    )


async def advance_to_day(h: Harness, start: date, day: int, hour: int = 9) -> None:
    """Skip time to `hour`:00 Stockholm on day N of the sick period (timers fire on the way)."""
    target = day_start(start, day) + timedelta(hours=hour)
    await skip_to(h.env, target)


async def records(h: Harness, case_id: str, type_: str) -> list[dict[str, Any]]:
    return [e.data for e in await h.store.read_stream(case_id) if e.type == type_]
