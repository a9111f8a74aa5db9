"""The public shape of the read endpoints: what a client gets back, field by field.

They describe the JSON the endpoints have always returned (the routes still build it as
before, so not a byte changed); FastAPI puts them in the OpenAPI document as each read's
200 response, and schemathesis (tests/api/test_schemathesis.py) and
tests/api/test_read_models.py check real answers against them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.measures import AnswerTimes, Breakdown, KvaCounts, KvaRegistration, SplitShare
from domain.vocabulary import CloseReason, CoordinationStatus, Phase

_CASE_EXAMPLE: dict[str, Any] = {
    "case_id": "3fd56b8434ef4c009c5167c0939a1a10", "version": 7, "phase": "plan",
    "unit_id": "vc-norr", "sex": "kvinna", "age_band": "40-49", "birth_year": 1981,
    "sick_period_start": "2026-01-05", "sick_period_end": "2026-02-15", "days": 42,
    "current_grade": 50, "diagnosis_code": "F43.8A", "diagnosis_chapter": "F",
    "next_milestone_day": 90, "next_milestone_at": "2026-04-04T00:00:00+02:00",
    "follow_up_due": "2026-02-20", "fk_answer_due": None, "overdue": [], "unanswered_fk": 0,
    "consents": {"fk": ["share_information"]}, "coordination_status": None,
    "in_coordinator_queue": False, "protected_identity": False,
    "opened_at": "2026-01-05T09:12:00+00:00", "closed_at": None, "closed_reason": None,
}


class CaseListItem(BaseModel):
    """One case as the case list shows it (the case_summary projection's row)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CASE_EXAMPLE]})

    case_id: str = Field(description="The case's id.")
    version: int = Field(description="Events recorded so far: the case's version.")
    phase: Phase = Field(description="Where the case is: assessment, plan, follow_up, closed.")
    unit_id: str | None = Field(description="The care unit that holds the case.")
    sex: str | None = Field(description="From the identity number, for statistics.")
    age_band: str | None = Field(description="Age on day 1, in ten-year bands.")
    birth_year: int | None = Field(description="From the identity number.")
    sick_period_start: date | None = Field(description="Day 1 of the sick period.")
    sick_period_end: date | None = Field(description="The last day any certificate covers.")
    days: int = Field(description="Days of the sick period covered by certificates.")
    current_grade: int | None = Field(
        description="Sick-leave grade (25, 50, 75, 100) today; null when no certificate "
                    "covers today.")
    diagnosis_code: str | None = Field(description="ICD-10-SE code of the latest certificate.")
    diagnosis_chapter: str | None = Field(description="Its ICD-10 chapter letter.")
    next_milestone_day: int | None = Field(description="Next rehabilitation-chain day "
                                                       "(14, 30, 90, 180, 365, 550).")
    next_milestone_at: datetime | None = Field(description="When that day begins (Stockholm).")
    follow_up_due: date | None = Field(description="When the plan is to be followed up.")
    fk_answer_due: date | None = Field(description="The earliest date an answer to FK is due.")
    overdue: list[str] = Field(description="Duties past their date.")
    unanswered_fk: int = Field(description="FK messages waiting for care's answer.")
    consents: dict[str, list[str]] = Field(
        description="Consents in force now: recipient -> purposes.")
    coordination_status: CoordinationStatus | None = Field(
        description="The coordinator's status for the case.")
    in_coordinator_queue: bool = Field(
        description="Past day 30, on sick leave beyond it, no coordination status yet.")
    protected_identity: bool = Field(
        description="Skyddad identitet: non-physicians never see the identity number.")
    opened_at: datetime | None = Field(description="When the case was opened.")
    closed_at: datetime | None = Field(description="When it was closed.")
    closed_reason: CloseReason | None = Field(description="Why it was closed.")


class RehabChainView(BaseModel):
    """Where the case stands in rehabiliteringskedjan (27 kap. SFB)."""

    linked_case_id: str | None = Field(
        description="The patient's earlier case whose sick period, less than 90 days before "
                    "day 1, this one continues; null when the chain starts at day 1.")
    days_before: int = Field(description="Chain days counted in linked earlier sick periods.")
    chain_day: int | None = Field(
        description="Today's day of the chain (days before + today's day of the sick period); "
                    "null once the case is closed.")


class CaseSummaryView(CaseListItem):
    """The case's summary: its list row, with the identity number for those who may see it."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_CASE_EXAMPLE, "patient_id": "198112189876",
         "rehab_chain": {"linked_case_id": None, "days_before": 0, "chain_day": 42}}]})

    patient_id: str | None = Field(
        description="The identity number (12 digits); null when the patient has protected "
                    "identity and the reader is not a physician.")
    rehab_chain: RehabChainView = Field(
        description="The rehabilitation chain: the milestones 90/180/365 follow its day, "
                    "8/14/30/60 the sick period's own.")


class CaseListPage(BaseModel):
    """A page of the case list."""

    total: int = Field(description=(
        "Cases matching the filters; counting stops at 1,000 (or at the end of the page "
        "asked for, if later): see total_is_lower_bound."), examples=[132])
    total_is_lower_bound: bool = Field(
        default=False, description="More than `total` cases match (counting stopped there).",
        examples=[False])
    limit: int = Field(description="The page size asked for.", examples=[50])
    offset: int = Field(description="Cases skipped before this page.", examples=[0])
    items: list[CaseListItem] = Field(description="The page, in the order asked for.")


class HistoryEntry(BaseModel):
    """One recorded event."""

    version: int = Field(description="Its place in the case's history, from 1.", examples=[1])
    type: str = Field(description="The event type.", examples=["CaseOpened"])
    event_id: str = Field(description="Globally unique id.",
                          examples=["b9a1f0c2d3e4f5a6b7c8d9e0f1a2b3c4"])
    schema_version: int = Field(description="The version of the event's schema.", examples=[1])
    recorded_at: datetime = Field(description="When it was stored.")
    data: dict[str, Any] = Field(description="The event as recorded (identity numbers masked "
                                             "for readers who may not see them).")


class HistoryPage(BaseModel):
    """A page of a case's event history, oldest first."""

    case_id: str = Field(description="The case's id.")
    items: list[HistoryEntry] = Field(description="Events after `from_version`, in order.")
    next_from_version: int | None = Field(
        description="Pass as `from_version` for the next page; null on the last page.",
        examples=[None])


class AccessEntry(BaseModel):
    """One read of a case (PDL access log)."""

    at: datetime = Field(description="When it was read.")
    actor_id: str = Field(description="Who read it (the token's subject).",
                          examples=["dr-anna"])
    role: str = Field(description="In which role.", examples=["physician"])
    units: list[str] = Field(description="The reader's units at the time.",
                             examples=[["vc-norr"]])
    action: str = Field(description="What was read: summary, list, events, kva, find, access_log.",
                        examples=["summary"])
    purpose: str = Field(description="Why, as the reader stated it (X-Purpose).",
                         examples=["care"])


class CaseAccessLog(BaseModel):
    """Who read one case."""

    case_id: str = Field(description="The case's id.")
    items: list[AccessEntry] = Field(description="Every read, in time order.")


class PatientAccessEntry(AccessEntry):
    case_id: str = Field(description="The case that was read.")


class PatientAccessLog(BaseModel):
    """Who read any of a patient's cases."""

    cases: list[str] = Field(description="The patient's cases.")
    items: list[PatientAccessEntry] = Field(description="Every read, in time order.")


class MeasuresView(BaseModel):
    """Follow-up measures (uppföljningsmått) for a period, from the event record."""

    period_from: date = Field(description="First day of the period.")
    period_to: date = Field(description="Last day of the period.")
    unit_id: str | None = Field(description="The unit measured; null: every unit (ops).")
    started: Breakdown = Field(description="Sick periods that began in the period.")
    ongoing: Breakdown = Field(description="Sick periods under way at some time in it.")
    ended: Breakdown = Field(description="Sick periods that ended in it.")
    with_plan: SplitShare = Field(description="Ongoing cases with a plan (KVÅ DV077).")
    plan_followed_up: SplitShare = Field(
        description="Ongoing cases with a plan whose plan was followed up (KVÅ AW026).")
    coordination_given: SplitShare = Field(
        description="Ongoing cases given coordination (KVÅ GC001, any occasion).")
    over_30_days_to_coordinator: SplitShare = Field(
        description="Cases on sick leave past day 30 (calendar days from day 1) referred to "
                    "the rehabilitation coordinator.")
    employer_plan_by_day_30: SplitShare = Field(
        description="Employer return-to-work plans by day 30 (30 kap. 6 § SFB), among cases "
                    "past day 30 expecting 60 days or more, patients without an employer "
                    "(job seekers) left out.")
    komplt_per_certificate: SplitShare = Field(
        description="FK completion requests (KOMPLT) per certificate.")
    fk_answer_days: AnswerTimes = Field(description="Days care took to answer FK.")


class KvaCountsView(KvaCounts):
    """KVÅ registrations performed in a period (by the day performed, also when recorded
    later), per code, by sex and unit; cases closed as opened in error left out."""


class CaseKvaView(BaseModel):
    """The KVÅ codes a journal system must register for one case, in the order recorded."""

    case_id: str = Field(description="The case's id.")
    unit_id: str | None = Field(description="The care unit that holds the case (registers them).")
    items: list[KvaRegistration] = Field(
        description="DV077 per plan established, AW026 per follow-up, GC001 per coordination "
                    "occasion (measures, mapping conversations, multimodal team meetings, "
                    "avstämningsmöten, SIP).")


def ok(model: type[BaseModel], text: str) -> dict[int | str, dict[str, Any]]:
    """`responses` for a read whose 200 is `model` (the route keeps building its JSON)."""
    return {200: {"model": model, "description": text}}
