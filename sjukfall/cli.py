"""sjukfall: sick-leave case backend. Operator commands; reads are PDL-logged."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any, Optional

import typer

from domain.calendar import STOCKHOLM
from sjukfall.settings import get_settings

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
    typer.echo(issue_token(settings.jwt_secret, sub, role, unit, ttl,  # type: ignore[arg-type]
                           **{k: v for k, v in (("iss", settings.jwt_issuer),
                                                ("aud", settings.jwt_audience)) if v}))


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations (idempotent)."""
    from store.migrate import migrate

    applied = asyncio.run(migrate(_database_url()))
    typer.echo(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


@projections_app.command("rebuild")
def projections_rebuild() -> None:
    """Rebuild every projection from the first event."""
    from store.projections import rebuild_all

    counts = asyncio.run(rebuild_all(_database_url()))
    for name, count in counts.items():
        typer.echo(f"{name}: {count} events")


def _operator() -> str:
    return os.environ.get("SJUKFALL_OPERATOR") or getpass.getuser()


OperatorOpt = typer.Option(None, "--as", help="your user id for the PDL log "
                           "(default: SJUKFALL_OPERATOR or the login name)")
PurposeOpt = typer.Option("operations", help="why you read the case (PDL log)")
JsonOpt = typer.Option(False, "--json", help="machine-readable output")


def _with_pool(work: Any) -> Any:
    from store.eventstore import EventStore

    async def go() -> Any:
        async with await EventStore.connect(_database_url(), max_size=2) as store:
            return await work(store.pool)

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
    phase: Optional[str] = typer.Option(None, help="assessment | plan | follow_up | closed"),
    unit: Optional[str] = typer.Option(None, help="care unit id"),
    min_days: Optional[int] = typer.Option(None), max_days: Optional[int] = typer.Option(None),
    overdue: Optional[bool] = typer.Option(None, "--overdue/--not-overdue"),
    unanswered_fk: Optional[bool] = typer.Option(None, "--unanswered-fk/--no-unanswered-fk"),
    text: Optional[str] = typer.Option(None, "--q", help="free text on case id"),
    limit: int = typer.Option(50), as_json: bool = JsonOpt,
) -> None:
    """Cases with Rehabstöd-like filters (pseudonymous rows: no identity numbers)."""
    from store.queries import list_cases

    rows, total = _with_pool(lambda pool: list_cases(
        pool, phase=phase, unit_ids=[unit] if unit else None, min_days=min_days,
        max_days=max_days, overdue=overdue, unanswered_fk=unanswered_fk, text=text, limit=limit))
    from domain.privacy import mask_identity

    rows = [mask_identity(r, protected=r["protected_identity"], role="ops") for r in rows]
    if as_json:
        _echo_json({"total": total, "items": rows})
        return
    _table(rows, ["case_id", "phase", "unit_id", "sick_period_start", "days", "current_grade",
                  "diagnosis_chapter", "next_milestone_day", "overdue", "unanswered_fk"])
    typer.echo(f"{len(rows)} of {total} case(s)")


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
def case_show(case_id: str, who: Optional[str] = OperatorOpt, purpose: str = PurposeOpt,
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
def case_events_cmd(case_id: str, who: Optional[str] = OperatorOpt, purpose: str = PurposeOpt,
                    as_json: bool = JsonOpt) -> None:
    """The case's full event history, in order."""
    _, events = _read_case_or_exit(case_id, who, "events", purpose)
    if as_json:
        _echo_json([_event_json(e) for e in events])
    else:
        _table([_timeline_row(e) for e in events], ["version", "at", "type", "by", "what"])


@audit_app.command("verify")
def audit_verify(head: str = typer.Option(None, help="the last hash you recorded earlier "
                                                      "(hex): also catches entries removed at the end")
                 ) -> None:
    """Check the access log's hash chain; exit 1 naming the first altered or removed entry.
    Prints the chain's head hash: keep it outside the database (e.g. in the ops journal)."""
    from store.access_log import verify_chain

    checked, broken = _with_pool(lambda pool: verify_chain(
        pool, bytes.fromhex(head) if head else None))
    if broken is not None:
        typer.echo(f"access log chain broken: {broken.describe()} ({checked} entries intact "
                   "before it)", err=True)
        raise typer.Exit(1)

    async def last(pool: Any) -> Any:
        return await pool.fetchval("SELECT hash FROM access_log ORDER BY seq DESC LIMIT 1")

    top = _with_pool(last)
    typer.echo(f"access log intact: {checked} entries; head {top.hex() if top else '-'}")


@keys_app.command("new")
def keys_new() -> None:
    """A new AES-256 payload key, base64: add it to SJUKFALL_PAYLOAD_KEYS under a new id."""
    from sjukfall.payload_codec import new_key

    typer.echo(new_key())


@app.command()
def measures(
    period_from: str = typer.Option(..., "--from", help="YYYY-MM-DD"),
    period_to: str = typer.Option(..., "--to", help="YYYY-MM-DD"),
    unit: Optional[str] = typer.Option(None), as_json: bool = JsonOpt,
) -> None:
    """Follow-up measures (uppföljningsmått) for a period."""
    from store.queries import period_measures

    result = _with_pool(lambda pool: period_measures(
        pool, date.fromisoformat(period_from), date.fromisoformat(period_to), unit))
    data = result.model_dump(mode="json")
    if as_json:
        _echo_json(data)
        return
    for key, value in data.items():
        typer.echo(f"{key:32} {json.dumps(value, ensure_ascii=False)}")


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

    from sjukfall.payload_codec import codec_for, encrypted_converter
    from worker import connect_client, sandbox_runner
    from workflows.case import CaseWorkflow

    if workflow_ids:
        client = await connect_client(get_settings())
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
    port: Optional[int] = typer.Option(None, help="default: SJUKFALL_FK_SIMULATOR_PORT"),
    care_url: Optional[str] = typer.Option(None, help="the care API FK messages go to "
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
