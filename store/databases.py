"""Databases on one PostgreSQL server: a fresh one per test module or benchmark run."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from store.migrate import migrate


def with_database(url: str, name: str) -> str:
    """The same server URL, pointing at database `name`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def create_database(admin_url: str, prefix: str = "t", *, migrated: bool = False) -> str:
    """A new empty database (with every migration applied when `migrated`); its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = with_database(admin_url, name)
    if migrated:
        await migrate(url)
    return url


async def drop_database(admin_url: str, url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(
            f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)'
        )
    finally:
        await conn.close()
