"""Builders and a tiny harness that plays the workflow's part: decide, fold, fire timers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from domain import CaseState, decide, fold, initial_state, next_timer
from domain.calendar import day_start
from domain.certificate import Certificate
from domain.commands import Actor, Command, GiveConsent, OpenCase
from domain.events import Event
from domain.identity import luhn_digit

START = date(2024, 3, 4)  # a Monday; day 1 of every sick period in these tests
PNR = "191212121212"  # Skatteverket's classic test number (a man)
PHYSICIAN = Actor(id="dr-anna", role="physician", unit_id="vc-norr")
COORDINATOR = Actor(id="co-bo", role="coordinator", unit_id="vc-norr")
PATIENT = Actor(id="patient", role="patient")
SYSTEM = Actor(id="system", role="system")
OPS = Actor(id="ops-1", role="ops")
FK_GATEWAY = Actor(id="fk-gateway", role="fk_gateway")


def make_pnr(born: date, serial: int, coordination: bool = False) -> str:
    """A Luhn-valid 12-digit number for a birth date and a three-digit serial."""
    day = born.day + (60 if coordination else 0)
    nine = f"{born:%y%m}{day:02d}{serial:03d}"
    return f"{born.year // 100:02d}{nine}{luhn_digit(nine)}"


def at(day: int, hour: int = 9, start: date = START) -> datetime:
    """An instant on day N of the sick period (09:00 Stockholm by default)."""
    return day_start(start, day) + timedelta(hours=hour)


def certificate(
    cid: str = "c1",
    first: int = 1,
    last: int = 45,
    grade: int = 100,
    issued: int | None = None,
    **extra: Any,
) -> Certificate:
    """A certificate covering days `first`..`last` of the sick period, issued on `issued`."""
    issued_day = first if issued is None else issued
    data: dict[str, Any] = {
        "certificate_id": cid,
        "issued_at": at(issued_day),
        "issued_by": PHYSICIAN.id,
        "diagnoses": [{"code": "F43.8A"}],
        "periods": [
            {
                "grade": grade,
                "start": START + timedelta(days=first - 1),
                "end": START + timedelta(days=last - 1),
            }
        ],
        **extra,
    }
    if issued_day - first > 7 and "motivation_early_start" not in extra:
        data["motivation_early_start"] = "assessed by telephone on day 1"
    return Certificate.model_validate(data)


class Case:
    """One case driven like the workflow does: commands at a clock, timers when due."""

    def __init__(self, case_id: str = "case-1") -> None:
        self.state: CaseState = initial_state(case_id)
        self.events: list[Event] = []
        self.clock = at(1, 0)

    def do(self, command: Command, now: datetime | None = None) -> list[Event]:
        """Decide at `now` (after firing the timers due by then) and fold the events."""
        if now is not None:
            self.advance(now)
        events = decide(command, self.state, self.clock)
        self.state = fold(events, self.state)
        self.events += events
        return events

    def advance(self, until: datetime) -> list[Event]:
        """Fire every timer due by `until` in order, each at its own instant or the clock."""
        fired: list[Event] = []
        while (timer := next_timer(self.state)) is not None and timer.at <= until:
            self.clock = max(self.clock, timer.at)
            fired += self.do(timer.command)
            # a timer that does not move on would wake the workflow for ever
            assert next_timer(self.state) != timer, f"timer did not move on: {timer}"
        self.clock = max(self.clock, until)
        return fired

    def of_type(self, name: str) -> list[Any]:
        return [e for e in self.events if e.type == name]


def opened(
    day: int = 1,
    cert: Certificate | None = None,
    employer: str | None = "Verkstaden AB",
    consents: tuple[tuple[str, str], ...] = (),
    case_id: str = "case-1",
    patient_id: str = PNR,
    unit_id: str = "vc-norr",
    **open_args: Any,
) -> Case:
    """A case opened on day `day` (with its first certificate) and the given consents."""
    case = Case(case_id)
    case.do(
        OpenCase(
            actor=PHYSICIAN,
            case_id=case_id,
            patient_id=patient_id,
            unit_id=unit_id,
            sick_period_start=START,
            employer_name=employer,
            certificate=cert,
            **open_args,
        ),
        at(day),
    )
    for recipient, purpose in consents:
        case.do(GiveConsent(actor=PATIENT, recipient=recipient, purpose=purpose))  # type: ignore[arg-type]
    return case


def kinds(events: list[Event], type_: str = "NotificationRequested") -> list[tuple[str, str]]:
    """(recipient, kind) of the notifications of a type among events."""
    return [(e.recipient, e.kind) for e in events if e.type == type_]  # type: ignore[union-attr]
