"""Time skips only while every workflow on the test server is idle: a case left running after
its worker stopped would stall every later test. So each fixture that runs a worker ends every
case of its database when it is done."""

from __future__ import annotations

import contextlib

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError


async def end_all_cases(client: Client, pool: asyncpg.Pool) -> None:
    case_ids = [r[0] for r in await pool.fetch("SELECT DISTINCT stream_id FROM events")]
    for case_id in case_ids:
        with contextlib.suppress(RPCError):  # already completed
            await client.get_workflow_handle(f"case-{case_id}").terminate("test finished")
