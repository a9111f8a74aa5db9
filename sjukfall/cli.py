"""sjukfall: sick-leave case backend. Operator commands; reads are PDL-logged."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer

try:  # typer carries its own copy of click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer
    from click import ClickException  # type: ignore[assignment, unused-ignore]

from domain.calendar import STOCKHOLM
from infra.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
projections_app = typer.Typer(no_args_is_help=True, help="Read models.")
cases_app = typer.Typer(no_args_is_help=True, help="The case list.")
case_app = typer.Typer(no_args_is_help=True, help="One case.")
app.add_typer(db_app, name="db")
app.add_typer(projections_app, name="projections")
app.add_typer(cases_app, name="cases")
app.add_typer(case_app, name="case")
keys_app = typer.Typer(no_args_is_help=True, help="Temporal payload encryption keys.")
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(no_args_is_help=True, help="The PDL access log.")
app.add_typer(audit_app, name="audit")

# --- errors: one line on stderr, and an exit code per kind (docs/operations.md, "Exit codes")
EXIT_FAILED = 1       # the work ran and found a problem (a replay failed, no such case)
EXIT_USAGE = 2        # bad arguments or settings: nothing was done
EXIT_DATABASE = 3     # PostgreSQL unreachable, refusing us, or without the schema
EXIT_TEMPORAL = 4     # Temporal unreachable
EXIT_INTERNAL = 70    # a bug: SJUKFALL_DEBUG=1 shows the traceback
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure the operator can act on: printed as one line, exits with `code`."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _where(url: str) -> str:
    """host:port/database of a PostgreSQL URL, never its password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"


@contextlib.contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """Connection and schema failures become one line naming the database (no password)."""
    import asyncpg

    try:
        yield
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError) as err:
        raise CliError(f"database {_where(url)}: {err} (run `sjukfall db migrate`)",
                       EXIT_DATABASE) from None
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError,
            asyncpg.InvalidCatalogNameError, asyncpg.CannotConnectNowError,
            asyncpg.ConnectionDoesNotExistError) as err:
        raise CliError(f"database {_where(url)}: {err}", EXIT_DATABASE) from None
    except (OSError, TimeoutError) as err:
        reason = err.strerror or str(err) if isinstance(err, OSError) else "timed out"
        raise CliError(f"database {_where(url)} unreachable: {reason}", EXIT_DATABASE) from None


def _settings_error(err: Any) -> str:
    """A refused setting as one line: the variable and the rule, never the value given."""
    from infra.settings import env_name

    parts = []
    for e in err.errors():
        message = str(e["msg"]).removeprefix("Value error, ")
        parts.append(f"{env_name(str(e['loc'][0]))}: {message}" if e["loc"] else message)
    return "settings: " + "; ".join(parts)


def _database_url() -> str:
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    return f"postgresql://postgres@127.0.0.1:{settings.postgres_port}/postgres"


@app.command()
def run() -> None:
    """Start PostgreSQL, the Temporal dev server, the worker and the API; Ctrl-C stops all."""
    from sjukfall.stack import run as run_stack

    raise typer.Exit(run_stack(get_settings()))


@app.command()
def worker() -> None:
    """Run a worker on the task queue (scale out by starting more)."""
    from worker import main

    asyncio.run(main())


@app.command()
def token(
    role: str = typer.Option(..., help="physician | coordinator | ops | fk_gateway"),
    sub: str = typer.Option("dev-user", help="user id (HSA id)"),
    unit: list[str] = typer.Option([], help="care unit id; repeat for several"),
    ttl: int = typer.Option(8 * 3600, help="seconds until it expires"),
) -> None:
    """Print a dev token signed with SJUKFALL_JWT_SECRET."""
    from api.auth import ROLES, issue_token

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    settings = get_settings()
    if settings.env == "production":
        raise typer.BadParameter("dev tokens are not issued in production")
    typer.echo(issue_token(settings.jwt_secret, sub, role, unit, ttl,  # type: ignore[arg-type, unused-ignore]
                           **{k: v for k, v in (("iss", settings.jwt_issuer),
                                                ("aud", settings.jwt_audience)) if v}))


@db_app.command("migrate")
def db_migrate(
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    app_login: str | None = typer.Option(
        None, "--app-login", help="then make this login role (password: "
        "SJUKFALL_APP_DB_PASSWORD) a member of sjukfall_app, the role the API and workers "
        "connect as"),
) -> None:
    """Apply pending migrations (idempotent), as the schema's owner."""
    from store.migrate import MigrationError, grant_app_login, migrate

    url = _database_url()
    password = get_settings().app_db_password
    if app_login and not password:
        raise CliError("settings: SJUKFALL_APP_DB_PASSWORD is required with --app-login",
                       EXIT_USAGE)
    with _database_errors(url):
        try:
            applied = asyncio.run(migrate(url))
            if app_login and password:
                asyncio.run(grant_app_login(url, app_login, password))
        except MigrationError as err:
            raise CliError(f"database {_where(url)}: {err}", EXIT_DATABASE) from None
    if as_json:
        _echo_json({"applied": applied})
        return
    typer.echo(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


@db_app.command("status")
def db_status(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Applied and pending migrations; exit 1 when one is pending or was changed."""
    from store.migrate import migration_status

    url = _database_url()
    with _database_errors(url):
        rows = asyncio.run(migration_status(url))
    pending = [r for r in rows if r["state"] != "applied"]
    if as_json:
        _echo_json({"migrations": rows, "pending": len(pending)})
    else:
        _table(rows, ["version", "name", "state", "applied_at"])
        applied = len(rows) - len(pending)
        typer.echo(f"{applied} applied, {len(pending)} pending or changed ({_where(url)})")
    if any(r["state"] in ("pending", "changed") for r in rows):
        raise typer.Exit(EXIT_FAILED)


@db_app.command("wait")
def db_wait(timeout: float = typer.Option(600, help="seconds to wait at most"),
            every: float = typer.Option(2, help="seconds between checks")) -> None:
    """Wait until every migration this code knows is applied (a pod's initContainer: the new
    code starts only on its schema). Exit 1 on timeout; never applies anything itself."""
    from store.migrate import migration_status

    url = _database_url()
    deadline = time.monotonic() + timeout
    while True:
        try:
            with _database_errors(url):
                rows = asyncio.run(migration_status(url))
            missing = [f"{r['version']}_{r['name']}" for r in rows
                       if r["state"] in ("pending", "changed")]
            reason = f"waiting for migration(s) {', '.join(missing)}"
        except CliError as err:  # the database may come up after the pod
            missing, reason = ["?"], str(err)
        if not missing:
            typer.echo(f"schema is current ({_where(url)})")
            return
        if time.monotonic() >= deadline:
            raise CliError(f"gave up after {timeout:.0f}s: {reason}", EXIT_FAILED)
        typer.echo(reason, err=True)
        time.sleep(every)


# The table holding one row per case for each projection: how far a rebuild has come.
@projections_app.command("rebuild")
def projections_rebuild(
    projection: list[str] = typer.Option([], "--projection",
                                         help="only this projection; repeat for several "
                                              "(default: all)"),
    yes: bool = typer.Option(False, "--yes", help="do not ask (reads are incomplete until done)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Rebuild projections from the first event, showing cases done per projection."""
    from store.projections import all_projections

    known = [p.name for p in all_projections()]
    unknown = [n for n in projection if n not in known]
    if unknown:
        raise typer.BadParameter(f"no projection {', '.join(unknown)}; one of {', '.join(known)}",
                                 param_hint="--projection")
    names = projection or known
    if not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter("the case list is incomplete until a rebuild ends: "
                                     "confirm with --yes", param_hint="--yes")
        typer.confirm(f"Rebuild {', '.join(names)}? Reads are incomplete until it ends",
                      abort=True)
    url = _database_url()
    with _database_errors(url):
        counts = asyncio.run(_rebuild_with_progress(url, names, quiet=as_json))
    if as_json:
        _echo_json({"events": counts})
        return
    for name, count in counts.items():
        typer.echo(f"{name}: {count} events")


async def _rebuild_with_progress(url: str, names: list[str], quiet: bool) -> dict[str, int]:
    """Run the rebuild, and meanwhile count the cases each projection holds again (its rows
    commit batch by batch) against the cases in the record: one line, on stderr."""
    import asyncpg

    from store.operations import REBUILD_PROGRESS_TABLES, cases_in_record, cases_rebuilt
    from store.projections import rebuild_all

    conn = await asyncpg.connect(url)
    try:
        cases = await cases_in_record(conn)
        work = asyncio.ensure_future(rebuild_all(url, names=names))
        started, last_line = time.monotonic(), 0.0
        tty = sys.stderr.isatty()
        while not work.done():
            await asyncio.wait([work], timeout=0.5)
            if quiet or work.done() or (not tty and time.monotonic() - last_line < 10):
                continue
            done = {n: await cases_rebuilt(conn, n) for n in names if n in REBUILD_PROGRESS_TABLES}
            _progress_line(done, cases, time.monotonic() - started, tty)
            last_line = time.monotonic()
        if not quiet:
            _progress_line({n: cases for n in names if n in REBUILD_PROGRESS_TABLES}, cases,
                           time.monotonic() - started, tty, final=True)
        return await work
    finally:
        await conn.close()


def _progress_line(done: dict[str, int], total: int, seconds: float | None, tty: bool,
                   final: bool = False) -> None:
    parts = []
    for name, count in done.items():
        share = min(count / total, 1.0) if total else 1.0
        bar = "#" * int(share * 20)
        parts.append(f"{name} [{bar:<20}] {min(count, total)}/{total}")
    line = "  ".join(parts) + ("" if seconds is None else f"  {seconds:.0f}s")
    if tty:
        typer.echo("\r" + line, err=True, nl=final)
    else:
        typer.echo(line, err=True)


@app.command()
def retention(
    dry_run: bool = typer.Option(False, "--dry-run", help="list what is due; change nothing"),
    apply: bool = typer.Option(False, "--apply", help="purge what is due"),
    yes: bool = typer.Option(False, "--yes", help="with --apply: do not ask"),
    who: str | None = typer.Option(None, "--as", help="your user id, recorded with the run "
                                      "(default: SJUKFALL_OPERATOR or the login name)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Retention (gallring): closed cases past SJUKFALL_RETENTION_YEARS after their last entry."""
    from store.retention import due_cases, purge

    if dry_run == apply:
        raise typer.BadParameter("give one of --dry-run and --apply", param_hint="--dry-run")
    years = get_settings().retention_years
    if apply and not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter("purging cannot be undone: confirm with --yes",
                                     param_hint="--yes")
        typer.confirm(f"Purge closed cases whose last entry is more than {years} years old?",
                      abort=True)
    if dry_run:
        due = _with_pool(lambda pool: due_cases(pool, years))
        if as_json:
            _echo_json({"policy_years": years, "cases": [vars(d) for d in due]})
            return
        _table([vars(d) for d in due], ["case_id", "last_entry_at", "events", "access_entries"])
        typer.echo(f"{len(due)} closed case(s) past {years} years after their last entry "
                   "(dry run: nothing purged)")
        return

    def show(done: int, total: int) -> None:
        if not as_json:
            _progress_line({"purged": done}, total, None, sys.stderr.isatty(), final=done == total)

    run = _with_pool(lambda pool: purge(pool, years, who or _operator(), progress=show))
    if as_json:
        _echo_json(vars(run))
        return
    typer.echo(f"run {run.run_id}: purged {run.cases} case(s), {run.events} event(s), "
               f"{run.access_entries} access-log entr(ies); policy {years} years, "
               f"cutoff {_cell(run.cutoff)}")


@app.command()
def reconcile(
    repair: bool = typer.Option(False, "--repair", help="start or restart from the record the "
                                "workflows that are missing or behind it"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Cases whose Temporal workflow and event record disagree, and what to do (exit 1 while
    one needs a person)."""
    from sjukfall.reconcile import reconcile as find

    settings = get_settings()

    async def go(pool: Any) -> Any:
        from worker import connect_client

        try:
            client = await connect_client(settings, service_name="sjukfall-cli")
        except RuntimeError as err:
            where = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
            raise CliError(f"Temporal {where}: {err}", EXIT_TEMPORAL) from None

        def show(done: int, total: int) -> None:
            if not as_json:
                _progress_line({"checked": done}, total, None, sys.stderr.isatty(),
                               final=done == total)

        return await find(pool, client, settings.task_queue, repair=repair, progress=show)

    findings = _with_pool(go)
    wrong = [f for f in findings if f.kind != "ok"]
    if as_json:
        _echo_json({"checked": len(findings), "findings": [f.as_dict() for f in wrong]})
    else:
        if wrong:
            _table([f.as_dict() for f in wrong], ["case_id", "kind", "record_version",
                                                  "workflow_version", "repaired", "advice"])
        typer.echo(f"{len(findings)} case(s) checked, {len(wrong)} disagree, "
                   f"{sum(f.repaired for f in wrong)} repaired")
    if any(not f.repaired for f in wrong):
        raise typer.Exit(EXIT_FAILED)


def _operator() -> str:
    return os.environ.get("SJUKFALL_OPERATOR") or getpass.getuser()


OperatorOpt = typer.Option(None, "--as", help="your user id for the PDL log "
                           "(default: SJUKFALL_OPERATOR or the login name)")
PurposeOpt = typer.Option("operations", help="why you read the case (PDL log)")
JsonOpt = typer.Option(False, "--json", help="machine-readable output")


def _with_pool(work: Any) -> Any:
    from store.eventstore import EventStore

    url = _database_url()

    async def go() -> Any:
        async with await EventStore.connect(url, max_size=2) as store:
            return await work(store.pool)

    with _database_errors(url):
        return asyncio.run(go())


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max([len(c)] + [len(_cell(r.get(c))) for r in rows]) for c in columns}
    typer.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        typer.echo("  ".join(_cell(r.get(c)).ljust(widths[c]) for c in columns))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "-"
    return str(value)


@cases_app.command("list")
def cases_list(
    phase: str | None = typer.Option(None, help="assessment | plan | follow_up | closed"),
    unit: list[str] = typer.Option([], help="care unit id; repeat for several"),
    min_days: int | None = typer.Option(None, min=0),
    max_days: int | None = typer.Option(None, min=0),
    grade: int | None = typer.Option(None, help="grade today: 25 | 50 | 75 | 100"),
    diagnosis_chapter: str | None = typer.Option(None, help="ICD-10 chapter, e.g. F"),
    sex: str | None = typer.Option(None, help="kvinna | man"),
    age_band: str | None = typer.Option(None, help="e.g. 30-39"),
    overdue: bool | None = typer.Option(None, "--overdue/--not-overdue"),
    unanswered_fk: bool | None = typer.Option(None, "--unanswered-fk/--no-unanswered-fk"),
    in_coordinator_queue: bool | None = typer.Option(
        None, "--in-coordinator-queue/--not-in-coordinator-queue"),
    physician: str | None = typer.Option(None, help="issued a certificate (HSA id)"),
    coordination_status: str | None = typer.Option(None, help="a status, or unset"),
    consent_held: str | None = typer.Option(None, help="recipient[:purpose], valid now"),
    consent_not_held: str | None = typer.Option(None, help="recipient[:purpose], not valid now"),
    text: str | None = typer.Option(None, "--q", help="free text on case id, unit, diagnosis"),
    sort: str = typer.Option("sick_period_start", help="column to sort by"),
    descending: bool = typer.Option(False, "--descending"),
    limit: int = typer.Option(50, help="1-1000"), offset: int = typer.Option(0, min=0),
    as_json: bool = JsonOpt,
) -> None:
    """Cases with the API's filters (pseudonymous rows: no identity numbers)."""
    from store.queries import InvalidQuery, list_cases

    choices = {"--phase": (phase, ("assessment", "plan", "follow_up", "closed")),
               "--grade": (grade, (25, 50, 75, 100)), "--sex": (sex, ("kvinna", "man"))}
    for hint, (value, allowed) in choices.items():
        if value is not None and value not in allowed:
            raise typer.BadParameter(f"{value} is not one of {', '.join(map(str, allowed))}",
                                     param_hint=hint)
    try:
        rows, total = _with_pool(lambda pool: list_cases(
            pool, phase=phase, unit_ids=unit or None, min_days=min_days, max_days=max_days,
            grade=grade, diagnosis_chapter=diagnosis_chapter, sex=sex, age_band=age_band,
            overdue=overdue, unanswered_fk=unanswered_fk,
            in_coordinator_queue=in_coordinator_queue, physician=physician,
            coordination_status=coordination_status, consent_held=consent_held,
            consent_not_held=consent_not_held, text=text, sort=sort,
            descending=descending, limit=limit, offset=offset, read_at=datetime.now(UTC)))
    except InvalidQuery as err:
        raise typer.BadParameter(str(err), param_hint=f"--{err.field}") from None
    from domain.privacy import mask_identity

    rows = [mask_identity(r, protected=r["protected_identity"], role="ops") for r in rows]
    if as_json:
        _echo_json({"total": total, "limit": limit, "offset": offset, "items": rows})
        return
    _table(rows, ["case_id", "phase", "unit_id", "sick_period_start", "days", "current_grade",
                  "diagnosis_chapter", "next_milestone_day", "overdue", "unanswered_fk"])
    shown = f"{offset + 1}-{offset + len(rows)}" if offset and rows else str(len(rows))
    typer.echo(f"{shown} of {total} case(s)")


@cases_app.command("stuck")
def cases_stuck(
    min_attempts: int = typer.Option(3, help="an activity counts as stuck from this attempt"),
    limit: int = typer.Option(10_000, help="look at most at this many running cases"),
    as_json: bool = JsonOpt,
) -> None:
    """Cases whose workflow task or activities keep failing, or that report a problem."""
    from sjukfall.stuck import stuck_cases
    from worker import connect_client

    async def go() -> list[Any]:
        client = await connect_client(get_settings(), service_name="sjukfall-cli")
        return await stuck_cases(client, min_attempts=min_attempts, limit=limit)

    found = asyncio.run(go())
    if as_json:
        _echo_json([s.as_json() for s in found])
        return
    _table([s.as_json() for s in found], ["case_id", "what", "since", "attempts"])
    typer.echo(f"{len(found)} stuck case(s)")


def _read_case_or_exit(case_id: str, who: str | None, action: str, purpose: str) -> Any:
    from store.access_log import InvalidPurpose, checked_purpose

    try:
        checked_purpose(purpose)
    except InvalidPurpose as err:
        raise typer.BadParameter(str(err), param_hint="--purpose") from None
    found = _with_pool(lambda pool: _read_case(pool, case_id, who or _operator(), action, purpose))
    if found is None:
        typer.echo(f"no case {case_id}", err=True)
        raise typer.Exit(1)
    return found


async def _read_case(pool: Any, case_id: str, who: str, action: str, purpose: str) -> Any:
    from domain.privacy import mask_identity
    from store.access_log import record_access
    from store.queries import case_events, get_case_summary

    summary = await get_case_summary(pool, case_id)
    events = await case_events(pool, case_id)
    if summary is None and not events:
        return None
    await record_access(pool, actor_id=who, role="ops", units=[], case_id=case_id,
                        action=f"cli:{action}", purpose=purpose)
    # The operator reads as ops: a protected patient's identity is masked (domain/privacy.py).
    protected = bool(summary and summary.get("protected_identity")) or any(
        e.type == "CaseOpened" and e.data.get("protected_identity") for e in events)
    summary = mask_identity(summary, protected=protected, role="ops")
    events = [e._replace(data=mask_identity(e.data, protected=protected, role="ops"))
              for e in events]
    return summary, events


@case_app.command("find")
def case_find(patient_id: str, who: str | None = OperatorOpt, purpose: str = PurposeOpt,
              as_json: bool = JsonOpt) -> None:
    """A patient's cases by identity number (PDL-logged as a read of each case found)."""
    from domain.identity import normalise
    from domain.privacy import mask_identity
    from store.access_log import InvalidPurpose, checked_purpose, record_accesses
    from store.patients import cases_of_patient
    from store.queries import get_case_summary

    try:
        number = normalise(patient_id, date.today())
        checked_purpose(purpose)
    except InvalidPurpose as err:
        raise typer.BadParameter(str(err), param_hint="--purpose") from None
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="PATIENT_ID") from None

    async def go(pool: Any) -> list[dict[str, Any]]:
        rows = [r for c in await cases_of_patient(pool, number)
                if (r := await get_case_summary(pool, c)) is not None]
        await record_accesses(pool, actor_id=who or _operator(), role="ops", units=[],
                              case_ids=[r["case_id"] for r in rows], action="cli:find",
                              purpose=purpose)
        return [mask_identity(r, protected=r["protected_identity"], role="ops") for r in rows]

    rows = _with_pool(go)
    if as_json:
        _echo_json(rows)
        return
    _table(rows, ["case_id", "phase", "unit_id", "sick_period_start", "days", "closed_reason"])
    typer.echo(f"{len(rows)} case(s)")


@case_app.command("show")
def case_show(case_id: str, who: str | None = OperatorOpt, purpose: str = PurposeOpt,
              as_json: bool = JsonOpt) -> None:
    """The case's summary and a timeline of its events."""
    summary, events = _read_case_or_exit(case_id, who, "show", purpose)
    if as_json:
        _echo_json({"summary": summary, "events": [_event_json(e) for e in events]})
        return
    for key in ("case_id", "phase", "unit_id", "sick_period_start", "sick_period_end", "days",
                "current_grade", "diagnosis_code", "next_milestone_day", "next_milestone_at",
                "follow_up_due", "fk_answer_due", "overdue", "unanswered_fk",
                "coordination_status", "consents", "closed_reason"):
        if summary is not None:
            typer.echo(f"{key:20} {_cell(summary.get(key))}")
    typer.echo("")
    _table([_timeline_row(e) for e in events], ["version", "at", "type", "by", "what"])


def _event_json(e: Any) -> dict[str, Any]:
    return {"version": e.version, "type": e.type, "event_id": e.event_id,
            "recorded_at": e.recorded_at, "data": e.data}


def _timeline_row(e: Any) -> dict[str, Any]:
    data = e.data
    what = next((f"{k}={data[k]}" for k in ("day", "kind", "recipient", "reason", "certificate_id")
                 if data.get(k) is not None), "")
    return {"version": e.version, "at": datetime.fromisoformat(data["occurred_at"]),
            "type": e.type, "by": data.get("recorded_by"), "what": what}


@case_app.command("events")
def case_events_cmd(case_id: str, who: str | None = OperatorOpt, purpose: str = PurposeOpt,
                    as_json: bool = JsonOpt) -> None:
    """The case's full event history, in order."""
    _, events = _read_case_or_exit(case_id, who, "events", purpose)
    if as_json:
        _echo_json([_event_json(e) for e in events])
    else:
        _table([_timeline_row(e) for e in events], ["version", "at", "type", "by", "what"])


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)",
                                 param_hint=option) from None


@audit_app.command("verify")
def audit_verify(head: str = typer.Option(None, help="the last hash you recorded earlier "
                                                      "(hex): also catches entries removed at the end")
                 ) -> None:
    """Check the access log's hash chain; exit 1 naming the first altered or removed entry.
    Prints the chain's head hash: keep it outside the database (e.g. in the ops journal)."""
    from store.access_log import chain_head, verify_chain

    checked, broken = _with_pool(lambda pool: verify_chain(
        pool, bytes.fromhex(head) if head else None))
    if broken is not None:
        typer.echo(f"access log chain broken: {broken.describe()} ({checked} entries intact "
                   "before it)", err=True)
        raise typer.Exit(1)

    top = _with_pool(chain_head)
    typer.echo(f"access log intact: {checked} entries; head {top.hex() if top else '-'}")


@keys_app.command("new")
def keys_new() -> None:
    """A new AES-256 payload key, base64: add it to SJUKFALL_PAYLOAD_KEYS under a new id."""
    from infra.payload_codec import new_key

    typer.echo(new_key())


@app.command()
def measures(
    period_from: str = typer.Option(..., "--from", help="YYYY-MM-DD"),
    period_to: str = typer.Option(..., "--to", help="YYYY-MM-DD"),
    unit: str | None = typer.Option(None), as_json: bool = JsonOpt,
) -> None:
    """Follow-up measures (uppföljningsmått) for a period, as tables (--json: one object)."""
    from store.queries import period_measures

    data = _period_figures(period_measures, period_from, period_to, unit)
    if as_json:
        _echo_json(data)
        return
    _measures_tables(data)


def _period_figures(query: Any, period_from: str, period_to: str, unit: str | None) -> Any:
    """A period's figures from the store, as JSON data; a bad period is a usage error."""
    from store.queries import InvalidQuery

    start, end = _day(period_from, "--from"), _day(period_to, "--to")
    try:
        result = _with_pool(lambda pool: query(pool, start, end, unit))
    except InvalidQuery as err:
        raise typer.BadParameter(str(err), param_hint=f"--{err.field}") from None
    return result.model_dump(mode="json")


def _measures_tables(data: dict[str, Any]) -> None:
    typer.echo(f"{data['period_from']} - {data['period_to']}, unit {data['unit_id'] or 'all'}")
    kinds = ("started", "ongoing", "ended")
    typer.echo("")
    _table([{"cases": "total", **{k: data[k]["total"] for k in kinds}}], ["cases", *kinds])
    for split in ("by_sex", "by_unit", "by_chapter", "by_grade", "by_length"):
        keys = sorted({key for k in kinds for key in data[k][split]})
        if keys:
            typer.echo("")
            _table([{split: key, **{k: data[k][split].get(key, 0) for k in kinds}}
                    for key in keys], [split, *kinds])
    def share_row(measure: str, v: dict[str, Any], **group: str) -> dict[str, Any]:
        return {"measure": measure, **group, "numerator": v["numerator"],
                "denominator": v["denominator"],
                "share": "-" if v["share"] is None else f"{v['share'] * 100:.1f} %"}

    shares = {name: v for name, v in data.items() if isinstance(v, dict) and "share" in v}
    typer.echo("")
    _table([share_row(name, v) for name, v in shares.items()],
           ["measure", "numerator", "denominator", "share"])
    for split in ("by_sex", "by_unit"):  # every share by sex and by unit (seed 004)
        rows = [share_row(name, g, **{split: key}) for name, v in shares.items()
                for key, g in v.get(split, {}).items()]
        if rows:
            typer.echo("")
            _table(rows, ["measure", split, "numerator", "denominator", "share"])
    answers = data["fk_answer_days"]
    typer.echo("")
    _table([{"fk_answers": answers["count"], **{k: answers[k] for k in
             ("mean_days", "median_days", "max_days")}}],
           ["fk_answers", "mean_days", "median_days", "max_days"])


@app.command()
def kva(
    period_from: str = typer.Option(..., "--from", help="YYYY-MM-DD"),
    period_to: str = typer.Option(..., "--to", help="YYYY-MM-DD"),
    unit: str | None = typer.Option(None), as_json: bool = JsonOpt,
) -> None:
    """KVÅ codes (DV077, AW026, GC001) performed in a period, by sex and unit (GET /measures/kva)."""
    from store.kva import period_kva_counts

    data = _period_figures(period_kva_counts, period_from, period_to, unit)
    if as_json:
        _echo_json(data)
        return
    typer.echo(f"{data['period_from']} - {data['period_to']}, unit {data['unit_id'] or 'all'}")
    typer.echo("")
    _table([{"code": code, "total": c["total"], **c["by_sex"]} for code, c in data["codes"].items()],
           ["code", "total", "kvinna", "man"])
    units = sorted({u for c in data["codes"].values() for u in c["by_unit"]})
    if units:
        typer.echo("")
        _table([{"unit": u, **{code: c["by_unit"].get(u, 0) for code, c in data["codes"].items()}}
                for u in units], ["unit", *data["codes"]])


@app.command()
def replay(
    histories: Path = typer.Argument(Path("tests/histories"), help="a folder of history JSON files"),
    workflow_id: list[str] = typer.Option([], "--workflow-id",
                                          help="replay live workflows from the server instead"),
) -> None:
    """Replay workflow histories against the current workflow code (upgrade safety check)."""
    code = asyncio.run(_replay(histories, workflow_id))
    raise typer.Exit(code)


async def _replay(folder: Path, workflow_ids: list[str]) -> int:
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    from infra.payload_codec import codec_for, encrypted_converter
    from worker import connect_client, sandbox_runner
    from workflows.case import CaseWorkflow

    if workflow_ids:
        settings = get_settings()
        try:
            client = await connect_client(settings)
        except RuntimeError as err:  # the SDK's "Failed client connect: ..."
            where = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
            raise CliError(f"Temporal {where}: {err}", EXIT_TEMPORAL) from None
        loaded = [await client.get_workflow_handle(w).fetch_history() for w in workflow_ids]
    else:
        loaded = [WorkflowHistory.from_json(p.stem, p.read_text()) for p in sorted(folder.glob("*.json"))]
    # Histories from before encryption replay too (plain payloads pass on replay only).
    converter = encrypted_converter(codec_for(get_settings(), accept_plaintext=True))
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=converter,
                        workflow_runner=sandbox_runner())
    failed = 0
    for history in loaded:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        ok = result.replay_failure is None
        failed += not ok
        typer.echo(f"{'ok  ' if ok else 'FAIL'} {history.workflow_id}"
                   + ("" if ok else f": {result.replay_failure}"))
    typer.echo(f"{len(loaded) - failed} of {len(loaded)} replayed")
    return 1 if failed or not loaded else 0


@app.command()
def api() -> None:
    """Serve only the HTTP API (production: next to workers started with `sjukfall worker`)."""
    from sjukfall.stack import serve_api

    asyncio.run(serve_api(get_settings()))


@app.command("fk-simulator")
def fk_simulator(
    host: str = typer.Option("127.0.0.1", help="0.0.0.0 in a container"),
    port: int | None = typer.Option(None, help="default: SJUKFALL_FK_SIMULATOR_PORT"),
    care_url: str | None = typer.Option(None, help="the care API FK messages go to "
                                           "(default: http://127.0.0.1:SJUKFALL_API_PORT)"),
) -> None:
    """Serve the Försäkringskassan simulator (test and staging environments only); it sends to
    care as SJUKFALL_FK_TRANSPORT says (json, or rivta: SOAP as the national platform)."""
    import uvicorn

    from api.auth import issue_token
    from fk.simulator import create_app

    settings = get_settings()
    if settings.env == "production":
        raise typer.BadParameter("the FK simulator does not run in production")
    token = issue_token(settings.jwt_secret, "fk-simulator", "fk_gateway", [],
                        ttl_seconds=settings.jwt_max_age_seconds)
    simulator = create_app(care_url or f"http://127.0.0.1:{settings.api_port}", token,
                           settings.fk_secret, protocol=settings.fk_transport,
                           care_address=settings.rivta_logical_address,
                           fk_address=settings.rivta_fk_logical_address,
                           platform_dn=settings.rivta_platform_dn)
    uvicorn.run(simulator, host=host, port=port or settings.fk_simulator_port, log_config=None)


def run_cli(argv: list[str] | None = None) -> int:
    """Run one command; every failure ends as one line on stderr and an exit code."""
    from pydantic import ValidationError

    try:
        result = app(args=argv, prog_name="sjukfall", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as err:
        return err.exit_code
    except typer.Abort:
        typer.echo("sjukfall: aborted", err=True)
        return EXIT_INTERRUPTED
    except ClickException as err:  # usage: unknown option, bad value, missing argument
        ctx = getattr(err, "ctx", None)
        where = ctx.command_path if ctx is not None else "sjukfall"
        if err.format_message():  # (no arguments at all: the help was shown instead)
            typer.echo(f"{where}: {err.format_message()}".replace("\n", " "), err=True)
        return err.exit_code
    except ValidationError as err:
        if err.title != "Settings":
            raise
        typer.echo(f"sjukfall: {_settings_error(err)}", err=True)
        return EXIT_USAGE
    except CliError as err:
        typer.echo(f"sjukfall: {err}", err=True)
        return err.code
    except KeyboardInterrupt:
        typer.echo("sjukfall: interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as err:  # a bug: the traceback only on request
        if os.environ.get("SJUKFALL_DEBUG"):
            raise
        typer.echo(f"sjukfall: internal error: {type(err).__name__}: {err} "
                   "(SJUKFALL_DEBUG=1 shows the traceback)", err=True)
        return EXIT_INTERNAL


def main() -> None:
    code = run_cli()
    # Leave without interpreter finalization: a Temporal client that failed to connect can
    # still have a Rust runtime thread that takes the GIL while Python shuts down, and that
    # aborts the process (exit 134 instead of our code). Nothing of ours runs at exit.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
