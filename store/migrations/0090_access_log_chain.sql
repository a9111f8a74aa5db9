-- The PDL access log made tamper-evident (issue #15): every entry carries `seq` (its place in
-- one chain, dense) and `hash` = sha256(previous entry's hash || this entry's fields). An entry
-- altered, or removed, breaks the chain at that place; `sjukfall audit verify` reports the first.
-- The de-duplication also keys on the kind of read (`action`): a summary and a history are two.
ALTER TABLE access_log ADD COLUMN seq bigint, ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;

-- The hashed form of an entry: fields joined by the unit separator, times in microseconds
-- since the epoch (independent of the session's time zone).
CREATE FUNCTION access_log_entry_hash(prev bytea, seq bigint, at timestamptz, actor_id text,
                                      role text, units text[], case_id text, action text,
                                      purpose text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(coalesce(prev, ''::bytea) || convert_to(concat_ws(chr(31),
        seq::text, (extract(epoch FROM at) * 1000000)::bigint::text, actor_id, role,
        array_to_string(units, chr(30)), case_id, action, purpose), 'UTF8'))
$$;

CREATE FUNCTION access_log_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    last record;
BEGIN
    -- One chain: appends take their place one at a time (held to the end of the transaction).
    PERFORM pg_advisory_xact_lock(4210150915);
    SELECT a.seq, a.hash INTO last FROM access_log a WHERE a.seq IS NOT NULL
        ORDER BY a.seq DESC LIMIT 1;
    NEW.seq := coalesce(last.seq, 0) + 1;
    NEW.prev_hash := last.hash;
    NEW.hash := access_log_entry_hash(NEW.prev_hash, NEW.seq, NEW.at, NEW.actor_id, NEW.role,
                                      NEW.units, NEW.case_id, NEW.action, NEW.purpose);
    RETURN NEW;
END;
$$;

-- Entries written before the chain existed join it in id order.
ALTER TABLE access_log DISABLE TRIGGER access_log_no_update_delete;
DO $$
DECLARE
    r record;
    n bigint := 0;
    prev bytea := NULL;
BEGIN
    FOR r IN SELECT * FROM access_log ORDER BY id LOOP
        n := n + 1;
        UPDATE access_log SET seq = n, prev_hash = prev,
            hash = access_log_entry_hash(prev, n, r.at, r.actor_id, r.role, r.units, r.case_id,
                                         r.action, r.purpose)
        WHERE id = r.id RETURNING hash INTO prev;
    END LOOP;
END;
$$;
ALTER TABLE access_log ENABLE TRIGGER access_log_no_update_delete;

ALTER TABLE access_log ALTER COLUMN seq SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
CREATE UNIQUE INDEX access_log_seq ON access_log (seq);
CREATE TRIGGER access_log_chain BEFORE INSERT ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_chain();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only();

DROP INDEX access_log_dedup;
CREATE INDEX access_log_dedup ON access_log (actor_id, case_id, action, purpose, at);
