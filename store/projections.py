"""Projections of the event record, fed by store.subscription (rows + checkpoint per batch).

Both projections fold each case's events into a domain `CaseState` of their own (`CaseFold`).
Per batch: group the events by case, take each case's state from an in-memory cache or the
table (or `initial_state`), apply the new events (`decode_event` upcasts old schema
versions), then write every row of the batch in a few statements.

Folding is done in place on a state the projection owns (`domain.apply_in_place`: the
domain's `evolve` deep-copies the whole state, ~170 us, against ~5 us for applying the event;
its `fold` copies once per fold). The cache is bounded, and used
only when the stored row's version equals the cached version, so a batch that rolled back
(cache ahead of the table) reloads from the table. Rows depend on each case alone, so a rebuild
replays the record case by case (`per_stream`, see store.subscription.rebuild), and
`rebuild_all` runs one process per projection.

case_summary
    One row per case: the columns are the domain's `summarize(state)` (everything the case list
    shows and sorts on) and `list_filter_columns(state)` (physicians, consent validity: what
    it filters on besides). The folded state is in case_state (migration 0060), stored as
    zlib-compressed JSON (`pack_state`; as jsonb its ~5 KB were TOASTed on every upsert, 4x
    the cost of the rest of the row), written in the same transaction.

case_measure_facts
    `CaseMeasureFactsProjection`: each case's `domain.measures.case_facts` per Stockholm day on
    which they changed, with the validity [as_of, until), so that
    `store.queries.period_measures` is SQL aggregates over the rows valid on a period's end.
    It has its own checkpoint and its own stored states (case_measure_state). It also
    writes kva_registrations: one row per KVÅ registration, with the case's unit and sex,
    for `store.kva.period_kva_counts` (uncounted once the case is closed as opened in error).
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import typing
import zlib
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

from domain import CaseState, apply_in_place, initial_state, summarize
from domain.calendar import local_date
from domain.events import EVENT_ADAPTER, UPCASTERS, Event, event_from_record
from domain.identity import sex_for_statistics
from domain.measures import CaseFacts, case_facts, kva_registration
from domain.summary import CaseSummary, list_filter_columns
from store.eventstore import EventStore, RecordedEvent, dumps, loads
from store.subscription import Projection, gc_paused, rebuild, run_forever

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


def _case_event_types() -> frozenset[str]:
    union = typing.get_args(Event)[0]
    return frozenset(cls.model_fields["type"].default for cls in typing.get_args(union))


CASE_EVENT_TYPES = _case_event_types()


def decode_event(type_: str, schema_version: int, data: str | dict[str, Any]) -> Event:
    """`event_from_record` for stored JSON text, in one parse-and-validate pass when no upcaster
    applies (about half the cost of json parsing + validate_python, the bulk of a rebuild)."""
    if isinstance(data, str):
        if (type_, schema_version) not in UPCASTERS:
            try:
                event = EVENT_ADAPTER.validate_json(data)
            except ValueError:
                event = None
            if event is not None and event.type == type_ and event.schema_version == schema_version:
                return event
        return event_from_record(type_, schema_version, loads(data))
    return event_from_record(type_, schema_version, data)


# column name -> SQL array type used to pass it through unnest()
SUMMARY_COLUMNS: dict[str, str] = {
    "case_id": "text",
    "version": "int",
    "phase": "text",
    "unit_id": "text",
    "sex": "text",
    "age_band": "text",
    "birth_year": "int",
    "sick_period_start": "date",
    "sick_period_end": "date",
    "days": "int",
    "current_grade": "int",
    "diagnosis_code": "text",
    "diagnosis_chapter": "text",
    "next_milestone_day": "int",
    "next_milestone_at": "timestamptz",
    "follow_up_due": "date",
    "fk_answer_due": "date",
    "overdue": "text",  # JSON array text, unpacked in SQL (unnest cannot pass ragged arrays)
    "unanswered_fk": "int",
    "consents": "text",  # JSON object text
    "coordination_status": "text",
    "in_coordinator_queue": "bool",
    "protected_identity": "bool",
    "opened_at": "timestamptz",
    "closed_at": "timestamptz",
    "closed_reason": "text",
    # beside the summary, for the list's filters (domain.summary.list_filter_columns)
    "physicians": "text",  # JSON array text, as overdue
    "consent_windows": "text",  # JSON object text
    "consent_ends": "text",  # JSON object text
    "consent_until": "timestamptz",
    "grade_25": "text",  # datemultirange literal
    "grade_50": "text",
    "grade_75": "text",
    "grade_100": "text",
}
_JSON_COLUMNS = {"overdue", "consents", "physicians", "consent_windows", "consent_ends"}


def pack_state(state: CaseState) -> bytes:
    """The stored form of a state: its JSON, zlib-compressed (level 1: fast, ~3.3x smaller)."""
    return zlib.compress(state.model_dump_json().encode(), 1)


def unpack_state_json(stored: bytes) -> bytes:
    """The JSON of a stored state (rows written before migration 0004 hold plain JSON)."""
    return stored if stored[:1] == b"{" else zlib.decompress(stored)


def _upsert_sql() -> str:
    names = list(SUMMARY_COLUMNS)
    arrays = ", ".join(f"${i + 1}::{SUMMARY_COLUMNS[n]}[]" for i, n in enumerate(names))
    select = []
    for n in names:
        if n in ("overdue", "physicians"):
            select.append(f"ARRAY(SELECT jsonb_array_elements_text(r.{n}::jsonb))")
        elif n in ("consents", "consent_windows", "consent_ends"):
            select.append(f"r.{n}::jsonb")
        elif n.startswith("grade_"):
            select.append(f"r.{n}::datemultirange")
        else:
            select.append(f"r.{n}")
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != "case_id")
    return (
        f"INSERT INTO case_summary ({', '.join(names)})\n"
        f"SELECT {', '.join(select)}\n"
        f"FROM unnest({arrays}) AS r({', '.join(names)})\n"
        f"ON CONFLICT (case_id) DO UPDATE SET {updates}"
    )


_UPSERT = _upsert_sql()

_UPSERT_STATE = """
INSERT INTO case_state (case_id, state) SELECT * FROM unnest($1::text[], $2::bytea[])
ON CONFLICT (case_id) DO UPDATE SET state = excluded.state
"""

_LOAD = """
SELECT s.case_id, s.version, CASE WHEN s.version = k.cached THEN NULL ELSE t.state END
FROM case_summary s JOIN unnest($1::text[], $2::int[]) AS k(case_id, cached) USING (case_id)
LEFT JOIN case_state t USING (case_id)
"""


class CaseFold:
    """The part shared by projections that fold each case's events into a CaseState of their
    own: grouping a batch by case, and loading each case's state from a bounded in-memory
    cache or, when the stored row is at another version than the cached state (a batch that
    rolled back, another process), from the table.

    `per_stream`: a case's rows depend on its own events alone and folding skips versions
    already folded, so a rebuild may read the events stream by stream
    (store.subscription.rebuild).
    """

    name: str
    raw_json = True  # events arrive with data as JSON text: see decode_event
    per_stream = True
    #: parameters ($1 case ids, $2 cached versions); one row per stored case:
    #: case_id, version, what the projection keeps beside the state, and last the packed
    #: state, NULL when the cached version is current
    load_sql: str

    def __init__(self, cache_size: int = 20_000) -> None:
        self.cache_size = cache_size
        self._cache: OrderedDict[str, CaseState] = OrderedDict()

    @staticmethod
    def by_case(events: list[RecordedEvent]) -> dict[str, list[RecordedEvent]]:
        grouped: dict[str, list[RecordedEvent]] = {}
        for e in events:
            if e.type in CASE_EVENT_TYPES:
                grouped.setdefault(e.stream_id, []).append(e)
        return grouped

    async def load(
        self, conn: Conn, ids: list[str]
    ) -> dict[str, tuple[CaseState, tuple[Any, ...]]]:
        """Each stored case's state (to fold in place) and the row's other kept values."""
        hits = {c: self._cache[c] for c in ids if c in self._cache}  # eviction-proof here
        cached = [hits[c].version if c in hits else -1 for c in ids]
        loaded = {}
        for row in await conn.fetch(self.load_sql, ids, cached):
            packed = row[-1]
            state = (
                hits[row[0]]
                if packed is None
                else CaseState.model_validate_json(unpack_state_json(packed))
            )
            loaded[row[0]] = (state, tuple(row[2:-1]))
        return loaded

    def remember(self, case_id: str, state: CaseState) -> None:
        self._cache[case_id] = state
        self._cache.move_to_end(case_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)


def _filter_columns(state: CaseState) -> dict[str, Any]:
    """domain.summary.list_filter_columns as case_summary's columns."""
    columns = list_filter_columns(state)
    for grade, days in columns.pop("grade_days").items():
        columns[f"grade_{grade}"] = _multirange(tuple((a, b) for a, b in days))
    return columns


class CaseSummaryProjection(CaseFold):
    name = "case_summary"
    load_sql = _LOAD

    async def handle(self, conn: Conn, events: list[RecordedEvent]) -> None:
        by_case = self.by_case(events)
        if not by_case:
            return
        ids = list(by_case)
        stored = await self.load(conn, ids)
        columns: dict[str, list[Any]] = {n: [] for n in SUMMARY_COLUMNS}
        states: list[bytes] = []
        with gc_paused():
            for case_id, case_events in by_case.items():
                state = stored[case_id][0] if case_id in stored else initial_state(case_id)
                for e in case_events:
                    if e.version <= state.version:
                        continue  # already folded into the stored state
                    apply_in_place(state, decode_event(e.type, e.schema_version, e.data))
                self.remember(case_id, state)
                summary = {**summarize(state).model_dump(), **_filter_columns(state)}
                for name in SUMMARY_COLUMNS:
                    value = summary[name]
                    columns[name].append(dumps(value) if name in _JSON_COLUMNS else value)
                states.append(pack_state(state))
        await conn.execute(_UPSERT, *columns.values())
        await conn.execute(_UPSERT_STATE, ids, states)

    async def reset(self, conn: Conn) -> None:
        self._cache.clear()
        await conn.execute("DELETE FROM case_summary")
        await conn.execute("DELETE FROM case_state")


#: Event types that never change `domain.measures.case_facts` (milestones, notifications,
#: consents, reminders, offers, statuses, outboxes): folded, but no new facts computed after
#: them. A type not listed here (a new one included) is assumed to change the facts.
#: tests/store/test_measures.py checks the list against the sample cases.
FACT_NEUTRAL_TYPES = frozenset(
    {
        "MilestoneReached",
        "NotificationRequested",
        "NotificationSent",
        "NotificationFailed",
        "NotificationSuppressed",
        "ConsentGiven",
        "ConsentWithdrawn",
        "FkAnswerReminderDue",
        "FkAnswerOverdue",
        "FollowUpDue",
        "CoordinationOffered",
        "CoordinationStatusSet",
        "ReferredToMultimodalTeam",
        "FkMessageSendRequested",
    }
)

FACT_COLUMNS: dict[str, str] = {
    "case_id": "text",
    "as_of": "date",
    "until": "date",
    "counted": "bool",
    "unit_id": "text",
    "sex": "text",
    "chapter": "text",
    "start_day": "date",
    "end_day": "date",
    "covered": "text",  # datemultirange literal
    "covered_days": "int",
    "covered_last": "date",
    "grade_25": "text",
    "grade_50": "text",
    "grade_75": "text",
    "grade_100": "text",
    "day_30": "date",
    "long_absence": "bool",
    "has_employer": "bool",
    "employer_plan_30": "bool",
    "has_plan": "bool",
    "followed_up": "bool",
    "coordination": "bool",
    "referred": "bool",
    "komplt": "int",
    "certificates": "int",
    "answer_days": "text",  # int[] literal (unnest cannot pass ragged arrays)
}
_MULTIRANGE_COLUMNS = {"covered", "grade_25", "grade_50", "grade_75", "grade_100"}


def _multirange(ranges: tuple[tuple[date, date], ...]) -> str:
    return "{" + ",".join(f"[{a},{b}]" for a, b in ranges) + "}"


_UNCOUNTED_ROW: dict[str, Any] = {
    **dict.fromkeys(FACT_COLUMNS),
    **dict.fromkeys(_MULTIRANGE_COLUMNS, "{}"),
    **dict.fromkeys(
        (
            "long_absence",
            "has_employer",
            "employer_plan_30",
            "has_plan",
            "followed_up",
            "coordination",
            "referred",
        ),
        False,
    ),
    "counted": False,
    "covered_days": 0,
    "answer_days": "{}",
    "komplt": 0,
    "certificates": 0,
}


def fact_row(case_id: str, as_of: date, facts: CaseFacts | None) -> dict[str, Any]:
    """One case_measure_facts row (values as passed to the upsert; `until` left NULL)."""
    if facts is None:
        return {**_UNCOUNTED_ROW, "case_id": case_id, "as_of": as_of}
    grades = dict(facts.grades)
    covered = facts.covered
    return {
        "case_id": case_id,
        "as_of": as_of,
        "until": None,
        "counted": True,
        "unit_id": facts.unit_id,
        "sex": facts.sex,
        "chapter": facts.chapter,
        "start_day": facts.start,
        "end_day": facts.end,
        "covered": _multirange(covered),
        "covered_days": sum((b - a).days + 1 for a, b in covered),
        "covered_last": covered[-1][1] if covered else None,
        "grade_25": _multirange(grades.get(25, ())),
        "grade_50": _multirange(grades.get(50, ())),
        "grade_75": _multirange(grades.get(75, ())),
        "grade_100": _multirange(grades.get(100, ())),
        "day_30": facts.day_30,
        "long_absence": facts.long_absence_expected,
        "has_employer": facts.has_employer,
        "employer_plan_30": facts.employer_plan_by_day_30,
        "has_plan": facts.has_plan,
        "followed_up": facts.followed_up,
        "coordination": facts.coordination_given,
        "referred": facts.referred_to_coordinator,
        "komplt": facts.komplt,
        "certificates": facts.certificates,
        "answer_days": "{" + ",".join(map(str, facts.answer_days)) + "}",
    }


def _fact_upsert_sql() -> str:
    names = list(FACT_COLUMNS)
    arrays = ", ".join(f"${i + 1}::{FACT_COLUMNS[n]}[]" for i, n in enumerate(names))
    select = []
    for n in names:
        if n in _MULTIRANGE_COLUMNS:
            select.append(f"r.{n}::datemultirange")
        elif n == "answer_days":
            select.append("r.answer_days::int[]")
        else:
            select.append(f"r.{n}")
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in ("case_id", "as_of"))
    return (
        f"INSERT INTO case_measure_facts ({', '.join(names)})\n"
        f"SELECT {', '.join(select)}\n"
        f"FROM unnest({arrays}) AS r({', '.join(names)})\n"
        f"ON CONFLICT (case_id, as_of) DO UPDATE SET {updates}"
    )


_FACT_UPSERT = _fact_upsert_sql()

_KVA_INSERT = """
INSERT INTO kva_registrations (event_id, case_id, code, performed_on, unit_id, sex, counted)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::text[], $6::text[],
                     $7::bool[])
ON CONFLICT (event_id) DO NOTHING
"""
_KVA_UNCOUNT = "UPDATE kva_registrations SET counted = false WHERE case_id = ANY($1::text[])"

_FACT_CLOSE = """
UPDATE case_measure_facts f SET until = u.until
FROM unnest($1::text[], $2::date[], $3::date[]) AS u(case_id, as_of, until)
WHERE f.case_id = u.case_id AND f.as_of = u.as_of
"""

_FACT_STATE_UPSERT = """
INSERT INTO case_measure_state (case_id, version, mark, snap_as_of, snap_digest, state)
SELECT * FROM unnest($1::text[], $2::int[], $3::date[], $4::date[], $5::bytea[], $6::bytea[])
ON CONFLICT (case_id) DO UPDATE SET version = excluded.version, mark = excluded.mark,
    snap_as_of = excluded.snap_as_of, snap_digest = excluded.snap_digest, state = excluded.state
"""

_FACT_LOAD = """
SELECT s.case_id, s.version, s.mark, s.snap_as_of, s.snap_digest,
       CASE WHEN s.version = k.cached THEN NULL ELSE s.state END
FROM case_measure_state s JOIN unnest($1::text[], $2::int[]) AS k(case_id, cached) USING (case_id)
"""


_UNSEEN = object()  # facts not computed yet in this batch: compare with the stored digest


def _digest(facts: CaseFacts | None) -> bytes:
    return hashlib.blake2b(repr(facts).encode(), digest_size=16).digest()


class _FactWrites:
    """What a batch writes to case_measure_facts: new (or replaced) rows, and the rows of
    earlier batches whose validity ends (case id, as_of, until); and to kva_registrations."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.closes: tuple[list[str], list[date], list[date]] = ([], [], [])
        #: kva_registrations rows (event id, case id, code, day, unit, sex, counted)
        self.kva: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
        self.kva_uncounted: list[str] = []  # cases closed as opened in error

    def registration(self, state: CaseState, event: Event) -> None:
        """The KVÅ registration the event makes (with the case's unit and sex), and the
        case's registrations uncounted when it is closed as opened in error."""
        opened_in_error = state.closed_reason == "opened_in_error"
        if event.type == "CaseClosed" and opened_in_error:
            self.kva_uncounted.append(state.case_id)
        reg = kva_registration(event)
        if reg is not None:
            row = (reg.event_id, state.case_id, reg.code, reg.performed_on, state.unit_id,
                   sex_for_statistics(state.patient_id or ""), not opened_in_error)
            for column, value in zip(self.kva, row, strict=True):
                column.append(value)


class _FactTrail:
    """One case's latest facts row while a batch folds it: the day it starts (`as_of`) and its
    facts, known as the stored digest until facts are computed in this batch."""

    def __init__(
        self,
        case_id: str,
        writes: _FactWrites,
        as_of: date | None = None,
        digest: bytes | None = None,
    ) -> None:
        self.case_id, self.writes = case_id, writes
        self.as_of, self._stored_digest = as_of, digest
        self._facts: CaseFacts | None | object = _UNSEEN
        self._row: dict[str, Any] | None = None  # the latest row, if written in this batch

    def record(self, day: date, facts: CaseFacts | None) -> None:
        """The facts as of `day` (the latest day so far): a new row unless they are the same."""
        if self._facts is _UNSEEN:
            if _digest(facts) == self._stored_digest:
                return
        elif facts == self._facts:
            return
        row = fact_row(self.case_id, day, facts)
        if self._row is not None and self.as_of == day:
            self._row.update(row)  # the same day changed again
        else:
            if self._row is not None:
                self._row["until"] = day
            elif self.as_of is not None and self.as_of != day:
                self.writes.closes[0].append(self.case_id)
                self.writes.closes[1].append(self.as_of)
                self.writes.closes[2].append(day)
            self.writes.rows.append(row)  # a stored row of the same day is replaced by it
            self._row = row
        self.as_of, self._facts = day, facts

    def digest(self) -> bytes | None:
        """The latest row's digest, kept with the case's state for the next batch."""
        if self._facts is _UNSEEN:
            return self._stored_digest
        return _digest(self._facts)  # type: ignore[arg-type]


class CaseMeasureFactsProjection(CaseFold):
    """case_measure_facts: each case's `domain.measures.case_facts` as of every Stockholm day
    on which they changed (see store/migrations/0061_case_measure_facts.sql).

    Per batch and case: load the projection's own stored state (case_measure_state, or the
    in-memory cache), fold the new events in place; before the first event of a later day, and
    after the last event, take the facts as of the day reached so far (`mark`, the latest day
    of the case's events) unless only fact-neutral events were applied since the last time.
    Facts equal to the case's latest row add nothing; facts for the latest row's day replace
    it; otherwise a new row starts that day and the previous row ends there (`until`).

    A day's row is the fold of every event up to that day's last one, so it equals
    compute_measures' "events that occurred before the end of the period" as long as a case's
    events occur in version order (the workflows append them so). `mark` is the running
    maximum of the days, so an event dated before an earlier one counts from the later day.
    """

    name = "case_measure_facts"
    load_sql = _FACT_LOAD

    async def handle(self, conn: Conn, events: list[RecordedEvent]) -> None:
        by_case = self.by_case(events)
        if not by_case:
            return
        stored = await self.load(conn, list(by_case))
        writes = _FactWrites()
        states: dict[str, list[Any]] = {
            n: [] for n in ("id", "version", "mark", "as_of", "digest", "state")
        }
        with gc_paused():
            for case_id, case_events in by_case.items():
                mark: date | None = None
                if case_id in stored:
                    state, (mark, as_of, digest) = stored[case_id]
                    trail = _FactTrail(case_id, writes, as_of, digest)
                else:
                    state, trail = initial_state(case_id), _FactTrail(case_id, writes)
                dirty = False
                for e in case_events:
                    if e.version <= state.version:
                        continue
                    event = decode_event(e.type, e.schema_version, e.data)
                    day = local_date(event.occurred_at)
                    if mark is not None and day > mark and dirty:
                        trail.record(mark, case_facts(state))
                        dirty = False
                    mark = day if mark is None else max(mark, day)
                    apply_in_place(state, event)
                    writes.registration(state, event)
                    dirty = dirty or e.type not in FACT_NEUTRAL_TYPES
                if dirty and mark is not None:
                    trail.record(mark, case_facts(state))
                self.remember(case_id, state)
                for key, value in (
                    ("id", case_id),
                    ("version", state.version),
                    ("mark", mark),
                    ("as_of", trail.as_of),
                    ("digest", trail.digest()),
                    ("state", pack_state(state)),
                ):
                    states[key].append(value)
        if writes.rows:
            await conn.execute(_FACT_UPSERT, *([r[n] for r in writes.rows] for n in FACT_COLUMNS))
        if writes.closes[0]:
            await conn.execute(_FACT_CLOSE, *writes.closes)
        if writes.kva[0]:
            await conn.execute(_KVA_INSERT, *writes.kva)
        if writes.kva_uncounted:
            await conn.execute(_KVA_UNCOUNT, writes.kva_uncounted)
        await conn.execute(_FACT_STATE_UPSERT, *states.values())

    async def reset(self, conn: Conn) -> None:
        self._cache.clear()
        await conn.execute("TRUNCATE case_measure_facts, case_measure_state, kva_registrations")


def summary_columns_missing() -> list[str]:
    """CaseSummary fields without a column (a new field needs a migration and a mapping)."""
    return [f for f in CaseSummary.model_fields if f not in SUMMARY_COLUMNS]


def all_projections() -> list[Projection]:
    return [CaseSummaryProjection(), CaseMeasureFactsProjection()]


async def rebuild_all(
    database_url: str, batch_size: int = 25_000, names: list[str] | None = None
) -> dict[str, int]:
    """Rebuild every projection (or those `names`) from position 0; returns the events
    applied by each.

    Each projection is rebuilt in a process of its own when there are CPUs to spare: they
    share nothing but the events table, and folding is Python-bound, so on two cores the two
    rebuilds take about the time of the slower one instead of the sum.
    """
    names = names or [p.name for p in all_projections()]
    if (os.cpu_count() or 1) < 2 or len(names) == 1:
        return {name: await _rebuild_named(database_url, name, batch_size) for name in names}
    loop = asyncio.get_running_loop()
    spawn = multiprocessing.get_context("spawn")  # no fork of a process with a running loop
    with ProcessPoolExecutor(len(names), mp_context=spawn) as processes:
        counts = await asyncio.gather(
            *(
                loop.run_in_executor(processes, _rebuild_in_process, database_url, n, batch_size)
                for n in names
            )
        )
    return dict(zip(names, counts, strict=True))


async def _rebuild_named(database_url: str, name: str, batch_size: int) -> int:
    (projection,) = [p for p in all_projections() if p.name == name]
    store = await EventStore.connect(database_url, min_size=1, max_size=3)
    try:
        return await rebuild(store, projection, batch_size=batch_size)
    finally:
        await store.close()


def _rebuild_in_process(database_url: str, name: str, batch_size: int) -> int:
    return asyncio.run(_rebuild_named(database_url, name, batch_size))


async def run_projections_forever(
    database_url: str,
    *,
    poll_interval: float = 0.5,
    batch_size: int = 1000,
    stop: asyncio.Event | None = None,
) -> None:
    """Keep every projection caught up until `stop` is set or the task is cancelled."""
    store = await EventStore.connect(database_url, min_size=1, max_size=3)
    try:
        await run_forever(
            store, all_projections(), poll_interval=poll_interval, batch_size=batch_size, stop=stop
        )
    finally:
        await store.close()
