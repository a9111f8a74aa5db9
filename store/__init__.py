"""The SQL side of sjukfall, on asyncpg.

- `migrate`: versioned migrations (`migrations/NNNN_name.sql`), recorded, idempotent, locked.
- `eventstore`: the append-only event record with optimistic concurrency, idempotent appends and
  a gap-safe global order (see its docstring for why).
- `subscription`: catch-up subscriptions feeding projections, rows + checkpoint per transaction.
- `projections`: case_summary (folded with the domain), `rebuild_all`, `run_projections_forever`.
- `queries`: the API's read side (case list, summary, history, follow-up measures).
- `sample_cases`: valid synthetic cases produced by the domain's `decide` (tests, benchmarks).
- `access_log`: the PDL access log.
"""
