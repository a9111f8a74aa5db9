"""Versioned SQL migrations: `store/migrations/NNNN_name.sql`, applied in order, recorded.

- Each file runs in its own transaction together with its row in `schema_migrations`, so a
  failing migration leaves nothing behind and is retried on the next run.
- A session advisory lock serialises concurrent callers (two workers starting at once): the
  second waits, then finds everything applied and applies nothing.
- Applying is idempotent: a second call returns [].
- The checksum of every applied file is recorded; an applied file that has since changed is an
  error (write a new migration instead of editing an old one).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

# An arbitrary constant naming the "migrations" advisory lock (the low 63 bits of a hash).
MIGRATION_LOCK_KEY = 0x736A756B6D696772  # "sjukmigr"

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def id(self) -> str:
        return f"{self.version}_{self.name}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migration files shipped as package data, in version order."""
    folder = resources.files("store") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_RE.match(entry.name)
        if match is None:
            continue
        found.append(Migration(match.group(1), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {versions}")
    return found


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text        NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def migrate(database_url: str, before: str | None = None) -> list[str]:
    """Apply every pending migration (with `before`, only those of lower versions: a database
    as an older release left it, for upgrade tests); return the ids (`NNNN_name`) applied."""
    conn = await asyncpg.connect(database_url)
    try:
        return await migrate_connection(conn, before)
    finally:
        await conn.close()


async def grant_app_login(database_url: str, role: str, password: str) -> None:
    """Make `role` the application's login: created (or its password set) and a member of
    `sjukfall_app` (migration 0091), so the API and workers never connect as the owner."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise MigrationError(f"{role!r} is not a plain role name (a-z, 0-9, _)")
    conn = await asyncpg.connect(database_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        # DDL takes no parameters: the password goes in as a quoted literal
        literal = await conn.fetchval("SELECT quote_literal($1)", password)
        verb = "ALTER" if exists else "CREATE"
        await conn.execute(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                           f"NOBYPASSRLS PASSWORD {literal}")
        await conn.execute(f"GRANT sjukfall_app TO {role}")
    finally:
        await conn.close()


async def migrate_connection(conn: asyncpg.Connection, before: str | None = None) -> list[str]:
    migrations = [m for m in available_migrations() if before is None or m.version < before]
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE)
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        applied = {r["version"]: r for r in rows}
        # Versions the database has but this code does not know come from newer code (a
        # rolling deploy); they are left alone.
        done: list[str] = []
        for migration in migrations:
            row = applied.get(migration.version)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.id} was changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(migration.id)
        return done
    finally:
        if not conn.is_closed():
            # the lock ends with the session anyway
            with contextlib.suppress(asyncpg.PostgresError, OSError):
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def applied_migrations(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not exists:
            return []
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        return [f"{r['version']}_{r['name']}" for r in rows]
    finally:
        await conn.close()


async def migration_status(database_url: str) -> list[dict[str, object]]:
    """Every migration this code knows and every one the database has recorded, in version
    order, each with `state`: `applied`, `pending`, `changed` (applied, but the file differs
    since) or `unknown` (recorded by newer code: a rolling deploy)."""
    conn = await asyncpg.connect(database_url)
    try:
        recorded: dict[str, asyncpg.Record] = {}
        if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
            rows = await conn.fetch("SELECT version, name, checksum, applied_at "
                                    "FROM schema_migrations")
            recorded = {r["version"]: r for r in rows}
    finally:
        await conn.close()
    status: list[dict[str, object]] = []
    for m in available_migrations():
        row = recorded.pop(m.version, None)
        state = "pending" if row is None else (
            "applied" if row["checksum"] == m.checksum else "changed")
        status.append({"version": m.version, "name": m.name, "state": state,
                       "applied_at": row["applied_at"] if row else None})
    for version, row in recorded.items():
        status.append({"version": version, "name": row["name"], "state": "unknown",
                       "applied_at": row["applied_at"]})
    return sorted(status, key=lambda r: str(r["version"]))
