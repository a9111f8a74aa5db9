"""`sjukfall`: the operator's command line.

run            the whole embedded stack (what `make run` calls)
worker         a standalone worker against SJUKFALL_TEMPORAL_ADDRESS / SJUKFALL_DATABASE_URL
token          print a dev bearer token (HS256 with SJUKFALL_JWT_SECRET)
db migrate     apply SQL migrations
projections rebuild   rebuild every projection from position 0
cases list / case show / case events / measures   read the record (PDL-logged as the operator)
replay         replay committed or exported workflow histories against the current code
"""

from __future__ import annotations

import asyncio

import typer

from sjukfall.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
projections_app = typer.Typer(no_args_is_help=True, help="Read models.")
app.add_typer(db_app, name="db")
app.add_typer(projections_app, name="projections")


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
    typer.echo(issue_token(settings.jwt_secret, sub, role, unit, ttl))  # type: ignore[arg-type]


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
