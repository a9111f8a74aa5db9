"""The flat row the case list shows, derived from the state alone."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from .calendar import local_date, start_of
from .icd import chapter
from .identity import age_band, birth_date, sex_for_statistics
from .privacy import may_see_identity
from .state import CaseState
from .vocabulary import CloseReason, CoordinationStatus, Phase, Role


class CaseSummary(BaseModel):
    case_id: str
    version: int
    phase: Phase
    unit_id: str | None = None
    sex: str | None = None
    age_band: str | None = None
    birth_year: int | None = None
    sick_period_start: date | None = None
    sick_period_end: date | None = None
    days: int = 0
    current_grade: int | None = None
    diagnosis_code: str | None = None
    diagnosis_chapter: str | None = None
    next_milestone_day: int | None = None
    next_milestone_at: AwareDatetime | None = None
    follow_up_due: date | None = None
    fk_answer_due: date | None = None
    overdue: list[str] = Field(default_factory=list)
    unanswered_fk: int = 0
    consents: dict[str, list[str]] = Field(default_factory=dict)
    coordination_status: CoordinationStatus | None = None
    in_coordinator_queue: bool = False
    protected_identity: bool = False
    opened_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    closed_reason: CloseReason | None = None


def summarize(state: CaseState, at: datetime | None = None) -> CaseSummary:
    """Summarise a case.

    Chosen rules: age band is the age on day 1. `current_grade` and `consents` depend on the
    moment of reading (revised rules): with `at`, the grade on that day (None when no
    certificate covers it) and the consents valid at that instant; without `at` (the stored
    case list row, refreshed at read time by `as_read_at`) the grade of the last certificate
    day and the consents neither withdrawn nor superseded. A case longer than 30 days without
    a coordination status is in the coordinator's work queue (Rehabstöd).
    """
    if not state.is_opened:
        return CaseSummary(case_id=state.case_id, version=state.version, phase=state.phase)
    pnr = state.patient_id
    assert pnr is not None
    latest = state.latest_certificate
    end = state.sick_period_end
    open_ = not state.is_closed
    ahead = state.milestones_ahead()
    next_on, next_day = ahead[0] if open_ and ahead else (None, None)
    awaiting = state.fk_awaiting_care()
    return CaseSummary(
        case_id=state.case_id,
        version=state.version,
        phase=state.phase,
        unit_id=state.unit_id,
        sex=sex_for_statistics(pnr),
        age_band=age_band(pnr, state.start),
        birth_year=birth_date(pnr).year,
        sick_period_start=state.start,
        sick_period_end=end,
        days=state.covered_days,
        current_grade=_grade(state, at),
        diagnosis_code=latest.main_diagnosis.code if latest else None,
        diagnosis_chapter=chapter(latest.main_diagnosis.code) if latest else None,
        next_milestone_day=next_day,
        next_milestone_at=start_of(next_on) if next_on else None,
        follow_up_due=state.follow_up_date if open_ else None,
        fk_answer_due=min((d for r in awaiting if (d := r.message.last_answer_date)), default=None),
        overdue=list(state.flags),
        unanswered_fk=len(awaiting),
        consents=_consents(state, at),
        coordination_status=state.coordination_status.status if state.coordination_status else None,
        in_coordinator_queue=in_coordinator_queue(state),
        protected_identity=state.protected_identity,
        opened_at=state.opened_at,
        closed_at=state.closed_at,
        closed_reason=state.closed_reason,
    )


def _grade(state: CaseState, at: datetime | None) -> int | None:
    if at is not None:
        return state.grade_on(local_date(at))
    end = state.sick_period_end
    return state.grade_on(end) if end else None


def _consents(state: CaseState, at: datetime | None) -> dict[str, list[str]]:
    held: dict[str, set[str]] = {}
    for record in state.consents:
        holds = record.valid_at(at) if at is not None else record.ends_at == record.expires_at
        if holds:
            held.setdefault(record.recipient, set()).add(record.purpose)
    return {recipient: sorted(purposes) for recipient, purposes in held.items()}


def as_read_at(state: CaseState, at: datetime) -> dict[str, Any]:
    """The summary fields that depend on the moment of reading, evaluated at `at`: a stored
    case list row is brought up to the instant it is read with these."""
    if not state.is_opened:
        return {}
    return {"current_grade": _grade(state, at), "consents": _consents(state, at)}


def rehab_chain_at(state: CaseState, at: datetime) -> dict[str, Any]:
    """The case's place in the rehabilitation chain as read at `at` (chain day while open)."""
    if not state.is_opened:
        return {}
    linked = state.rehab_chain
    return {"rehab_chain": {
        "linked_case_id": linked.earlier_case_id if linked else None,
        "days_before": state.chain_days_before,
        "chain_day": None if state.is_closed else state.chain_day(local_date(at)),
    }}


GRADES = (25, 50, 75, 100)


def list_filter_columns(state: CaseState) -> dict[str, Any]:
    """What the case list filters on, and reads at the moment of reading, beyond the
    summary's columns (stored beside them):

    `physicians`: everyone who issued one of the case's certificates (revoked and replaced
    ones too: the physician still issued it), sorted.
    `consent_windows`: for each recipient and purpose the latest consent's validity,
    {recipient: {purpose: [given_at, ends_at]}} as ISO instants. Every earlier consent for that
    recipient and purpose ended when the latest was given (a newer consent supersedes), so
    "held at t" is given_at <= t < ends_at (`consents_at`, the values the list shows).
    `consent_ends`: when they end, as Unix seconds, {"recipient:purpose": end, "recipient":
    the latest end of its purposes}: for an instant after the consents were given (any
    instant of reading) "held" is end > t, one number per row for the list's filters.
    `consent_until`: the last of the ends (None without consents).
    `grade_days`: {grade: [[first, last], ...]}: the days each grade covers among the counting
    certificates' periods; the grade on a day is the highest covering it."""
    latest: dict[tuple[str, str], Any] = {}
    for record in state.consents:
        key = (record.recipient, record.purpose)
        if key not in latest or record.given_at >= latest[key].given_at:
            latest[key] = record
    windows: dict[str, dict[str, list[str]]] = {}
    ends: dict[str, float] = {}
    for (recipient, purpose), record in sorted(latest.items()):
        windows.setdefault(recipient, {})[purpose] = [
            record.given_at.isoformat(),
            record.ends_at.isoformat(),
        ]
        end = record.ends_at.timestamp()
        ends[f"{recipient}:{purpose}"] = end
        ends[recipient] = max(ends.get(recipient, end), end)
    grade_days: dict[int, list[list[date]]] = {g: [] for g in GRADES}
    for certificate in state.counting_certificates:
        for p in certificate.periods:
            grade_days[p.grade].append([p.start, p.end])
    return {
        "physicians": sorted({r.certificate.issued_by for r in state.certificates.values()}),
        "consent_windows": windows,
        "consent_ends": ends,
        "consent_until": max((r.ends_at for r in latest.values()), default=None),
        "grade_days": grade_days,
    }


def consents_at(windows: dict[str, dict[str, list[str]]], at: datetime) -> dict[str, list[str]]:
    """The consents held at `at`, from `list_filter_columns`' consent windows (the same as
    `summarize(state, at).consents`)."""
    held: dict[str, list[str]] = {}
    for recipient, purposes in windows.items():
        valid = sorted(
            purpose
            for purpose, (given, ends) in purposes.items()
            if datetime.fromisoformat(given) <= at < datetime.fromisoformat(ends)
        )
        if valid:
            held[recipient] = valid
    return held


def in_coordinator_queue(state: CaseState) -> bool:
    """Open cases past day 30 with sick leave beyond it and no coordination status."""
    return (
        30 in state.milestones_reached
        and not state.is_closed
        and state.coordination_status is None
        and state.on_sick_leave_through(state.day(31))
    )


def patient_identity_for(state: CaseState, role: Role) -> str | None:
    """The identity number a reader may see: none for non-physicians when it is protected."""
    return state.patient_id if may_see_identity(role, state.protected_identity) else None
