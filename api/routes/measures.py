"""Follow-up measures (uppföljningsmått) for a period and unit, from the event record."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import Principal
from api.deps import MeasureFacts, People, Store
from api.problems import refusal
from api.read_models import KvaCountsView, MeasuresView, ok
from store.eventstore import EventStore
from store.kva import period_kva_counts
from store.projections import CaseMeasureFactsProjection
from store.queries import InvalidQuery, period_measures
from store.subscription import run_once

router = APIRouter(tags=["measures"])


def measured_unit(principal: Principal, unit: str | None) -> str | None:
    """The unit measures are read for: ops any (None: all); others one of their own (the only
    one by default)."""
    if principal.role != "ops":
        if unit is None and len(principal.units) == 1:
            unit = principal.units[0]
        if unit is None or unit not in principal.units:
            raise refusal("unit", "unit_required",
                          "measures are per unit: give one of your units",
                          detail="give one of your units")
    return unit


@router.get("/measures", name="follow_up_measures", response_model=None,
            responses=ok(MeasuresView, "The period's measures"))
async def measures(
    from_: Annotated[date, Query(alias="from")],
    to: date,
    principal: People,
    store: Store,
    facts: MeasureFacts,
    unit: str | None = None,
) -> Any:
    """Follow-up measures (uppföljningsmått) for a period, from the event record; every
    share also by sex and by unit."""
    return await _period_figures(period_measures, principal, store, facts, from_, to, unit)


@router.get("/measures/kva", name="kva_counts", response_model=None,
            responses=ok(KvaCountsView, "The period's KVÅ counts"))
async def kva_counts(
    from_: Annotated[date, Query(alias="from")],
    to: date,
    principal: People,
    store: Store,
    facts: MeasureFacts,
    unit: str | None = None,
) -> Any:
    """KVÅ registrations (DV077, AW026, GC001) performed in a period, per code, by sex and
    by unit. Counted by the day performed, so a late registration still counts in its
    period; cases closed as opened in error are left out."""
    return await _period_figures(period_kva_counts, principal, store, facts, from_, to, unit)


async def _period_figures(query: Any, principal: Principal, store: EventStore,
                          facts: CaseMeasureFactsProjection, from_: date, to: date,
                          unit: str | None) -> Any:
    """A period's figures for a unit the caller may read, from a projection brought up to
    date first."""
    unit = measured_unit(principal, unit)
    await run_once(store, facts)  # fresh figures
    try:
        result = await query(store.pool, from_, to, unit)
    except InvalidQuery as err:
        raise refusal(err.field, "period_order", str(err)) from None
    return result.model_dump(mode="json")
