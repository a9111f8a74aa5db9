"""The case page's timeline picture, laid out on the server (the template only draws it).

The x axis is the day of the sick period (day 1 = the start date). Certificate periods are bars
whose height is their grade; day 1 and the milestones 8/14/30/60/90/180/365 are vertical
markers (drawn filled once the case reached them); below, one row of marks each for
notifications (sent, suppressed for want of consent, failed), FK messages, plans and
follow-ups, and reopening/closure, placed on the day they happened. Everything here is pure:
state, events and today in, shapes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from api.console.texts import EVENT_TYPES, FK_TOPICS, NOTIFICATION_KINDS, RECIPIENTS, label
from domain.calendar import MILESTONE_DAYS, day_number
from domain.state import CaseState
from store.eventstore import RecordedEvent

WIDTH, LEFT, RIGHT = 1000, 70, 20
BAR_TOP, BAR_BOTTOM = 30, 130  # 100 % at the top, 0 % at the bottom
ROWS = {"notification": 165, "fk": 190, "plan": 215, "case": 240}
ROW_NAMES = {"notification": "Aviseringar", "fk": "FK", "plan": "Plan", "case": "Ärendet"}
HEIGHT = 262
MARK_STEP = 9  # marks on the same day stand side by side


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    grade: int
    text: str
    counts: bool


@dataclass(frozen=True)
class Marker:
    day: int
    x: float
    reached: bool
    text: str


@dataclass(frozen=True)
class Mark:
    kind: str  # css class and data-kind: notification-sent, fk-inbound, plan, closed...
    x: float
    y: float
    day: int
    text: str
    recipient: str = ""


@dataclass
class Timeline:
    days: int
    bars: list[Bar] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    today_x: float | None = None
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bar_top: int = BAR_TOP
    bar_bottom: int = BAR_BOTTOM
    rows: dict[str, int] = field(default_factory=lambda: dict(ROWS))
    row_names: dict[str, str] = field(default_factory=lambda: dict(ROW_NAMES))


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _marks_of(events: list[RecordedEvent], start: date) -> list[tuple[str, int, str, str]]:
    """(kind, day, text, recipient) for each event the timeline shows."""
    requested: dict[str, dict[str, Any]] = {}
    out: list[tuple[str, int, str, str]] = []
    for e in events:
        d = e.data
        day = day_number(start, _instant(d["occurred_at"]))
        if e.type == "NotificationRequested":
            requested[d["notification_id"]] = d
        elif e.type in ("NotificationSent", "NotificationFailed", "NotificationSuppressed"):
            about = d if e.type == "NotificationSuppressed" else requested.get(d["notification_id"], {})
            recipient = about.get("recipient", "")
            what = label(NOTIFICATION_KINDS, about.get("kind"))
            outcome = {"NotificationSent": ("sent", "Skickad"),
                       "NotificationFailed": ("failed", "Misslyckad"),
                       "NotificationSuppressed": ("suppressed", "Stoppad, samtycke saknas")}[e.type]
            if e.type == "NotificationSuppressed" and d.get("reason") and "consent" not in d["reason"]:
                outcome = ("suppressed", "Stoppad")
            out.append((f"notification-{outcome[0]}", day,
                        f"{outcome[1]}: till {label(RECIPIENTS, recipient)} – {what}", recipient))
        elif e.type in ("FkMessageReceived", "FkMessageSent"):
            message = d["message"]
            inbound = e.type == "FkMessageReceived"
            out.append((f"fk-{'inbound' if inbound else 'outbound'}", day,
                        (f"{'Från' if inbound else 'Till'} FK: {label(FK_TOPICS, message.get('topic'))}"
                        f"{' – ' + message['heading'] if message.get('heading') else ''}"), "fk"))
        elif e.type in ("PlanEstablished", "PlanRevised"):
            out.append(("plan", day, f"{EVENT_TYPES[e.type]} (version {d.get('plan_version', 1)})", ""))
        elif e.type == "PlanFollowedUp":
            out.append(("follow-up", day, f"Plan uppföljd {d.get('followed_up_on', '')}", ""))
        elif e.type == "CaseReopened":
            out.append(("reopened", day, "Sjukfallet återöppnat", ""))
        elif e.type == "CaseClosed":
            out.append(("closed", day, "Sjukfallet avslutat", ""))
    return out


def _row(kind: str) -> str:
    if kind.startswith("notification"):
        return "notification"
    if kind.startswith("fk"):
        return "fk"
    if kind in ("plan", "follow-up"):
        return "plan"
    return "case"


def build(state: CaseState, events: list[RecordedEvent], today: date) -> Timeline | None:
    """The timeline of an opened case (None before it is opened)."""
    if state.sick_period_start is None:
        return None
    start = state.sick_period_start
    raw = _marks_of(events, start)
    periods = [(r, p) for r in state.certificates.values() for p in r.certificate.periods]
    last_day = max([(today - start).days + 1, 30]
                   + [(p.end - start).days + 1 for _, p in periods] + [day for _, day, _, _ in raw])
    days = last_day + max(3, last_day // 20)  # a little room after the last thing shown
    first = min([1] + [(p.start - start).days + 1 for _, p in periods] + [d for _, d, _, _ in raw])
    span = days - first + 1

    def x(day: float) -> float:
        return round(LEFT + (day - first) * (WIDTH - LEFT - RIGHT) / span, 1)

    timeline = Timeline(days=days)
    for record, period in sorted(periods, key=lambda rp: (rp[1].start, rp[0].counts)):
        a, b = (period.start - start).days + 1, (period.end - start).days + 1
        height = (BAR_BOTTOM - BAR_TOP) * period.grade / 100
        status = "" if record.counts else (" (makulerat)" if record.revoked else " (ersatt)")
        timeline.bars.append(Bar(
            x=x(a), y=round(BAR_BOTTOM - height, 1), width=max(round(x(b + 1) - x(a), 1), 1.0),
            height=round(height, 1), grade=period.grade, counts=record.counts,
            text=f"Intyg {record.certificate.certificate_id}: {period.grade} %, "
                 f"{period.start} – {period.end}, dag {a}–{b}{status}"))
    for milestone in (1, *MILESTONE_DAYS):
        # a chain milestone falls on chain day N: the own day N - chain days of a linked period
        on = state.milestone_date(milestone) if milestone > 1 else start
        own_day = (on - start).days + 1 if on else 0
        if 1 <= own_day <= days:
            reached = milestone == 1 or milestone in state.milestones_reached
            chain = f" (dag {own_day} av sjukfallet)" if own_day != milestone else ""
            timeline.markers.append(Marker(
                day=milestone, x=x(own_day), reached=reached,
                text=f"Dag {milestone}{chain}" + (" (nådd)" if reached and milestone > 1 else "")))
    taken: dict[tuple[str, int], int] = {}
    for kind, day, text, recipient in raw:
        row = _row(kind)
        n = taken.get((row, day), 0)
        taken[(row, day)] = n + 1
        timeline.marks.append(Mark(kind=kind, x=x(day) + n * MARK_STEP, y=ROWS[row], day=day,
                                   text=f"Dag {day}: {text}", recipient=recipient))
    today_day = (today - start).days + 1
    if first <= today_day <= days:
        timeline.today_x = x(today_day)
    return timeline
