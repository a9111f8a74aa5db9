"""The state of one case, folded from its events; JSON round-trippable.

The workflow carries it across continue-as-new and the projection stores it as jsonb, so it
holds only data; the questions the rules ask of it are methods below.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from .calendar import (
    CHAIN_MILESTONE_DAYS,
    LONG_ABSENCE_DAYS,
    MILESTONE_DAYS,
    REOPEN_WINDOW_DAYS,
    DateRange,
    covered_days,
    day_date,
    start_of,
)
from .certificate import Certificate
from .consent import ConsentRecord, Purpose, Recipient, consent_refusal
from .events import NotificationRequested
from .fk import FkMessage, FkMessageRecord
from .plan import Plan
from .rehab_chain import ChainLink, SickPeriod
from .vocabulary import (
    CloseReason,
    CoordinationStatus,
    NotificationOutcome,
    Phase,
)


class CertificateRecord(BaseModel):
    certificate: Certificate
    recorded_at: AwareDatetime
    revoked: bool = False
    revoked_at: AwareDatetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None  # the certificate this one took the place of (KOMPLT/ERSATT)

    @property
    def counts(self) -> bool:
        """Revoked (makulerade) and replaced certificates stop counting."""
        return not self.revoked and self.replaced_by is None


DutyStatus = Literal["done", "suppressed"]


def duty_key(kind: str, recipient: str, parameters: dict[str, str]) -> str:
    """Which duty a notification carries out: its kind, recipient and certificate if any."""
    certificate = parameters.get("certificate_id")
    return f"{kind}>{recipient}" + (f":{certificate}" if certificate else "")


class PlanVersion(BaseModel):
    version: int
    plan: Plan
    recorded_at: AwareDatetime
    recorded_by: str


class FollowUpRecord(BaseModel):
    followed_up_on: date
    recorded_at: AwareDatetime
    recorded_by: str
    note: str = ""


class CoordinationStatusRecord(BaseModel):
    status: CoordinationStatus
    set_by: str
    set_at: AwareDatetime
    note: str = ""


MeetingKind = Literal[
    "mapping_conversation", "multimodal_team", "reconciliation", "joint_individual_plan"
]


class Meeting(BaseModel):
    """A coordinator's meeting: mapping conversation, multimodal team, avstämningsmöte or SIP."""

    kind: MeetingKind
    held_on: date
    participants: list[str] = Field(default_factory=list)
    decisions: list[str] = Field(default_factory=list)
    note: str = ""
    recorded_by: str


class CaseState(BaseModel):
    case_id: str
    version: int = 0
    phase: Phase = "assessment"
    opened_at: AwareDatetime | None = None
    patient_id: str | None = None
    unit_id: str | None = None
    employer_name: str | None = None
    protected_identity: bool = False
    sick_period_start: date | None = None
    #: The earlier sick period whose rehabilitation chain this one continues (None: day 1).
    rehab_chain: ChainLink | None = None
    merge_gap_days: int = 5
    certificates: dict[str, CertificateRecord] = Field(default_factory=dict)
    plans: list[PlanVersion] = Field(default_factory=list)
    follow_ups: list[FollowUpRecord] = Field(default_factory=list)
    follow_up_date: date | None = None
    follow_up_dates_reached: list[date] = Field(default_factory=list)
    consents: list[ConsentRecord] = Field(default_factory=list)
    milestones_reached: list[int] = Field(default_factory=list)
    #: Notifications decided, by `duty_key`: done (requested) or suppressed (no consent).
    duties: dict[str, DutyStatus] = Field(default_factory=dict)
    #: `duties` was folded from the first event (False for a state carried across
    #: continue-as-new from code older than the duty record: late duties are then left alone,
    #: since what was done before is not known and nothing may be done twice).
    duties_tracked: bool = False
    pending_notifications: list[NotificationRequested] = Field(default_factory=list)
    notification_outcomes: dict[str, NotificationOutcome] = Field(default_factory=dict)
    fk_messages: dict[str, FkMessageRecord] = Field(default_factory=dict)
    fk_outbox: dict[str, FkMessage] = Field(default_factory=dict)  # written, not yet acknowledged
    certificates_sent_to_fk: dict[str, str] = Field(default_factory=dict)  # id -> FK's receipt
    coordination_status: CoordinationStatusRecord | None = None
    coordination_offered_at: AwareDatetime | None = None
    coordination_measures: int = 0
    referred_to_coordinator_at: AwareDatetime | None = None
    referred_to_multimodal_team_at: AwareDatetime | None = None
    meetings: list[Meeting] = Field(default_factory=list)
    employer_return_plan_date: date | None = None
    flags: list[str] = Field(default_factory=list)
    closed_at: AwareDatetime | None = None
    closed_reason: CloseReason | None = None

    @property
    def is_opened(self) -> bool:
        return self.opened_at is not None

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    @property
    def start(self) -> date:
        """Day 1 (only meaningful once the case is opened)."""
        assert self.sick_period_start is not None, "case not opened"
        return self.sick_period_start

    def day(self, n: int) -> date:
        return day_date(self.start, n)

    @property
    def chain_days_before(self) -> int:
        """Days of the rehabilitation chain counted in linked earlier sick periods."""
        return self.rehab_chain.chain_days_before if self.rehab_chain else 0

    def chain_day(self, on: date) -> int:
        """Which day of the rehabilitation chain a date is."""
        return self.chain_days_before + (on - self.start).days + 1

    def milestone_date(self, day: int) -> date | None:
        """The date milestone `day` falls on in this case: the chain milestones count the
        chain's days. None when that chain day lay in the linked earlier period."""
        own_day = day - self.chain_days_before if day in CHAIN_MILESTONE_DAYS else day
        return self.day(own_day) if own_day >= 1 else None

    def milestones_ahead(self) -> list[tuple[date, int]]:
        """(date, milestone) of the milestones this case has still to reach, by date."""
        return sorted(
            (on, day)
            for day in MILESTONE_DAYS
            if day not in self.milestones_reached and (on := self.milestone_date(day)) is not None
        )

    def as_sick_period(self) -> SickPeriod | None:
        """This case as an earlier sick period of a later case's chain (None: no sick period)."""
        end = self.sick_period_end
        if not self.is_opened or end is None or self.closed_reason == "opened_in_error":
            return None
        return SickPeriod(self.case_id, self.start, end, self.chain_days_before)

    @property
    def counting_certificates(self) -> list[Certificate]:
        return [r.certificate for r in self.certificates.values() if r.counts]

    @property
    def certificate_ranges(self) -> list[DateRange]:
        return [p.range for c in self.counting_certificates for p in c.periods]

    @property
    def latest_certificate(self) -> Certificate | None:
        """The most recently issued certificate that counts."""
        return max(self.counting_certificates, key=lambda c: c.issued_at, default=None)

    @property
    def sick_period_end(self) -> date | None:
        """The last day covered by a counting certificate."""
        return max((c.last_day for c in self.counting_certificates), default=None)

    @property
    def covered_days(self) -> int:
        return covered_days(self.certificate_ranges)

    @property
    def plan(self) -> Plan | None:
        return self.plans[-1].plan if self.plans else None

    def covers(self, on: date) -> bool:
        """A counting certificate puts the patient on sick leave on this date."""
        return any(start <= on <= end for start, end in self.certificate_ranges)

    def on_sick_leave_through(self, on: date) -> bool:
        """The sick leave runs at least until this date (by the certificates recorded)."""
        end = self.sick_period_end
        return end is not None and end >= on

    def grade_on(self, on: date) -> int | None:
        return max((g for c in self.counting_certificates if (g := c.grade_on(on))), default=None)

    def expects_long_absence(self) -> bool:
        """Expected absence of 60 days or more, from the periods and the prognosis."""
        ends = [c.expected_end() for c in self.counting_certificates]
        if not ends:
            return False
        if any(end is None for end in ends):
            return True
        last = max(end for end in ends if end is not None)
        return (last - self.start).days + 1 >= LONG_ABSENCE_DAYS

    def closes_at(self, whole_gap: bool = True) -> datetime | None:
        """When the sick period has ended: the merge gap after the last certificate passed.

        With last covered day E and gap g a certificate starting on E+g+1 still merges (g days
        lie between), so the case closes at 00:00 of E+g+2 (`whole_gap`; as released: E+g+1).
        Chosen rule: only a case with a counting certificate ends by itself (a case opened
        before its first certificate waits for one or is closed by hand).
        """
        end = self.sick_period_end
        if end is None:
            return None
        return start_of(end + timedelta(days=self.merge_gap_days + (2 if whole_gap else 1)))

    def reopens_until(self) -> datetime | None:
        """The instant until which a case that closed itself reopens for a merging certificate."""
        closes_at = self.closes_at()
        if self.closed_reason != "sick_period_ended" or closes_at is None:
            return None
        return closes_at + timedelta(days=REOPEN_WINDOW_DAYS)

    @property
    def is_job_seeker(self) -> bool:
        """The latest certificate gives ARBETSSOKANDE and no current job: no employer."""
        latest = self.latest_certificate
        return (
            latest is not None
            and "ARBETSSOKANDE" in latest.occupations
            and "NUVARANDE_ARBETE" not in latest.occupations
        )

    def pending_notification(self, notification_id: str) -> NotificationRequested | None:
        """The requested notification still waiting for its outcome."""
        return next(
            (n for n in self.pending_notifications if n.notification_id == notification_id), None
        )

    def certificate_to_fk_requested(self, certificate_id: str) -> bool:
        """FK already acknowledged the certificate, or a send of it is still pending."""
        return certificate_id in self.certificates_sent_to_fk or any(
            n.kind == "certificate_to_fk" and n.parameters.get("certificate_id") == certificate_id
            for n in self.pending_notifications
        )

    def fk_awaiting_care(self) -> list[FkMessageRecord]:
        """FK messages care must act on (PENDING_INTERNAL_ACTION)."""
        return [r for r in self.fk_messages.values() if r.awaiting_care]


def consent_check(
    state: CaseState, recipient: Recipient, purpose: Purpose, at: datetime
) -> str | None:
    """The refusal reason for telling `recipient` for `purpose` at `at`, or None when allowed."""
    return consent_refusal(state.consents, recipient, purpose, at)


def consent_allows(state: CaseState, recipient: Recipient, purpose: Purpose, at: datetime) -> bool:
    """True when the case may tell `recipient` for `purpose` at the instant `at`."""
    return consent_check(state, recipient, purpose, at) is None
