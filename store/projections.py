"""Projections of the event record, fed by store.subscription (rows + checkpoint per batch).

case_summary
    One row per case: the columns are the domain's `summarize(state)` (everything the case list
    filters and sorts on), and `state` is the folded domain `CaseState` the next batch continues
    from, stored as zlib-compressed JSON (`pack_state`; as jsonb its ~5 KB were TOASTed on
    every upsert, 4x the cost of the rest of the row). Per batch: group the events by case, load each case's stored state (or
    `initial_state`), apply the events (`event_from_record` upcasts old schema versions), then
    upsert all rows of the batch in one statement.

    Folding is done in place on a state the projection owns (one `evolve` deep-copies the
    whole state, ~170 us, against ~4 us for applying the event). States are also kept in a
    bounded in-memory cache, used only when the stored row's version equals the cached
    version, so a batch that rolled back (cache ahead of the table) reloads from the table.

Follow-up measures
    No separate table: `store.queries.period_measures` selects the candidate cases from
    case_summary (indexed by unit and sick-period start), streams their events and runs
    `domain.measures.compute_measures`, which folds each case as of the period's end: measures
    of a past period must not change when later events arrive, which a table of current
    states cannot give.
"""

from __future__ import annotations

import asyncio
import typing
import zlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import asyncpg

from domain import CaseState, evolve, initial_state, summarize
from domain.events import EVENT_ADAPTER, UPCASTERS, Event, event_from_record
from domain.summary import CaseSummary
from store.eventstore import EventStore, RecordedEvent, dumps, loads
from store.subscription import Projection, rebuild, run_forever

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


try:  # in-place application of one event (evolve = deep copy + this)
    from domain.decider import _apply as _domain_apply
except ImportError:  # pragma: no cover - the domain changed shape; fall back to evolve
    _domain_apply = None  # type: ignore[assignment]


def _case_event_types() -> frozenset[str]:
    union = typing.get_args(Event)[0]
    return frozenset(cls.model_fields["type"].default for cls in typing.get_args(union))


CASE_EVENT_TYPES = _case_event_types()


def apply_in_place(state: CaseState, event: Event) -> CaseState:
    """`evolve(state, event)` without the copy; `state` must not be shared with anyone."""
    if _domain_apply is None:
        return evolve(state, event)
    state.version = event.version
    _domain_apply(state, event)
    return state


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
}
_JSON_COLUMNS = {"overdue", "consents"}


def pack_state(state: CaseState) -> bytes:
    """The stored form of a state: its JSON, zlib-compressed (level 1: fast, ~3.3x smaller)."""
    return zlib.compress(state.model_dump_json().encode(), 1)


def unpack_state_json(stored: bytes) -> bytes:
    """The JSON of a stored state (rows written before migration 0004 hold plain JSON)."""
    return stored if stored[:1] == b"{" else zlib.decompress(stored)


def _upsert_sql() -> str:
    names = list(SUMMARY_COLUMNS) + ["state"]
    types = {**SUMMARY_COLUMNS, "state": "bytea"}
    arrays = ", ".join(f"${i + 1}::{types[n]}[]" for i, n in enumerate(names))
    select = []
    for n in names:
        if n == "overdue":
            select.append("ARRAY(SELECT jsonb_array_elements_text(r.overdue::jsonb))")
        elif n in ("consents", "state"):
            select.append(f"r.{n}::jsonb" if n == "consents" else f"r.{n}")
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

_LOAD = """
SELECT s.case_id, s.version, CASE WHEN s.version = k.cached THEN NULL ELSE s.state END
FROM case_summary s JOIN unnest($1::text[], $2::int[]) AS k(case_id, cached) USING (case_id)
"""


class CaseSummaryProjection:
    name = "case_summary"
    raw_json = True  # events arrive with data as JSON text: see decode_event

    def __init__(self, cache_size: int = 20_000) -> None:
        self.cache_size = cache_size
        self._cache: OrderedDict[str, CaseState] = OrderedDict()

    async def handle(self, conn: Conn, events: list[RecordedEvent]) -> None:
        by_case: dict[str, list[RecordedEvent]] = {}
        for e in events:
            if e.type in CASE_EVENT_TYPES:
                by_case.setdefault(e.stream_id, []).append(e)
        if not by_case:
            return
        ids = list(by_case)
        hits = {c: self._cache[c] for c in ids if c in self._cache}  # eviction-proof for this batch
        cached = [hits[c].version if c in hits else -1 for c in ids]
        stored = {r[0]: (r[1], r[2]) for r in await conn.fetch(_LOAD, ids, cached)}

        columns: dict[str, list[Any]] = {n: [] for n in SUMMARY_COLUMNS}
        states: list[bytes] = []
        for case_id, case_events in by_case.items():
            if case_id in stored:
                _, packed = stored[case_id]
                state = (
                    hits[case_id]
                    if packed is None
                    else CaseState.model_validate_json(unpack_state_json(packed))
                )
            else:
                state = initial_state(case_id)
            for e in case_events:
                if e.version <= state.version:
                    continue  # already folded into the stored state
                state = apply_in_place(state, decode_event(e.type, e.schema_version, e.data))
            self._remember(case_id, state)
            summary = summarize(state).model_dump()
            for name in SUMMARY_COLUMNS:
                value = summary[name]
                columns[name].append(dumps(value) if name in _JSON_COLUMNS else value)
            states.append(pack_state(state))
        await conn.execute(_UPSERT, *columns.values(), states)

    def _remember(self, case_id: str, state: CaseState) -> None:
        self._cache[case_id] = state
        self._cache.move_to_end(case_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def reset(self, conn: Conn) -> None:
        self._cache.clear()
        await conn.execute("DELETE FROM case_summary")


def summary_columns_missing() -> list[str]:
    """CaseSummary fields without a column (a new field needs a migration and a mapping)."""
    return [f for f in CaseSummary.model_fields if f not in SUMMARY_COLUMNS]


def all_projections() -> list[Projection]:
    return [CaseSummaryProjection()]


async def rebuild_all(database_url: str, batch_size: int = 25_000) -> dict[str, int]:
    """Rebuild every projection from position 0; returns events applied per projection."""
    store = await EventStore.connect(database_url, min_size=1, max_size=2)
    try:
        return {p.name: await rebuild(store, p, batch_size=batch_size) for p in all_projections()}
    finally:
        await store.close()


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
