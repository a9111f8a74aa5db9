"""Each case as its event record holds it now, folded, for deliveries to check consent against.

A delivery must see every event recorded before it sends (a withdrawal recorded a moment ago
suppresses it), so it reads the record, never a projection that may lag. Reading and folding
the whole stream for every delivery costs more the longer the case; instead this worker keeps
the last state it folded per case (bounded, least recently used out first) and reads only the
events after it.

Why that gives the same state as folding the whole stream: the record is append-only (the
database refuses UPDATE of events, and DELETE except of a case purged by retention), and a
stream has one event per version. The tail is read from the cached state's own last event
(`version > v - 1`), and the cached state is used only when that very row is still there: the
same position and the same time of recording (the event id would not do: it is a function of
case and version). Otherwise (the case was purged, or the database restored to an earlier point
and the case went on differently) the whole stream is read again. Cached states are never
changed: `fold` copies before applying, and the deliverers only read the state they are given.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import NamedTuple

from domain import event_from_record, fold
from domain.state import CaseState
from store.eventstore import EventStore, RecordedEvent


class Folded(NamedTuple):
    state: CaseState  # shared with the cache: read it, never change it
    last_recorded: tuple[int, datetime]  # the newest event's row: its position, recorded_at
    last_occurred_at: datetime  # when the newest recorded event happened


class CaseRecord:
    def __init__(self, store: EventStore, size: int = 256) -> None:
        self.store = store
        self.size = size
        self._folded: OrderedDict[str, Folded] = OrderedDict()

    async def current(self, case_id: str) -> Folded:
        """The case folded over every event recorded now. Raises ValueError when the case
        has no events."""
        known = self._folded.get(case_id)
        if known is not None:
            records = await self.store.read_stream(case_id, known.state.version - 1)
            if records and _row(records[0]) == known.last_recorded:
                return self._remember(case_id, _fold_on(known, records[1:]))
        return self._remember(case_id, _fold_on(None, await self.store.read_stream(case_id)))

    def _remember(self, case_id: str, folded: Folded) -> Folded:
        known = self._folded.get(case_id)
        if known is None or known.state.version <= folded.state.version:
            self._folded[case_id] = folded
        self._folded.move_to_end(case_id)
        while len(self._folded) > self.size:
            self._folded.popitem(last=False)
        return folded

    def forget(self) -> None:
        """Drop every folded state (as a new worker process starts)."""
        self._folded.clear()


def _fold_on(known: Folded | None, records: list[RecordedEvent]) -> Folded:
    if known is not None and not records:
        return known  # nothing new: the cached state as it is, no copy
    events = [event_from_record(r.type, r.schema_version, r.data) for r in records]
    state = fold(events, known.state if known is not None else None)
    return Folded(state, _row(records[-1]), events[-1].occurred_at)


def _row(record: RecordedEvent) -> tuple[int, datetime]:
    return record.position, record.recorded_at
