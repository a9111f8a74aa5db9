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

-- 2. Consents (domain.summary.list_filter_columns): consent_windows, for each recipient and
--    purpose the latest consent's validity {"employer": {"contact": [given_at, ends_at]}}, from
--    which the page shows the consents held at the instant of reading; consent_ends, when they
--    end as Unix seconds {"employer:contact": e, "employer": latest e of its purposes}, which
--    the consent filters compare with that instant (one number per row: the filters must
--    stay cheap over every case); consent_until, the last end, an index for "held".
--    NULL consent_windows: the row is not rewritten yet (see below); the page's values are
--    then read from the stored state as before, and the filters see no consent.
ALTER TABLE case_summary ADD COLUMN consent_windows jsonb, ADD COLUMN consent_ends jsonb,
    ADD COLUMN consent_until timestamptz;
CREATE INDEX case_summary_consent_until ON case_summary (consent_until)
    WHERE consent_until IS NOT NULL;

-- 3. grade_25 .. grade_100: the days each grade covers among the counting certificates'
--    periods (as case_measure_facts has them). The list shows, and filters on, the grade on the
--    day of reading, the highest covering it (revised rules), not the stored current_grade (the
--    grade on the period's last day). Only a case whose period reaches that day can have a
--    grade on it: an index on the period's end finds those.
ALTER TABLE case_summary ADD COLUMN grade_25 datemultirange, ADD COLUMN grade_50 datemultirange,
    ADD COLUMN grade_75 datemultirange, ADD COLUMN grade_100 datemultirange;
CREATE INDEX case_summary_end ON case_summary (sick_period_end);

-- Consent validity (365-day cap, withdrawal, supersession, schema-1 upcasting) and which
-- certificates count (replacement, revocation) are the domain's rules, so these columns are
-- filled by the projection rather than re-derived here: the
-- case_summary checkpoint goes back to the start, and the projector re-reads the record once,
-- rewriting every row from its stored state (events already folded are skipped, nothing is
-- lost, the list stays readable meanwhile). `sjukfall projections rebuild` does it at once.
UPDATE checkpoints SET position = 0, updated_at = now() WHERE name = 'case_summary';
