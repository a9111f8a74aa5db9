"""Follow-up measures (uppföljningsmått) for a period and unit, from the event record."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import MeasureFacts, People, Store
from api.problems import refusal
from api.read_models import MeasuresView, ok
from store.queries import InvalidQuery, period_measures
from store.subscription import run_once

router = APIRouter(tags=["measures"])


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
    """Follow-up measures (uppföljningsmått) for a period, from the event record."""
    if principal.role != "ops":
        if unit is None and len(principal.units) == 1:
            unit = principal.units[0]
        if unit is None or unit not in principal.units:
            raise refusal("unit", "unit_required",
                          "measures are per unit: give one of your units",
                          detail="give one of your units")
    await run_once(store, facts)  # fresh figures
    try:
        result = await period_measures(store.pool, from_, to, unit)
    except InvalidQuery as err:
        raise refusal(err.field, "period_order", str(err)) from None
    return result.model_dump(mode="json")
