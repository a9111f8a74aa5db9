"""Synthetic but valid cases, produced by the domain's own `decide` (never hand-written events).

Used by the store tests, the rebuild benchmark and demo data. Each case is driven like the
workflow drives it: commands at a clock, and every timer due by then fired first (milestones,
follow-up dates, FK deadlines, closing). Deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from domain import CaseState, decide, event_to_record, fold, initial_state, next_timer
from domain.calendar import day_start
from domain.certificate import Certificate
from domain.commands import (
    Actor,
    CloseCase,
    Command,
    EstablishPlan,
    GiveConsent,
    OpenCase,
    ReceiveFkMessage,
    RecordCertificate,
    RecordEmployerReturnPlan,
    RecordPlanFollowUp,
)
from domain.events import Event
from domain.identity import luhn_digit
from store.eventstore import NewEvent

UNITS = ("vc-norr", "vc-syd", "vc-ost", "ortoped-1", "psyk-2")
DIAGNOSES = ("F43.8A", "F32.1", "M54.5", "M75.1", "S82.0", "J06.9", "F41.1", "M51.1")


def make_pnr(born: date, serial: int) -> str:
    nine = f"{born:%y%m%d}{serial % 1000:03d}"
    return f"{born.year // 100:02d}{nine}{luhn_digit(nine)}"


class CaseDriver:
    """One case, folded as it goes; `events` holds everything decided so far."""

    def __init__(self, case_id: str, start: date) -> None:
        self.state: CaseState = initial_state(case_id)
        self.start = start
        self.events: list[Event] = []
        self.clock = day_start(start, 1)

    def at(self, day: int, hour: int = 9) -> datetime:
        return day_start(self.start, day) + timedelta(hours=hour)

    def do(self, command: Command, day: int | None = None) -> list[Event]:
        if day is not None:
            self.advance(self.at(day))
        if self.state.is_closed:
            return []
        events = decide(command, self.state, self.clock)
        self.state = fold(events, self.state)  # one copy per decision, not per event
        self.events += events
        return events

    def advance(self, until: datetime) -> None:
        while (timer := next_timer(self.state)) is not None and timer.at <= until:
            self.clock = max(self.clock, timer.at)
            self.do(timer.command)
        self.clock = max(self.clock, until)


def certificate(
    driver: CaseDriver,
    cid: str,
    first: int,
    last: int,
    grade: int,
    code: str,
    issued: int,
    physician: Actor,
    relation: dict[str, str] | None = None,
) -> Certificate:
    data: dict[str, Any] = {
        "certificate_id": cid,
        "issued_at": driver.at(issued),
        "issued_by": physician.id,
        "diagnoses": [{"code": code}],
        "periods": [
            {
                "grade": grade,
                "start": driver.start + timedelta(days=first - 1),
                "end": driver.start + timedelta(days=last - 1),
            }
        ],
        "function_impairment": "Nedsatt koncentrationsförmåga och uttröttbarhet.",
        "activity_limitation": "Klarar inte längre arbetspass.",
    }
    if relation:
        data["relation"] = relation
    if issued - first > 7:
        data["motivation_early_start"] = "bedömd per telefon dag 1"
    return Certificate.model_validate(data)


def drive_case(case_id: str, rng: random.Random, start: date) -> CaseDriver:
    """A plausible case: opened with a certificate, consent, plan, extensions, follow-up, an FK
    question now and then, milestones on the way, and (mostly) an end."""
    unit = rng.choice(UNITS)
    physician = Actor(id=f"dr-{rng.randrange(40)}", role="physician", unit_id=unit)
    patient = Actor(id="patient", role="patient")
    born = date(rng.randrange(1950, 2004), rng.randrange(1, 13), rng.randrange(1, 29))
    pnr = make_pnr(born, rng.randrange(1000))
    code = rng.choice(DIAGNOSES)
    d = CaseDriver(case_id, start)
    length = rng.choice((14, 21, 30, 45))
    d.do(
        OpenCase(
            actor=physician,
            case_id=case_id,
            patient_id=pnr,
            unit_id=unit,
            sick_period_start=start,
            employer_name=rng.choice((None, "Verkstaden AB", "Region Syd")),
            certificate=certificate(
                d, "c1", 1, length, rng.choice((100, 100, 75, 50)), code, 1, physician
            ),
        ),
        day=1,
    )
    if rng.random() < 0.7:
        d.do(
            GiveConsent(
                actor=patient,
                recipient="employer",
                purpose="contact",
                valid_until=start + timedelta(days=200),
            ),
            day=2,
        )
    if rng.random() < 0.5:
        d.do(GiveConsent(actor=patient, recipient="fk", purpose="share_information"), day=2)
    if rng.random() < 0.8:
        d.do(
            EstablishPlan(
                actor=physician,
                plan={
                    "assessment": "Utmattningssyndrom, prognos god.",
                    "goals": ["Åter i arbete på halvtid"],
                    "measures": [{"what": "KBT", "by_whom": "psykolog"}],
                    "sick_leave": "100 % i fyra veckor, sedan 50 %",
                    "return_to_work": "Upptrappning via arbetsträning",
                    "follow_up_date": start + timedelta(days=length - 3),
                },
            ),
            day=3,
        )
    extensions = rng.choice((0, 1, 1, 2, 3))
    last = length
    for i in range(extensions):
        first, last = last + 1, last + rng.choice((14, 30, 30, 60))
        d.do(
            RecordCertificate(
                actor=physician,
                certificate=certificate(
                    d,
                    f"c{i + 2}",
                    first,
                    last,
                    rng.choice((100, 75, 50, 25)),
                    code,
                    first - 2,
                    physician,
                    relation={"kind": "FRLANG", "certificate_id": f"c{i + 1}"},
                ),
            ),
            day=first - 2,
        )
        if d.state.is_closed:
            break
        if d.state.plans and rng.random() < 0.6:
            d.do(
                RecordPlanFollowUp(
                    actor=physician,
                    followed_up_on=d.start + timedelta(days=first - 3),
                    next_follow_up=d.start + timedelta(days=last - 3),
                )
            )
        if last > 25 and rng.random() < 0.4:
            planned = min(
                start + timedelta(days=rng.randrange(10, 40)), d.clock.date() - timedelta(days=1)
            )
            d.do(RecordEmployerReturnPlan(actor=physician, plan_date=planned))
        if rng.random() < 0.25 and not d.state.is_closed:
            sent = d.clock
            d.do(
                ReceiveFkMessage(
                    actor=Actor(id="fk-gateway", role="fk_gateway"),
                    message={
                        "message_id": f"{case_id}-fk-{i}",
                        "sent_at": sent,
                        "certificate_id": f"c{i + 2}",
                        "patient_id": pnr,
                        "topic": "KONTKT",
                        "heading": "Kontakt",
                        "text": "Vi vill gärna prata med dig.",
                        "sender": "FK",
                        "last_answer_date": (sent + timedelta(days=10)).date(),
                    },
                )
            )
    if rng.random() < 0.15 and not d.state.is_closed:
        d.do(CloseCase(actor=physician, reason="return_to_work_full"), day=last - 2)
    elif rng.random() < 0.7:
        d.advance(d.at(last + 8))  # the sick period ends by itself after the merge gap
    return d


def sample_cases(
    count: int, seed: int = 7, first_start: date = date(2024, 1, 1), prefix: str = "case"
) -> Iterator[tuple[str, list[Event]]]:
    """`count` cases as (case_id, events), starts spread over a year."""
    rng = random.Random(seed)
    for n in range(count):
        case_id = f"{prefix}-{seed}-{n:07d}"
        start = first_start + timedelta(days=rng.randrange(365))
        yield case_id, drive_case(case_id, rng, start).events


def to_new_events(events: list[Event], **metadata: Any) -> list[NewEvent]:
    out = []
    for event in events:
        type_, schema_version, data = event_to_record(event)
        meta = {"recorded_by": event.recorded_by, **metadata}
        out.append(NewEvent(event.event_id, type_, schema_version, data, meta))
    return out


def bench_cases(
    total_events: int, seed: int = 11, templates: int = 200, first_start: date = date(2024, 1, 1)
) -> Iterator[tuple[str, list[NewEvent]]]:
    """About `total_events` events as whole cases, for the rebuild benchmark (lazily).

    Deciding a million events takes minutes, so `templates` distinct cases are decided once and
    cloned under new case ids (ids, event ids and case_id fields rewritten).
    """
    base = list(sample_cases(templates, seed=seed, first_start=first_start, prefix="tmpl"))
    records = [(cid, [event_to_record(e) for e in evs]) for cid, evs in base]
    produced = 0
    n = 0
    while produced < total_events:
        _, recs = records[n % len(records)]
        case_id = f"bench-{n:08d}"
        new = []
        for type_, schema_version, data in recs:
            data = {**data, "case_id": case_id, "event_id": f"{case_id}/{data['version']}"}
            meta = {"recorded_by": data["recorded_by"]}
            new.append(NewEvent(data["event_id"], type_, schema_version, data, meta))
        yield case_id, new
        produced += len(new)
        n += 1
