-- Which case recorded which certificate (issue #17): the certificate -> case lookup of inbound
-- FK messages (FK addresses care by certificate id) and the API's "a certificate id belongs to
-- one case" check, without searching event JSON. One row per (certificate, case), with the
-- patient's identity number from the case's CaseOpened, so that FK routing matches certificate
-- id and identity number together (issue #15), and the position of the newest recording.
--
-- Kept by a trigger on `events`, in the transaction of the append: an FK message that arrives
-- right after the certificate was recorded finds it (a projection would lag), and nothing can
-- be appended without its row. The WHEN clause keeps other appends at their cost. Retention
-- purges the rows with the case (store/retention.py PURGED_TABLES).
CREATE TABLE certificate_cases (
    certificate_id text   NOT NULL,
    case_id        text   NOT NULL,
    patient_id     text,             -- NULL: the stream has no CaseOpened (never routed to)
    position       bigint NOT NULL,  -- the newest recording of the certificate in the case
    PRIMARY KEY (certificate_id, case_id)
);

COMMENT ON TABLE certificate_cases IS
    'Certificate id -> case (and patient), kept from events by trigger events_certificate_cases.';

CREATE FUNCTION events_certificate_cases() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    patient text := NEW.data->>'patient_id';
BEGIN
    IF patient IS NULL THEN
        SELECT o.data->>'patient_id' INTO patient FROM events o
        WHERE o.stream_id = NEW.stream_id AND o.type = 'CaseOpened'
        ORDER BY o.version LIMIT 1;
    END IF;
    INSERT INTO certificate_cases (certificate_id, case_id, patient_id, position)
    VALUES (NEW.data->'certificate'->>'certificate_id', NEW.stream_id, patient, NEW.position)
    ON CONFLICT (certificate_id, case_id) DO UPDATE
        SET position = greatest(certificate_cases.position, excluded.position),
            patient_id = coalesce(certificate_cases.patient_id, excluded.patient_id);
    RETURN NULL;
END;
$$;

-- AFTER ... FOR EACH ROW runs at the end of the statement, so a CaseOpened written in the same
-- append as the certificate is visible to the function.
CREATE TRIGGER events_certificate_cases
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.type IN ('CertificateRecorded', 'CaseOpened')
          AND NEW.data->'certificate'->>'certificate_id' IS NOT NULL)
    EXECUTE FUNCTION events_certificate_cases();

-- The events recorded before this migration.
INSERT INTO certificate_cases (certificate_id, case_id, patient_id, position)
SELECT c.data->'certificate'->>'certificate_id', c.stream_id,
       (SELECT o.data->>'patient_id' FROM events o
        WHERE o.stream_id = c.stream_id AND o.type = 'CaseOpened' ORDER BY o.version LIMIT 1),
       max(c.position)
FROM events c
WHERE c.type IN ('CertificateRecorded', 'CaseOpened')
  AND c.data->'certificate'->>'certificate_id' IS NOT NULL
GROUP BY 1, 2;

GRANT SELECT, INSERT, UPDATE, DELETE ON certificate_cases TO sjukfall_app;
