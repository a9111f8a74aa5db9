"""Migration 0140 has the measures projection rebuilt: figures projected by older code (a job
seeker in the employer-plan group) are right after the upgrade, with no manual step."""

from __future__ import annotations

from datetime import date

from domain.commands import Actor, OpenCase
from domain.events import Event
from domain.measures import compute_measures
from store.databases import create_database, drop_database
from store.eventstore import EventStore
from store.migrate import migrate
from store.projections import CaseMeasureFactsProjection
from store.queries import period_measures
from store.sample_cases import CaseDriver, certificate, make_pnr, to_new_events
from store.subscription import run_once

START = date(2024, 3, 4)


def job_seeker_events() -> list[Event]:
    dr = Actor(id="dr-1", role="physician", unit_id="vc-1")
    d = CaseDriver("seeker", START)
    cert = certificate(d, "c1", 1, 90, 100, "F32.1", 1, dr).model_copy(
        update={"occupations": ["ARBETSSOKANDE"]})
    d.do(OpenCase(actor=dr, case_id="seeker", patient_id=make_pnr(date(1980, 5, 6), 101),
                  unit_id="vc-1", sick_period_start=START, certificate=cert), day=1)
    d.advance(d.at(40))
    return d.events


async def test_an_upgrade_rebuilds_the_measures_projected_before_it(pg_admin_url: str) -> None:
    url = await create_database(pg_admin_url)
    try:
        await migrate(url, before="0140")  # the database as the release before 0140 left it
        events = job_seeker_events()
        async with await EventStore.connect(url) as s:
            await s.append("seeker", 0, to_new_events(events))
            # what the code before 0140 left: the case in the employer-plan group, all applied
            await s.pool.execute(
                "INSERT INTO case_measure_facts (case_id, as_of, counted, unit_id, sex, "
                "chapter, start_day, covered, covered_days, covered_last, day_30, "
                "long_absence) VALUES ('seeker', $1, true, 'vc-1', 'man', 'F00-F99', $1, "
                "datemultirange(daterange($1::date, $1::date + 90)), 90, $1::date + 89, $1::date + 29, "
                "true)", START)
            await s.pool.execute(
                "INSERT INTO checkpoints (name, position) "
                "SELECT 'case_measure_facts', max(position) FROM events")
            await migrate(url)
            await run_once(s, CaseMeasureFactsProjection())
            got = await period_measures(s.pool, START, date(2024, 4, 30))
        want = compute_measures(events, START, date(2024, 4, 30))
        assert got == want
        assert (got.employer_plan_by_day_30.denominator, got.ongoing.total) == (0, 1)
    finally:
        await drop_database(pg_admin_url, url)
