"""What the case must do by itself next, and when.

The workflow waits until `next_timer(state).at` (or a state change), then decides
`timer.command`. Every such decision moves `next_timer` on: a milestone is marked reached,
a follow-up date or FK deadline is marked handled, a closed case has no timers. When
several are due they come one at a time, earliest first; at the same instant milestones
come before follow-ups, FK deadlines and closure.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import AwareDatetime, BaseModel

from .calendar import start_of, subtract_working_days
from .commands import (
    SYSTEM,
    CloseCase,
    Command,
    ReachConsentReminder,
    ReachFkAnswerDeadline,
    ReachFkAnswerReminder,
    ReachFollowUpDate,
    ReachMilestone,
)
from .fk import REMINDER_WORKING_DAYS
from .rules import CURRENT, Rules
from .state import CaseState


class Timer(BaseModel):
    at: AwareDatetime
    command: Command


def due_timers(state: CaseState, rules: Rules = CURRENT) -> list[Timer]:
    """Every pending timer of an open case, in priority order (not sorted by time)."""
    if not state.is_opened or state.is_closed:
        return []
    timers = [
        Timer(at=start_of(on), command=ReachMilestone(actor=SYSTEM, day=day))
        for on, day in state.milestones_ahead()
    ]
    due = state.follow_up_date
    if due is not None and due not in state.follow_up_dates_reached:
        timers.append(Timer(at=start_of(due), command=ReachFollowUpDate(actor=SYSTEM, due_on=due)))
    for record in state.fk_awaiting_care():
        last = record.message.last_answer_date
        if last is None:
            continue
        message_id = record.message.message_id
        if not record.reminded:
            timers.append(
                Timer(
                    at=start_of(
                        subtract_working_days(
                            last, REMINDER_WORKING_DAYS, rules.holiday_working_days
                        )
                    ),
                    command=ReachFkAnswerReminder(actor=SYSTEM, message_id=message_id),
                )
            )
        if not record.overdue:
            timers.append(
                Timer(
                    at=start_of(last + timedelta(days=1)),
                    command=ReachFkAnswerDeadline(actor=SYSTEM, message_id=message_id),
                )
            )
    if rules.consent_reminders:
        for consent in state.consents:
            if (remind_at := consent.remind_at) is not None:
                timers.append(
                    Timer(
                        at=remind_at,
                        command=ReachConsentReminder(
                            actor=SYSTEM, recipient=consent.recipient, purpose=consent.purpose
                        ),
                    )
                )
    closes_at = state.closes_at(rules.whole_merge_gap)
    if closes_at is not None:
        timers.append(
            Timer(at=closes_at, command=CloseCase(actor=SYSTEM, reason="sick_period_ended"))
        )
    return timers


def next_timer(state: CaseState, rules: Rules = CURRENT) -> Timer | None:
    """The earliest thing the workflow must do by itself, or None."""
    return min(due_timers(state, rules), key=lambda t: t.at, default=None)
