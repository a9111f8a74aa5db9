-- The case list filters on physician and consent from case_summary itself (issues #19, #14).
--
-- 1. physicians: everyone who issued one of the case's certificates (HSA ids, sorted), written
--    by the case_summary projection. It replaces the expression index over CertificateRecorded
--    events (0110), which made the physician filter a heap read in `events` per certificate.
--    Backfilled here from the events (the same rule: every recorded certificate's issuer).
ALTER TABLE case_summary ADD COLUMN physicians text[] NOT NULL DEFAULT '{}';
UPDATE case_summary s SET physicians = p.ids
FROM (SELECT stream_id, array_agg(DISTINCT data->'certificate'->>'issued_by'
                                  ORDER BY data->'certificate'->>'issued_by') AS ids
      FROM events WHERE type = 'CertificateRecorded' GROUP BY stream_id) p
WHERE p.stream_id = s.case_id;
CREATE INDEX case_summary_physicians ON case_summary USING gin (physicians);
DROP INDEX IF EXISTS events_certificate_issuer;

-- 2. consent_windows: for each recipient and purpose, the latest consent's validity
--    {"employer": {"share_information": [given_at, ends_at]}} (ISO instants; ends_at is the
--    first instant it no longer holds: expiry, withdrawal or a newer consent). Every earlier
--    consent for that recipient and purpose ended when the latest was given, so a consent is
--    held at an instant t exactly when given_at <= t < ends_at. The list's consent filters
--    compare with the instant of reading, so an expired consent never matches "held".
--    NULL: not written yet by the projection (the filters then treat the case as holding none).
ALTER TABLE case_summary ADD COLUMN consent_windows jsonb;
CREATE INDEX case_summary_consent_recipients ON case_summary USING gin (consent_windows);

-- Consent validity (365-day cap, withdrawal, supersession, schema-1 upcasting) is the domain's
-- rule, so consent_windows is filled by the projection rather than re-derived here: the
-- case_summary checkpoint goes back to the start, and the projector re-reads the record once,
-- rewriting every row from its stored state (events already folded are skipped, nothing is
-- lost, the list stays readable meanwhile). `sjukfall projections rebuild` does it at once.
UPDATE checkpoints SET position = 0, updated_at = now() WHERE name = 'case_summary';
