"""Read-side benchmark: the API's queries at 100,000 cases / 1,000,000 events.

    .venv/bin/python bench/queries.py [--cases 100000] [--events 1000000] [--reps 200]
                                      [--access-per-case 5] [--database-url URL] [--json]

1. Seeds a fresh database directly through PostgreSQL's COPY: cases decided by the real domain
   (store.sample_cases.bench_cases: 200 template cases decided with `decide`, cloned under new
   ids), each case cut to a prefix of its stream so that the totals come near --cases and
   --events (a prefix of a decided stream is a case still in progress); positions are assigned
   as the event store does ((transaction id << 20) + index). Seeds access_log rows
   (--access-per-case on average, spread over the seeded year). The seeded year starts 244
   days before --today (default: today in Stockholm), so the API, which reads at its own now,
   and the store-level queries, which are given --today, read the same moment of the year.
2. Builds every projection (store.projections.all_projections: case_summary and
   case_measure_facts) with the real code, timing each rebuild, then VACUUM ANALYZE (what
   autovacuum would have done on a live database).
3. Times, through an asyncpg pool like the API's, the functions the API calls:
   store.queries.list_cases with each filter (and a coordinator's combined filter),
   also with the count capped at store.queries.COUNT_LIMIT (`list_capped`), get_case_summary,
   case_events (full history), period_measures for a year and a month (all units, one unit),
   store.kva.period_kva_counts for a year (all units, one unit)
   and store.access_log.accesses_for_case (the per-case PDL log), and reports p50/p99.
   Baseline of the same run: a primary-key lookup of one case_summary row (`floor`); every
   figure is also given as p99 / floor p99.
4. Times the HTTP layer in-process (the real app through httpx's ASGI transport; the server time
   from its Server-Timing header): the JSON list (GET /cases) and case (GET /cases/{id} and
   /events) next to the web console's list page and case page, which read the same and render
   HTML, PDL entries included (`pages`; target: page p99 <= 2x the JSON p99); and GET /cases
   with every list filter in turn and the coordinator's view (`pages.api_list`), PDL entries
   written for every case shown, each p99 as a multiple of the floor (target: <= 100x).
5. Prints EXPLAIN (ANALYZE, BUFFERS) of the SQL of the slowest query (and of the slowest list
   filter, when that is another query).

Unless --database-url is given, a durable embedded PostgreSQL is started in a temporary folder
and removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg

from bench import common
from store import queries
from store.access_log import accesses_for_case
from store.databases import drop_database, with_database
from store.eventstore import POSITION_SHIFT, EventStore, dumps
from store.kva import period_kva_counts
from store.migrate import migrate
from store.projections import all_projections
from store.sample_cases import bench_cases
from store.subscription import rebuild

TARGETS_MS = {"case_summary": 20, "case_history": 20, "list": 50, "measures_year": 500}
ACTORS = [(f"dr-{i}", "physician") for i in range(40)] + [(f"rk-{i}", "coordinator") for i in range(10)]
PURPOSES = ("care", "coordination", "follow_up")


@dataclass(frozen=True)
class SeedYear:
    """The seeded year around `today`: sick periods start over the 365 days from
    `first_start`, 244 days before today (as 2024-01-01 is to 2024-09-01), so some cases
    are on sick leave today, some consents run and others have ended. The store-level
    queries read at `read_at`; the API reads at its own now, the same day."""

    today: date

    @property
    def first_start(self) -> date:
        return self.today - timedelta(days=244)

    @property
    def read_at(self) -> datetime:
        return datetime.combine(self.today, datetime.min.time(), UTC) + timedelta(hours=12)

    @property
    def year(self) -> tuple[date, date]:
        """The follow-up measures' year: the twelve months up to yesterday (a follow-up
        looks back; the seeded cases that start after today are not in it)."""
        return self.today - timedelta(days=365), self.today - timedelta(days=1)

    @property
    def month(self) -> tuple[date, date]:
        """The last whole calendar month before today."""
        last = self.today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last


# --- seeding -------------------------------------------------------------------------------


def seeded_cases(cases: int, events: int, first_start: date, seed: int = 3) -> Any:
    """(case_id, [NewEvent]) for `cases` cases, each a prefix of a decided case, ~`events` total."""
    rng = random.Random(seed)
    source = bench_cases(10**12, first_start=first_start)  # endless clones of the templates
    mean_target = events / cases
    first = [next(source) for _ in range(200)]
    mean_len = sum(len(e) for _, e in first) / len(first)
    pool = iter(first)
    for _n in range(cases):
        try:
            case_id, evs = next(pool)
        except StopIteration:
            case_id, evs = next(source)
        if mean_target >= mean_len:
            k = len(evs)
        else:
            k = round(rng.random() * 2 * mean_target * len(evs) / mean_len)
            k = max(1, min(len(evs), k))
        yield case_id, evs[:k]


COPY_COLUMNS = ["position", "stream_id", "version", "event_id", "type", "schema_version",
                "data", "metadata"]


async def seed(url: str, cases: int, events: int, access_per_case: float, frame: SeedYear,
               chunk: int = 200_000) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    # The certificate_cases trigger (0120) looks up each certificate's CaseOpened by index; a
    # generic plan cached while `events` was still empty would scan the table instead, once
    # per certificate, and seeding a million events would take hours.
    await conn.execute("SET plan_cache_mode = force_custom_plan")
    total_events = 0
    ids: list[str] = []
    started = time.perf_counter()
    try:
        gen = seeded_cases(cases, events, frame.first_start)
        done = False
        while not done:
            rows: list[tuple[Any, ...]] = []
            async with conn.transaction():
                xid = int(await conn.fetchval("SELECT pg_current_xact_id()::text::bigint"))
                base = xid << POSITION_SHIFT
                while len(rows) < chunk:
                    try:
                        case_id, evs = next(gen)
                    except StopIteration:
                        done = True
                        break
                    ids.append(case_id)
                    for v, e in enumerate(evs, start=1):
                        data = {**e.data, "version": v} if e.data.get("version") != v else e.data
                        rows.append((base + len(rows) + 1, case_id, v, e.event_id, e.type,
                                     e.schema_version, dumps(data), dumps(e.metadata)))
                if rows:
                    await conn.copy_records_to_table("events", records=rows, columns=COPY_COLUMNS)
            total_events += len(rows)
            common.say(f"  seeded {len(ids):,} cases, {total_events:,} events")
        load_s = time.perf_counter() - started
        # the PDL log: who read which case, spread over the year
        rng = random.Random(5)
        year = datetime.combine(frame.first_start, datetime.min.time(), UTC)
        access: list[tuple[Any, ...]] = []
        for case_id in ids:
            for _ in range(rng.randrange(int(2 * access_per_case) + 1)):
                actor, role = rng.choice(ACTORS)
                access.append((year + timedelta(seconds=rng.randrange(366 * 86400)), actor, role,
                               ["vc-norr"], case_id, "read", rng.choice(PURPOSES)))
        await conn.copy_records_to_table(
            "access_log", records=access,
            columns=["at", "actor_id", "role", "units", "case_id", "action", "purpose"])
    finally:
        await conn.close()
    return {"cases": len(ids), "events": total_events, "access_log_rows": len(access),
            "load_seconds": round(load_s, 1), "ids": ids}


# --- timing --------------------------------------------------------------------------------


class Recording:
    """A pool stand-in that remembers the SQL it was asked to run (for EXPLAIN)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> Any:
        self.calls.append((sql, args))
        return await self.pool.fetch(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.calls.append((sql, args))
        return await self.pool.fetchval(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        self.calls.append((sql, args))
        return await self.pool.fetchrow(sql, *args)


async def timed(reps: int, fn: Callable[[int], Awaitable[Any]]) -> dict[str, Any]:
    await fn(0)  # warm (plan cache, buffers)
    samples = []
    for i in range(reps):
        t0 = time.perf_counter()
        await fn(i + 1)
        samples.append((time.perf_counter() - t0) * 1000)
    return {"reps": reps, "p50_ms": round(common.percentile(samples, 50), 2),
            "p99_ms": round(common.percentile(samples, 99), 2),
            "max_ms": round(max(samples), 2)}


async def typical_values(pool: asyncpg.Pool) -> dict[str, Any]:
    async def common_value(column: str) -> Any:
        return await pool.fetchval(
            f"SELECT {column} FROM case_summary WHERE {column} IS NOT NULL "
            f"GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")

    return {c: await common_value(c) for c in
            ("phase", "unit_id", "current_grade", "diagnosis_chapter", "sex", "age_band")}


#: The open phases: the coordinator's view shows cases still running.
OPEN_PHASES = ["assessment", "plan", "follow_up"]


def list_filters(v: dict[str, Any], frame: SeedYear) -> dict[str, dict[str, Any]]:
    return {
        "none": {},
        "phase": {"phase": v["phase"]},
        "unit": {"unit_ids": [v["unit_id"]]},
        "min_days": {"min_days": 30},
        "max_days": {"max_days": 14},
        "grade": {"grade": 100, "read_at": frame.read_at},  # the grade on that day
        "diagnosis_chapter": {"diagnosis_chapter": v["diagnosis_chapter"]},
        "sex": {"sex": v["sex"]},
        "age_band": {"age_band": v["age_band"]},
        "overdue": {"overdue": True, "today": frame.today},
        "not_overdue": {"overdue": False, "today": frame.today},
        "unanswered_fk": {"unanswered_fk": True},
        "in_coordinator_queue": {"in_coordinator_queue": True},
        "text": {"text": "norr"},
        "physician": {"physician": "dr-7"},  # the console's filters (issue #19)
        "coordination_status": {"coordination_status": queries.NO_COORDINATION_STATUS},
        "consent_held": {"consent_held": "employer", "read_at": frame.read_at},
        "consent_not_held": {"consent_not_held": "employer", "read_at": frame.read_at},
        "coordinator_view": {"unit_ids": [v["unit_id"]], "phase": OPEN_PHASES,
                             "min_days": 15, "sort": "next_milestone_at"},
        "page_20": {"offset": 1000},
    }


def api_filters(v: dict[str, Any]) -> dict[str, dict[str, str]]:
    """GET /cases query strings: every filter the list offers, one at a time, and the
    coordinator's view (a unit, past the first two weeks, by next milestone)."""
    return {
        "none": {},
        "unit": {"unit": v["unit_id"]},
        "physician": {"physician": "dr-7"},
        "phase": {"phase": v["phase"]},
        "min_days": {"min_days": "30"},
        "max_days": {"max_days": "14"},
        "grade": {"grade": "100"},  # the grade today
        "diagnosis_chapter": {"diagnosis_chapter": v["diagnosis_chapter"]},
        "sex": {"sex": v["sex"]},
        "age_band": {"age_band": v["age_band"]},
        "overdue": {"overdue": "true"},
        "not_overdue": {"overdue": "false"},
        "unanswered_fk": {"unanswered_fk": "true"},
        "in_coordinator_queue": {"in_coordinator_queue": "true"},
        "coordination_status": {"coordination_status": queries.NO_COORDINATION_STATUS},
        "text": {"q": "norr"},
        "consent_held": {"consent_held": "employer"},
        "consent_not_held": {"consent_not_held": "employer"},
        "coordinator_view": {"unit": v["unit_id"], "min_days": "15",
                             "sort": "next_milestone_at"},
        "page_21": {"offset": "1000"},
    }


async def explain(pool: asyncpg.Pool, calls: list[tuple[str, tuple[Any, ...]]]) -> list[str]:
    out = []
    async with pool.acquire() as conn:
        for sql, args in calls:
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
            out.append(sql.strip() + "\n" + "\n".join(r[0] for r in rows))
    return out


async def measure(url: str, ids: list[str], reps: int, measure_reps: int,
                  frame: SeedYear) -> dict[str, Any]:
    store = await EventStore.connect(url, min_size=2, max_size=4)
    pool = store.pool
    rng = random.Random(9)
    pick = [rng.choice(ids) for _ in range(reps + 1)]
    results: dict[str, Any] = {}
    sql_of: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
    try:
        async def record(name: str, fn: Callable[[Any, int], Awaitable[Any]]) -> None:
            rec = Recording(pool)
            await fn(rec, 0)
            sql_of[name] = rec.calls

        def floor(i: int) -> Any:
            return pool.fetchval("SELECT case_id FROM case_summary WHERE case_id = $1", pick[i])
        results["floor"] = await timed(reps, floor)
        common.say(f"  floor (pk lookup): {results['floor']}")

        results["case_summary"] = await timed(reps, lambda i: queries.get_case_summary(pool, pick[i]))
        await record("case_summary", lambda p, i: queries.get_case_summary(p, pick[i]))
        results["case_history"] = await timed(reps, lambda i: queries.case_events(pool, pick[i]))
        await record("case_history", lambda p, i: queries.case_events(p, pick[i]))
        results["pdl_log"] = await timed(reps, lambda i: accesses_for_case(pool, pick[i]))
        await record("pdl_log", lambda p, i: accesses_for_case(p, pick[i]))
        for name in ("case_summary", "case_history", "pdl_log"):
            common.say(f"  {name}: {results[name]}")

        values = await typical_values(pool)
        lists: dict[str, Any] = {}
        list_reps = max(5, reps // 4)
        capped: dict[str, Any] = {}
        for fname, kwargs in list_filters(values, frame).items():
            lists[fname] = await timed(list_reps, lambda i, kw=kwargs: queries.list_cases(pool, **kw))
            lists[fname]["total"] = (await queries.list_cases(pool, **kwargs))[1]
            await record(f"list:{fname}", lambda p, i, kw=kwargs: queries.list_cases(p, **kw))
            common.say(f"  list {fname}: {lists[fname]}")
            # as the API would call it with the count capped at queries.COUNT_LIMIT
            ckw = {**kwargs, "count_limit": queries.COUNT_LIMIT}
            capped[fname] = await timed(list_reps, lambda i, kw=ckw: queries.list_cases(pool, **kw))
            capped[fname]["total"] = (await queries.list_cases(pool, **ckw))[1]
            await record(f"list_capped:{fname}", lambda p, i, kw=ckw: queries.list_cases(p, **kw))
            common.say(f"  list (count <= {queries.COUNT_LIMIT:,}) {fname}: {capped[fname]}")
        results["list"] = lists
        results["list_capped"] = capped
        results["list_values"] = values
        results["pages"] = await pages(store, pick, values, max(5, reps // 4),
                                       results["floor"]["p99_ms"])

        # period_measures: SQL aggregates over case_measure_facts
        measure_periods = {
            "measures_year": (frame.year, None),
            "measures_year_unit": (frame.year, values["unit_id"]),
            "measures_month": (frame.month, None),
            "measures_month_unit": (frame.month, values["unit_id"]),
        }
        for name, (period, unit) in measure_periods.items():
            results[name] = await timed(
                measure_reps, lambda i, p=period, u=unit: queries.period_measures(pool, *p, u))
            m = await queries.period_measures(pool, *period, unit)
            results[name].update(rows=m.ongoing.total, started=m.started.total,
                                 ongoing=m.ongoing.total,
                                 ended=m.ended.total)
            await record(name, lambda r, i, p=period, u=unit: queries.period_measures(r, *p, u))
            common.say(f"  {name}: {results[name]}")

        # period_kva_counts: KVÅ codes per period from the registering events (index events_kva)
        for name, (period, unit) in {"kva_year": measure_periods["measures_year"],
                                     "kva_year_unit": measure_periods["measures_year_unit"]}.items():
            results[name] = await timed(
                measure_reps, lambda i, p=period, u=unit: period_kva_counts(pool, *p, u))
            k = await period_kva_counts(pool, *period, unit)
            results[name].update(rows=sum(c.total for c in k.codes.values()))
            await record(name, lambda r, i, p=period, u=unit: period_kva_counts(r, *p, u))
            common.say(f"  {name}: {results[name]}")

        # ratios against the floor, targets
        fp99 = results["floor"]["p99_ms"]
        flat = {k: v for k, v in results.items() if isinstance(v, dict) and "p99_ms" in v}
        flat.update({f"list:{k}": v for k, v in lists.items()})
        flat.update({f"list_capped:{k}": v for k, v in capped.items()})
        for v in flat.values():
            v["p99_vs_floor"] = common.ratio(v["p99_ms"], fp99)
        targets = {}
        for name, v in flat.items():
            key = "list" if name.startswith("list") else name
            key = "measures_year" if key.startswith(("measures", "kva")) else key
            if key in TARGETS_MS:
                targets[name] = {"p99_ms": v["p99_ms"], "target_ms": TARGETS_MS[key],
                                 "met": v["p99_ms"] <= TARGETS_MS[key]}
        results["targets"] = targets
        results["targets_missed"] = sorted(k for k, t in targets.items() if not t["met"])

        slowest = max((k for k in flat if k != "floor"), key=lambda k: flat[k]["p99_ms"])
        slowest_list = max((k for k in flat if k.startswith("list")),
                           key=lambda k: flat[k]["p99_ms"])
        results["slowest"] = slowest
        results["slowest_list"] = slowest_list
        plans = {}
        for name in dict.fromkeys([slowest, slowest_list]):
            plans[name] = await explain(pool, sql_of[name])
        results["explain"] = plans
    finally:
        await store.close()
    return results


async def pages(store: EventStore, pick: list[str], values: dict[str, Any],
                reps: int, floor_p99: float) -> dict[str, Any]:
    """Server time of the JSON endpoints and of the console's pages over the same reads, and
    of GET /cases with each list filter (`api_list`; PDL entries written for every case
    shown), each p99 also as a multiple of the primary-key floor of the same run."""
    import httpx

    from api.app import create_app
    from api.auth import issue_token
    from infra.settings import Settings

    settings = Settings(jwt_secret="bench-secret-at-least-32-bytes-long!!")
    app = create_app(settings, client=None, store=store)  # type: ignore[arg-type]  # reads only
    units = [r[0] for r in await store.pool.fetch(
        "SELECT DISTINCT unit_id FROM case_summary WHERE unit_id IS NOT NULL")]
    # 50 coordinators of every unit: the PDL entries are written as for real readers
    tokens = [issue_token(settings.jwt_secret, f"rk-bench-{n}", "coordinator", units)
              for n in range(50)]
    listing = {"unit": values["unit_id"], "min_days": "15", "sort": "next_milestone_at"}

    async def server_ms(http: httpx.AsyncClient, url: str, i: int, page: bool,
                        params: dict[str, str] | None = None) -> float:
        token = tokens[i % len(tokens)]
        headers = ({"Cookie": f"sjukfall_console={token}"} if page
                   else {"Authorization": f"Bearer {token}"})
        response = await http.get(url, params=params, headers=headers)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        return float(response.headers["server-timing"].split("dur=")[1])

    calls: dict[str, Callable[[httpx.AsyncClient, int], Awaitable[float]]] = {
        "json_list": lambda h, i: server_ms(h, "/cases", i, False, listing),
        "list_page": lambda h, i: server_ms(h, "/console/cases", i, True, listing),
        "json_case": lambda h, i: server_ms(h, f"/cases/{pick[i]}", i, False),
        "json_events": lambda h, i: server_ms(h, f"/cases/{pick[i]}/events", i, False),
        "case_page": lambda h, i: server_ms(h, f"/console/cases/{pick[i]}", i, True),
    }
    out: dict[str, Any] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        for name, call in calls.items():
            await call(http, 0)  # warm
            samples = [await call(http, i + 1) for i in range(reps)]
            out[name] = {"reps": reps, "p50_ms": round(common.percentile(samples, 50), 2),
                         "p99_ms": round(common.percentile(samples, 99), 2)}
            common.say(f"  {name}: {out[name]}")
        api_list: dict[str, Any] = {}
        for name, params in api_filters(values).items():
            call = (lambda h, i, p=params: server_ms(h, "/cases", i, False, p))  # noqa: E731
            await call(http, 0)  # warm
            samples = [await call(http, i + 1) for i in range(reps)]
            api_list[name] = {"reps": reps, "p50_ms": round(common.percentile(samples, 50), 2),
                              "p99_ms": round(common.percentile(samples, 99), 2)}
            api_list[name]["p99_vs_floor"] = common.ratio(api_list[name]["p99_ms"], floor_p99)
            shown = await http.get("/cases", params=params,
                                   headers={"Authorization": f"Bearer {tokens[0]}"})
            api_list[name]["total"] = shown.json()["total"]
            common.say(f"  GET /cases {name}: {api_list[name]}")
    out["api_list"] = api_list
    out["api_list_max_vs_floor"] = max(v["p99_vs_floor"] or 0 for v in api_list.values())
    out["api_list_within_100x_floor"] = out["api_list_max_vs_floor"] <= 100
    json_case_p99 = out["json_case"]["p99_ms"] + out["json_events"]["p99_ms"]
    out["list_page_vs_json"] = common.ratio(out["list_page"]["p99_ms"], out["json_list"]["p99_ms"])
    out["case_page_vs_json"] = common.ratio(out["case_page"]["p99_ms"], json_case_p99)
    out["target_met"] = all(r is not None and r <= 2 for r in
                            (out["list_page_vs_json"], out["case_page_vs_json"]))
    return out


async def seeded_database(admin: str, args: argparse.Namespace,
                          frame: SeedYear) -> tuple[str, dict[str, Any], list[str]]:
    """A database seeded and projected: a fresh one, or with --keep NAME the one kept from an
    earlier run with the same --today (seeded into it the first time; new migrations applied)."""
    if args.keep:
        url = with_database(admin, args.keep)
        conn = await asyncpg.connect(admin)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", args.keep)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{args.keep}"')
        finally:
            await conn.close()
        await migrate(url)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS bench_seed (seed jsonb NOT NULL)")
            kept = await conn.fetchval("SELECT seed FROM bench_seed")
            ids = [r[0] for r in await conn.fetch("SELECT case_id FROM case_summary ORDER BY 1")]
        finally:
            await conn.close()
        if kept is not None:
            seeded = json.loads(kept)
            if seeded["first_start"] != frame.first_start.isoformat():
                raise SystemExit(f"--keep {args.keep} was seeded for another --today "
                                 f"(first start {seeded['first_start']})")
            common.say(f"reusing {args.keep}: {seeded['cases']:,} cases")
            return url, seeded, ids
    else:
        url = await common.fresh_database(admin, "queries")
    common.say(f"seeding {args.cases:,} cases / ~{args.events:,} events "
               f"(sick periods from {frame.first_start}, today {frame.today})")
    seeded = await seed(url, args.cases, args.events, args.access_per_case, frame)
    ids = seeded.pop("ids")
    common.say("rebuilding the projections (case_summary, case_measure_facts)")
    timings: dict[str, Any] = {}
    store = await EventStore.connect(url, min_size=1, max_size=2)
    try:
        for projection in all_projections():
            t0 = time.perf_counter()
            n = await rebuild(store, projection, batch_size=25_000)
            took = time.perf_counter() - t0
            timings[projection.name] = {"events": n, "seconds": round(took, 1),
                                        "events_per_s": round(n / took)}
            common.say(f"  {projection.name}: {timings[projection.name]}")
    finally:
        await store.close()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE")
        summaries = await conn.fetchval("SELECT count(*) FROM case_summary")
        facts = await conn.fetchval("SELECT count(*) FROM case_measure_facts")
        sizes = {t: round(await conn.fetchval(
            "SELECT pg_total_relation_size($1::regclass)", t) / 2**20, 1)
            for t in ("case_summary", "case_state", "case_measure_facts",
                      "case_measure_state")}
        heap = round(await conn.fetchval(
            "SELECT pg_relation_size('case_summary')") / 2**20, 1)
        seeded.update({"first_start": frame.first_start.isoformat(), "rebuild": timings,
                       "case_summary_rows": summaries, "case_measure_facts_rows": facts,
                       "table_mb_with_indexes": sizes, "case_summary_heap_mb": heap})
        if args.keep:
            await conn.execute("INSERT INTO bench_seed VALUES ($1::jsonb)", json.dumps(seeded))
    finally:
        await conn.close()
    return url, seeded, ids


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    frame = SeedYear(args.today)
    result: dict[str, Any] = {"config": {"cases": args.cases, "events": args.events,
                                         "reps": args.reps, "measure_reps": args.measure_reps,
                                         "access_per_case": args.access_per_case,
                                         "today": frame.today.isoformat()}}
    with common.postgres(args.database_url, durable=True) as (admin, _server):
        url, seeded, ids = await seeded_database(admin, args, frame)
        try:
            result["seed"] = seeded
            common.say(f"seeded: {seeded}")
            result.update(await measure(url, ids, args.reps, args.measure_reps, frame))
        finally:
            if not args.keep:
                await drop_database(admin, url)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=200,
                        help="repetitions of each point query (lists: a quarter of it)")
    parser.add_argument("--measure-reps", type=int, default=20,
                        help="repetitions of each period_measures call")
    parser.add_argument("--access-per-case", type=float, default=5.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--today", type=date.fromisoformat,
                        default=datetime.now(ZoneInfo("Europe/Stockholm")).date(),
                        help="the day read at (default: today); sick periods start 244 days "
                             "before it, over a year")
    parser.add_argument("--keep", metavar="NAME", default=None,
                        help="seed into database NAME once and keep it (with --database-url): "
                             "later runs with the same --today reuse it")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    common.protect_stdout()
    result = asyncio.run(main_async(args))
    api_list = result.get("pages", {}).get("api_list", {})
    if api_list:  # stderr; in the JSON too
        common.say(f"\nGET /cases, server time, PDL entries included (floor p99 "
                   f"{result['floor']['p99_ms']} ms):")
        for name, v in api_list.items():
            common.say(f"  {name:22s} p50 {v['p50_ms']:8.2f}  p99 {v['p99_ms']:8.2f} ms  "
                       f"{v['p99_vs_floor']:7.1f}x floor  total {v['total']:,}")
    for name, plans in result.get("explain", {}).items():  # stderr; in the JSON too
        common.say(f"\nEXPLAIN (ANALYZE, BUFFERS) of {name}:")
        for p in plans:
            common.say(p)
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
