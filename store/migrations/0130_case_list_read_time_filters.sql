-- The case list filters on physician, consent and grade from case_summary itself, consent and
-- grade as of the moment of reading (issues #19, #14).
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
--    NULL: not written yet by the projection (the filters then treat the case as holding none,
--    and the page's values are read from the stored state as before).
--    consent_until: the last of those ends (NULL: no consent), so that "held at t" is first an
--    index range (consent_until > t) and "not held" skips the windows of most rows.
ALTER TABLE case_summary ADD COLUMN consent_windows jsonb, ADD COLUMN consent_until timestamptz;
CREATE INDEX case_summary_consent_until ON case_summary (consent_until)
    WHERE consent_until IS NOT NULL;

-- 3. grade_periods: the counting certificates' periods [[start, end, grade], ...]; the grade on
--    a day is the highest whose period covers it. The list shows, and filters on, the grade on
--    the day of reading (revised rules), not the stored current_grade (the grade on the
--    period's last day). Only a case whose period reaches the day can have a grade on it: an
--    index on the period's end finds those.
ALTER TABLE case_summary ADD COLUMN grade_periods jsonb;
CREATE INDEX case_summary_end ON case_summary (sick_period_end);

-- Consent validity (365-day cap, withdrawal, supersession, schema-1 upcasting) and which
-- certificates count (replacement, revocation) are the domain's rules, so consent_windows,
-- consent_until and grade_periods are filled by the projection rather than re-derived here: the
-- case_summary checkpoint goes back to the start, and the projector re-reads the record once,
-- rewriting every row from its stored state (events already folded are skipped, nothing is
-- lost, the list stays readable meanwhile). `sjukfall projections rebuild` does it at once.
UPDATE checkpoints SET position = 0, updated_at = now() WHERE name = 'case_summary';
