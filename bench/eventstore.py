"""Event store benchmark: appends and a projection rebuild against a real, durable PostgreSQL.

    .venv/bin/python bench/eventstore.py [--events N] [--streams M] [--concurrency C] [--json]

Variants, all on the same server, with the same rows (N events over M streams, C concurrent
writers, each stream written by one writer in version order, as the case workflows do):

  store_single      EventStore.append, one event per append (one transaction each)
  store_batched     EventStore.append, --batch-size events per append
  floor_single      bare asyncpg INSERT of the same row into a plain table (bigserial key, no
                    other constraint), autocommit: the floor for single appends
  floor_batched     bare asyncpg INSERT ... SELECT FROM unnest of a batch into that table
  es_single         eventsourcing's PostgresApplicationRecorder (LOCK TABLE + NOTIFY per
                    transaction), one event per insert_events, C threads
  es_batched        the same with --batch-size events per insert_events

Then `--rebuild-events` events (default 1,000,000) of sample cases are loaded into a fresh
database and the projections are rebuilt from position 0: each alone, then all of them the way
`sjukfall projections rebuild` does; events/s is reported for each, and as a fraction of the
*read floor* measured in the same run: every event streamed in (stream, version) order, pages
read ahead as a rebuild reads them, and decoded into its domain event; no fold, no writes. The
fraction moves far less with the machine than events/s does (issue #17).

Unless --database-url is given, a durable (fsync on) embedded PostgreSQL is started in a
temporary folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from store.databases import create_database, drop_database
from store.eventstore import EventStore, NewEvent, dumps, head_position, read_by_stream
from store.projections import all_projections, decode_event, rebuild_all
from store.sample_cases import bench_cases
from store.subscription import rebuild


def payload(stream: str, version: int) -> dict[str, Any]:
    """About the size and shape of a recorded certificate (~350 bytes of JSON)."""
    return {
        "case_id": stream,
        "certificate_id": f"{stream}-cert-{version}",
        "issued_at": "2025-03-14T09:30:00+00:00",
        "period": {"start": "2025-03-10", "end": "2025-04-06"},
        "grade": 100,
        "diagnosis": {"code": "F43.2", "chapter": "F"},
        "issuer": {"hsa_id": "SE2321000016-1234", "unit_id": "SE2321000016-UNIT1"},
        "work_capacity_note": "Bedömning enligt underlag.",
    }


METADATA = {"recorded_by": "bench", "correlation_id": "c0ffee", "workflow_run": "run-1"}


def make_workload(events: int, streams: int) -> list[tuple[str, list[NewEvent]]]:
    per_stream = max(1, events // streams)
    work = []
    for _ in range(streams):
        sid = f"case-{uuid.uuid4()}"
        work.append(
            (
                sid,
                [
                    NewEvent(
                        str(uuid.uuid4()), "CertificateRecorded", 1, payload(sid, v + 1), METADATA
                    )
                    for v in range(per_stream)
                ],
            )
        )
    return work


def chunks(seq: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


def shares(work: list[Any], concurrency: int) -> list[list[Any]]:
    return [work[i::concurrency] for i in range(concurrency)]


async def timed_async(
    concurrency: int, work: list[Any], fn: Callable[[list[Any]], Coroutine[Any, Any, None]]
) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(fn(share) for share in shares(work, concurrency)))
    return time.perf_counter() - start


# --- variants -----------------------------------------------------------------------------


async def run_store(
    url: str, work: list[tuple[str, list[NewEvent]]], concurrency: int, batch: int
) -> float:
    store = await EventStore.connect(
        url, min_size=concurrency, max_size=concurrency, append_connections=concurrency
    )
    try:

        async def writer(share: list[tuple[str, list[NewEvent]]]) -> None:
            # interleave streams: round r appends the r-th batch of every stream of this writer
            plans = [(sid, chunks(evs, batch)) for sid, evs in share]
            versions = {sid: 0 for sid, _ in share}
            for r in range(max(len(p) for _, p in plans)):
                for sid, parts in plans:
                    if r < len(parts):
                        versions[sid] = await store.append(sid, versions[sid], parts[r])

        return await timed_async(concurrency, work, writer)
    finally:
        await store.close()


FLOOR_TABLE = """
CREATE TABLE IF NOT EXISTS floor_events (
    id bigserial PRIMARY KEY, stream_id text NOT NULL, version int NOT NULL, event_id text NOT NULL,
    type text NOT NULL, schema_version int NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now())
"""
FLOOR_ONE = """INSERT INTO floor_events (stream_id, version, event_id, type, schema_version, data, metadata)
VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7::text::jsonb)"""
FLOOR_MANY = """INSERT INTO floor_events (stream_id, version, event_id, type, schema_version, data, metadata)
SELECT $1, v, e, t, s, d::jsonb, m::jsonb
FROM unnest($2::int[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[]) AS x(v, e, t, s, d, m)"""


async def run_floor(
    url: str, work: list[tuple[str, list[NewEvent]]], concurrency: int, batch: int
) -> float:
    pool = await asyncpg.create_pool(url, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    await pool.execute(FLOOR_TABLE)
    try:

        async def writer(share: list[tuple[str, list[NewEvent]]]) -> None:
            plans = [(sid, chunks(evs, batch)) for sid, evs in share]
            versions = {sid: 0 for sid, _ in share}
            async with pool.acquire() as conn:
                for r in range(max(len(p) for _, p in plans)):
                    for sid, parts in plans:
                        if r >= len(parts):
                            continue
                        part = parts[r]
                        v = versions[sid]
                        if len(part) == 1:
                            e = part[0]
                            await conn.execute(
                                FLOOR_ONE,
                                sid,
                                v + 1,
                                e.event_id,
                                e.type,
                                e.schema_version,
                                dumps(e.data),
                                dumps(e.metadata),
                            )
                        else:
                            await conn.execute(
                                FLOOR_MANY,
                                sid,
                                list(range(v + 1, v + 1 + len(part))),
                                [e.event_id for e in part],
                                [e.type for e in part],
                                [e.schema_version for e in part],
                                [dumps(e.data) for e in part],
                                [dumps(e.metadata) for e in part],
                            )
                        versions[sid] = v + len(part)

        return await timed_async(concurrency, work, writer)
    finally:
        await pool.close()


def run_eventsourcing(
    url: str, work: list[tuple[str, list[NewEvent]]], concurrency: int, batch: int, table: str
) -> float:
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    parts = urlsplit(url)
    datastore = PostgresDatastore(
        dbname=parts.path.lstrip("/"),
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or "",
        pool_size=concurrency,
        originator_id_type="text",
    )
    recorder = PostgresApplicationRecorder(datastore, events_table_name=table)
    recorder.create_table()
    try:

        def writer(share: list[tuple[str, list[NewEvent]]]) -> None:
            plans = [(sid, chunks(evs, batch)) for sid, evs in share]
            versions = {sid: 0 for sid, _ in share}
            for r in range(max(len(p) for _, p in plans)):
                for sid, parts_ in plans:
                    if r >= len(parts_):
                        continue
                    v = versions[sid]
                    recorder.insert_events(
                        [
                            StoredEvent(
                                sid,
                                v + 1 + i,
                                "bench:" + e.type,
                                dumps({"data": e.data, "metadata": e.metadata}).encode(),
                            )
                            for i, e in enumerate(parts_[r])
                        ]
                    )
                    versions[sid] = v + len(parts_[r])

        threads = [
            threading.Thread(target=writer, args=(share,)) for share in shares(work, concurrency)
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - start
    finally:
        datastore.close()


# --- rebuild ------------------------------------------------------------------------------


async def load(
    url: str,
    cases: Iterator[tuple[str, list[NewEvent]]],
    concurrency: int,
    per_append: int = 3,
    chunk: int = 2000,
) -> tuple[int, float]:
    """Append the cases as the workflows would: a few events per decision, cases interleaved
    (each writer round-robins over its share of `chunk` cases), so a rebuild's batches cut
    through many cases instead of finding each case whole. Returns (events, seconds)."""
    total = 0
    seconds = 0.0
    while True:
        work = list(itertools.islice(cases, chunk))
        if not work:
            return total, seconds
        total += sum(len(evs) for _, evs in work)
        seconds += await run_store(url, work, concurrency, per_append)


async def run_rebuild(url: str, events: int, concurrency: int, batch_size: int) -> dict[str, Any]:
    """Load `events` events of sample cases, then time from position 0: each projection's
    rebuild alone (`store.subscription.rebuild`) and `rebuild_all` (what `sjukfall projections
    rebuild` runs: every projection, each in its own process). Rows are compared: every
    rebuild must leave the rows the first one wrote."""
    total, load_s = await load(url, bench_cases(events), concurrency)
    # A settled table, as in production: without this the first rebuild to read the fresh rows
    # pays for setting their hint bits (and races autovacuum), the later ones do not.
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM (ANALYZE) events")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    result: dict[str, Any] = {
        "events": total,
        "load_seconds": round(load_s, 2),
        "load_events_per_s": round(total / load_s),
        "batch_size": batch_size,
        "projections": {},
    }
    store = await EventStore.connect(url, min_size=1, max_size=3)
    try:
        read, seconds = await read_floor(store.pool, batch_size)
        assert read == total, (read, total)
        result["read_floor"] = figures(total, seconds)
        first: dict[str, str] = {}
        for projection in all_projections():
            start = time.perf_counter()
            applied = await rebuild(store, projection, batch_size=batch_size)
            seconds = time.perf_counter() - start
            assert applied == total, (projection.name, applied, total)
            result["projections"][projection.name] = figures(total, seconds)
        first = await row_digests(store.pool)
        start = time.perf_counter()
        counts = await rebuild_all(url, batch_size=batch_size)
        seconds = time.perf_counter() - start
        assert set(counts.values()) == {total}, counts
        assert await row_digests(store.pool) == first, "rebuild_all wrote other rows"
        result["all"] = figures(total, seconds)
    finally:
        await store.close()
    floor = result["read_floor"]["events_per_s"]
    for f in [*result["projections"].values(), result["all"]]:
        f["of_read_floor"] = round(f["events_per_s"] / floor, 3)
    # the target holds for the slowest way of rebuilding
    result["events_per_s"] = min(
        [result["all"]["events_per_s"]]
        + [p["events_per_s"] for p in result["projections"].values()]
    )
    return result


async def read_floor(pool: asyncpg.Pool, batch_size: int) -> tuple[int, float]:
    """Stream every event in (stream, version) order, a page read ahead while the last one is
    decoded (as a per-stream rebuild reads), and decode each; returns (events, seconds)."""
    gc.collect()
    gc.disable()  # as the rebuilds run (store.subscription.gc_paused)
    try:
        start = time.perf_counter()
        head = await head_position(pool)
        page = await read_by_stream(pool, ("", 0), head, batch_size, raw_json=True)
        read = 0
        while page:
            after = (page[-1].stream_id, page[-1].version)
            ahead = asyncio.ensure_future(
                read_by_stream(pool, after, head, batch_size, raw_json=True))
            for e in page:
                decode_event(e.type, e.schema_version, e.data)
            read += len(page)
            page = await ahead
        return read, time.perf_counter() - start
    finally:
        gc.enable()


def figures(events: int, seconds: float) -> dict[str, Any]:
    return {"seconds": round(seconds, 2), "events_per_s": round(events / seconds)}


async def row_digests(pool: asyncpg.Pool) -> dict[str, str]:
    """An md5 of every row of each projection table, in key order."""
    tables = {
        "case_summary": "case_id",
        "case_state": "case_id",
        "case_measure_facts": "case_id, as_of",
        "case_measure_state": "case_id",
    }
    return {
        t: await pool.fetchval(f"SELECT md5(string_agg(x::text, ',' ORDER BY {k})) FROM {t} x")
        for t, k in tables.items()
    }


# --- driver -------------------------------------------------------------------------------


async def fresh_database(admin_url: str) -> str:
    return await create_database(admin_url, "bench", migrated=True)


async def server_settings(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        names = [
            "server_version",
            "fsync",
            "synchronous_commit",
            "wal_sync_method",
            "shared_buffers",
        ]
        return {n: await conn.fetchval(f"SHOW {n}") for n in names}
    finally:
        await conn.close()


def say(quiet: bool, *args: Any) -> None:
    if not quiet:
        print(*args, file=sys.stderr, flush=True)


async def main_async(args: argparse.Namespace, admin_url: str) -> dict[str, Any]:
    q = args.json
    C, B = args.concurrency, args.batch_size
    result: dict[str, Any] = {
        "config": {
            "events": args.events,
            "streams": args.streams,
            "concurrency": C,
            "batch_size": B,
            "rebuild_events": args.rebuild_events,
            "repeat": args.repeat,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "asyncpg": asyncpg.__version__,
        },
        "server": await server_settings(admin_url),
    }
    variants: list[tuple[str, int]] = [("floor", 1), ("store", 1), ("floor", B), ("store", B)]
    if not args.skip_eventsourcing:
        variants += [("es", 1), ("es", B)]
    runs: dict[str, list[float]] = {}
    for rep in range(args.repeat):
        for kind, batch in variants:
            label = f"{kind}_{'single' if batch == 1 else 'batched'}"
            n = args.events
            if kind == "es" and batch == 1 and args.es_single_events:
                n = min(n, args.es_single_events)
            work = make_workload(n, args.streams)
            total = sum(len(e) for _, e in work)
            url = await fresh_database(admin_url)
            try:
                say(
                    q,
                    f"[{rep + 1}/{args.repeat}] {label}: {total} events over {len(work)} streams, "
                    f"{C} writers ...",
                )
                if kind == "store":
                    seconds = await run_store(url, work, C, batch)
                elif kind == "floor":
                    seconds = await run_floor(url, work, C, batch)
                else:
                    seconds = await asyncio.to_thread(
                        run_eventsourcing, url, work, C, batch, "es_events"
                    )
            finally:
                await drop_database(admin_url, url)
            runs.setdefault(label, []).append(total / seconds)
            say(q, f"  {total / seconds:,.0f} events/s ({seconds:.2f} s)")
    # the best of the repeats: this machine is shared, so the slower runs measure the neighbours
    result["events_per_s"] = {label: round(max(v)) for label, v in runs.items()}
    result["runs_events_per_s"] = {label: [round(x) for x in v] for label, v in runs.items()}

    eps = result["events_per_s"]
    ratios = {
        "store_single_vs_floor_single": eps["store_single"] / eps["floor_single"],
        "store_batched_vs_floor_batched": eps["store_batched"] / eps["floor_batched"],
    }
    if "es_single" in eps:
        ratios["store_single_vs_es_single"] = eps["store_single"] / eps["es_single"]
        ratios["store_batched_vs_es_batched"] = eps["store_batched"] / eps["es_batched"]
    result["ratios"] = {k: round(v, 3) for k, v in ratios.items()}

    if args.rebuild_events > 0:
        url = await fresh_database(admin_url)
        try:
            say(q, f"rebuild: loading {args.rebuild_events} events ...")
            result["rebuild"] = await run_rebuild(
                url, args.rebuild_events, C, args.rebuild_batch_size
            )
            for line in rebuild_lines(result["rebuild"]):
                say(q, "  " + line)
        finally:
            await drop_database(admin_url, url)

    result["config"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["targets"] = {
        "store_single_vs_floor_single >= 0.75": ratios["store_single_vs_floor_single"] >= 0.75,
        "store_batched >= 30000": eps["store_batched"] >= 30_000,
        "store ahead of eventsourcing": (
            eps["store_single"] > eps["es_single"] and eps["store_batched"] > eps["es_batched"]
        )
        if "es_single" in eps
        else None,
        "rebuild >= 20000": (result["rebuild"]["events_per_s"] >= 20_000)
        if "rebuild" in result
        else None,
        "rebuild_all >= 0.5x read floor": (result["rebuild"]["all"]["of_read_floor"] >= 0.5)
        if "rebuild" in result
        else None,
    }
    return result


def rebuild_lines(r: dict[str, Any]) -> list[str]:
    floor = r["read_floor"]
    ways = [(f"rebuild {name} alone", f) for name, f in r["projections"].items()]
    ways.append(("rebuild_all (one process each)", r["all"]))
    return [
        (f"read floor (stream + decode, no fold, no writes): {r['events']:,} events in "
         f"{floor['seconds']} s = {floor['events_per_s']:,} events/s")
    ] + [
        f"{label}: {r['events']:,} events in {f['seconds']} s = {f['events_per_s']:,} events/s"
        f" = {f['of_read_floor']:.2f}x the read floor"
        for label, f in ways
    ] + [f"(load: {r['load_events_per_s']:,} events/s)"]


def print_table(result: dict[str, Any]) -> None:
    cfg = result["config"]
    print(
        f"PostgreSQL {result['server']['server_version']} fsync={result['server']['fsync']} "
        f"synchronous_commit={result['server']['synchronous_commit']}; {cfg['cpus']} CPUs; "
        f"{cfg['events']} events over {cfg['streams']} streams, {cfg['concurrency']} writers, "
        f"batch {cfg['batch_size']}; load average {cfg['loadavg_at_start'][0]} at start, "
        f"{cfg['loadavg_at_end'][0]} at end"
    )
    for label, eps in result["events_per_s"].items():
        runs = ", ".join(f"{x:,}" for x in result["runs_events_per_s"][label])
        print(f"  {label:<16} {eps:>10,} events/s   (best of: {runs})")
    for label, ratio in result["ratios"].items():
        print(f"  {label:<32} {ratio:.2f}x")
    if "rebuild" in result:
        for line in rebuild_lines(result["rebuild"]):
            print("  " + line)
    for target, ok in result["targets"].items():
        print(f"  target {target}: {'met' if ok else ('n/a' if ok is None else 'MISSED')}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=40_000, help="events per append variant")
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument(
        "--es-single-events",
        type=int,
        default=10_000,
        help="cap the eventsourcing single-event run (it is slow); 0 = --events",
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs of each append variant; best is kept"
    )
    parser.add_argument("--rebuild-events", type=int, default=1_000_000)
    parser.add_argument("--rebuild-batch-size", type=int, default=25_000)
    parser.add_argument("--skip-eventsourcing", action="store_true")
    parser.add_argument("--database-url", help="an existing server (admin URL); default: embedded")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object with every figure"
    )
    args = parser.parse_args()

    server = None
    tmp = None
    admin_url = args.database_url
    if admin_url is None:
        from infra.embedded import EmbeddedPostgres, free_port

        tmp = Path(tempfile.mkdtemp(prefix="sjukfall-bench-"))
        server = EmbeddedPostgres(tmp / "data", free_port(), durable=True)
        server.start()
        admin_url = server.url
    try:
        result = asyncio.run(main_async(args, admin_url))
    finally:
        if server is not None:
            server.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
