-- Retention (gallring): a closed case is removed from the record when its last entry is older
-- than the region's policy, at least ten years (patientdatalagen 3 kap. 17 §); see
-- store/retention.py. What was purged, when and by whom stays, and anonymous counts of the
-- purged cases are kept for statistics.
--
-- The append-only guards allow exactly this and nothing else: a DELETE (never UPDATE or
-- TRUNCATE) of the events and access-log rows of a case listed in retention_purged_cases, and
-- a case can be listed only when the record itself shows it closed with its last entry more
-- than ten years back (checked here, by the database's clock, whatever the caller says).

CREATE TABLE retention_runs (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    policy_years   integer     NOT NULL CHECK (policy_years >= 10),
    cutoff         timestamptz NOT NULL,
    operator       text        NOT NULL,
    cases          integer     NOT NULL DEFAULT 0,
    events         bigint      NOT NULL DEFAULT 0,
    access_entries bigint      NOT NULL DEFAULT 0
);

-- One row per purged case: the pseudonymous case id (nothing links it to a person once the
-- events are gone), so "what happened to case X" still has an answer.
CREATE TABLE retention_purged_cases (
    case_id        text        NOT NULL PRIMARY KEY,
    run_id         bigint      NOT NULL REFERENCES retention_runs (id),
    last_entry_at  timestamptz NOT NULL,
    events         integer     NOT NULL,
    access_entries integer     NOT NULL,
    purged_at      timestamptz NOT NULL DEFAULT now()
);

-- Anonymous counts of purged cases for statistics (no case id, no birth date, no free text).
CREATE TABLE retention_statistics (
    run_id            bigint  NOT NULL REFERENCES retention_runs (id),
    start_year        integer,
    unit_id           text,
    sex               text,
    age_band          text,
    diagnosis_chapter text,
    closed_reason     text,
    length_band       text,
    cases             integer NOT NULL CHECK (cases > 0)
);

-- Whether the record shows the case closed and its last entry more than ten years ago.
CREATE FUNCTION retention_case_is_due(case_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(bool_or(type = 'CaseClosed')
                    AND max((data->>'occurred_at')::timestamptz) < now() - interval '10 years',
                    false)
    FROM events WHERE stream_id = case_id
$$;

CREATE FUNCTION retention_listing_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NOT retention_case_is_due(NEW.case_id) THEN
        RAISE EXCEPTION 'case % is not due for retention: it is open, or its last entry is '
                        'less than ten years old (patientdatalagen 3 kap. 17 §)', NEW.case_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'retention_purged_cases is append-only: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER retention_purged_cases_guard
    BEFORE INSERT OR UPDATE OR DELETE ON retention_purged_cases
    FOR EACH ROW EXECUTE FUNCTION retention_listing_guard();

CREATE FUNCTION retention_statistics_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'retention_statistics is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER retention_statistics_no_update_delete
    BEFORE UPDATE OR DELETE ON retention_statistics
    FOR EACH ROW EXECUTE FUNCTION retention_statistics_append_only();

-- The event record and the access log: still append-only, but for the purge of a listed case.
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND EXISTS (SELECT 1 FROM retention_purged_cases WHERE case_id = OLD.stream_id) THEN
        RETURN OLD;  -- retention of a closed case (store/retention.py)
    END IF;
    RAISE EXCEPTION 'events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a new event that corrects or compensates instead.';
END;
$$;

-- A purged access-log entry leaves its place in the hash chain (0090) behind: seq and hashes,
-- nothing about the read. `sjukfall audit verify` walks the chain through these, so a purge is
-- told apart from a removal.
CREATE TABLE access_log_purged (
    seq       bigint      NOT NULL PRIMARY KEY,
    prev_hash bytea,
    hash      bytea       NOT NULL,
    purged_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION access_log_purged_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log_purged is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER access_log_purged_no_update_delete
    BEFORE UPDATE OR DELETE ON access_log_purged
    FOR EACH ROW EXECUTE FUNCTION access_log_purged_append_only();

CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND EXISTS (SELECT 1 FROM retention_purged_cases WHERE case_id = OLD.case_id) THEN
        INSERT INTO access_log_purged (seq, prev_hash, hash)
            VALUES (OLD.seq, OLD.prev_hash, OLD.hash);
        RETURN OLD;  -- retention of a closed case (store/retention.py)
    END IF;
    RAISE EXCEPTION 'access_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- (TRUNCATE of the access log is refused by 0090's access_log_no_truncate.)
