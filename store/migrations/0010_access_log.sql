-- PDL access log (patientdatalagen 4 kap. 3 §): every read of a case by a person.
-- A patient may ask who read their case; ops query it per case. Append-only like events.
CREATE TABLE access_log (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor_id   text        NOT NULL,
    role       text        NOT NULL,
    units      text[]      NOT NULL DEFAULT '{}',
    case_id    text        NOT NULL,
    action     text        NOT NULL,
    purpose    text        NOT NULL
);
CREATE INDEX access_log_case_at ON access_log (case_id, at);
CREATE INDEX access_log_dedup ON access_log (actor_id, case_id, purpose, at);

CREATE FUNCTION access_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER access_log_no_update_delete
    BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
