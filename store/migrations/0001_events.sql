-- The event record: the system of record for every case.
--
-- position  global order, assigned as (transaction id << 20) + index within the append, so that
--           positions are ordered by transaction id; readers only read below the xmin horizon
--           of in-flight transactions (see store/eventstore.py for why this is gap-safe).
-- stream_id the case id; version is the 1-based version within the stream, dense.
-- event_id  globally unique; appending the same ids again is a no-op (idempotent retries).
CREATE TABLE events (
    position       bigint      NOT NULL PRIMARY KEY,
    stream_id      text        NOT NULL,
    version        integer     NOT NULL CHECK (version >= 1),
    event_id       text        NOT NULL,
    type           text        NOT NULL,
    schema_version integer     NOT NULL DEFAULT 1 CHECK (schema_version >= 1),
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

COMMENT ON TABLE events IS
    'Append-only event record. UPDATE, DELETE and TRUNCATE raise (trigger events_append_only).';

-- Append-only, for every role including the owner and superusers (a REVOKE would not bind the
-- owner, and the application connects as the owner). The only way around it is deliberate:
-- ALTER TABLE events DISABLE TRIGGER, which needs ownership and leaves a trace in the DDL log.
CREATE FUNCTION events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a new event that corrects or compensates instead.';
END;
$$;

CREATE TRIGGER events_no_update_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;
