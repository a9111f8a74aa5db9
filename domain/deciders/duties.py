"""Milestones and their duties, and the notifications that carry them out.

Each subdomain has `decide(command, state, out)` for its commands and `evolve(state, event)`
for its events (in place); `domain/decider.py` combines them.
"""

from __future__ import annotations

from typing import assert_never

from ..calendar import (
    MILESTONE_DAYS,
    start_of,
)
from ..commands import (
    ReachMilestone,
    RecordNotificationOutcome,
)
from ..emitter import Emitter
from ..errors import DomainError
from ..events import (
    MilestoneDutiesDoneLate,
    MilestoneReached,
    NotificationFailed,
    NotificationRequested,
    NotificationSent,
    NotificationSuppressed,
)
from ..milestones import FLAGGED_FINDINGS, reach
from ..state import (
    CaseState,
    duty_key,
)
from ..vocabulary import NotificationOutcome
from . import certificates, fk_messaging
from .common import flag

DutiesCommand = ReachMilestone | RecordNotificationOutcome
DutiesEvent = (
    MilestoneReached | MilestoneDutiesDoneLate | NotificationRequested | NotificationSent |
    NotificationSuppressed | NotificationFailed
)

_OUTCOMES: dict[str, NotificationOutcome] = {
    "NotificationSent": "sent",
    "NotificationFailed": "failed",
    "NotificationSuppressed": "suppressed",
}



def decide(c: DutiesCommand, state: CaseState, out: Emitter) -> None:
    match c:
        case ReachMilestone():
            _reach_milestone(c, state, out)
        case RecordNotificationOutcome():
            _notification_outcome(c, state, out)
        case _:
            assert_never(c)


def _reach_milestone(c: ReachMilestone, state: CaseState, out: Emitter) -> None:
    if c.day not in MILESTONE_DAYS:
        raise DomainError(
            "day",
            "milestone_unknown",
            f"day {c.day} is not a milestone ({', '.join(map(str, MILESTONE_DAYS))})",
        )
    on = state.milestone_date(c.day)
    if c.day in state.milestones_reached or on is None:  # None: reached in the earlier period
        return
    if out.now < start_of(on):
        raise DomainError("day", "milestone_not_due", f"day {c.day} has not begun")
    reach(c.day, state, out)


def _notification_outcome(c: RecordNotificationOutcome, state: CaseState, out: Emitter) -> None:
    pending = state.pending_notification(c.notification_id)
    if pending is None:
        if c.notification_id in state.notification_outcomes:
            return
        raise DomainError(
            "notification_id",
            "notification_unknown",
            f"notification {c.notification_id} was never requested in this case",
        )
    envelope = {**out.envelope(), "notification_id": c.notification_id}
    if c.outcome == "sent":
        out.add(NotificationSent(**envelope, receipt=c.receipt))
        if pending.kind == "fk_message":
            fk_messaging.fk_message_delivered(pending, c.receipt, state, out)
        certificate_id = pending.parameters.get("certificate_id", "")
        record = state.certificates.get(certificate_id)
        if (out.rules.revoke_at_fk and pending.kind == "certificate_to_fk"
                and record is not None and record.revoked):
            certificates.revocation_to_fk(certificate_id, out)  # revoked on its way to FK
    elif c.outcome == "failed":
        out.add(NotificationFailed(**envelope, reason=c.reason or ""))
    else:
        out.add(
            NotificationSuppressed(
                **envelope,
                recipient=pending.recipient,
                purpose=pending.purpose,
                kind=pending.kind,
                reason=c.reason or "consent no longer valid when it was to be sent",
            )
        )


def _notification_settled(
    s: CaseState, e: NotificationSent | NotificationFailed | NotificationSuppressed
) -> None:
    """The notification has its outcome; FK sends also settle the outbox or the sent list."""
    note = s.pending_notification(e.notification_id or "")
    s.pending_notifications = [
        n for n in s.pending_notifications if n.notification_id != e.notification_id
    ]
    s.notification_outcomes[e.notification_id or ""] = _OUTCOMES[e.type]
    if note is None:
        return
    if note.kind == "certificate_to_fk" and isinstance(e, NotificationSent):
        s.certificates_sent_to_fk[note.parameters.get("certificate_id", "")] = e.receipt or ""
    if note.kind == "fk_message" and not isinstance(e, NotificationSent):
        s.fk_outbox.pop(note.parameters.get("message_id", ""), None)


def evolve(s: CaseState, e: DutiesEvent) -> None:
    match e:
        case MilestoneReached():
            s.milestones_reached = sorted({*s.milestones_reached, e.day})
            for finding in e.findings:  # in their recorded order: a set's order varies by process
                if finding in FLAGGED_FINDINGS:
                    flag(s, finding)
        case MilestoneDutiesDoneLate():
            for finding in e.findings:
                if finding in FLAGGED_FINDINGS:
                    flag(s, finding)
        case NotificationRequested():
            s.pending_notifications.append(e)
            s.duties[duty_key(e.kind, e.recipient, e.parameters)] = "done"
        case NotificationSuppressed() if e.notification_id is None:  # decided, not delivered
            s.duties.setdefault(duty_key(e.kind, e.recipient, e.parameters), "suppressed")
        case NotificationSent() | NotificationFailed() | NotificationSuppressed():
            if e.notification_id is not None:
                _notification_settled(s, e)
        case _:
            assert_never(e)
