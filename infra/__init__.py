"""Platform utilities every layer above the store uses: settings, structured logs, metrics,
tracing, signing, webhooks, the payload codec and the FK inbox. The program itself (the CLI,
the embedded stack, operator commands) lives in `sjukfall/`, on top of every layer."""
