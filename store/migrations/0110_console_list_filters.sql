-- The case list's two new filters (the console's sjukfallslista, issue #19).
--
-- 1. Physician: the cases where a physician issued a certificate, found through the
--    certificates in the event record (the summary does not record the physician). A small
--    expression index over those events, like events_case_opened_patient (0092); the list
--    looks the few cases up by primary key.
CREATE INDEX events_certificate_issuer ON events ((data->'certificate'->>'issued_by'), stream_id)
    WHERE type = 'CertificateRecorded';

-- 2. Coordination status, in list order: one status, or none set yet (most cases).
CREATE INDEX case_summary_coordination ON case_summary (coordination_status, sick_period_start);
CREATE INDEX case_summary_no_coordination ON case_summary (sick_period_start)
    WHERE coordination_status IS NULL;
