-- The case list's physician filter (the console's sjukfallslista, issue #19): the cases where a
-- physician issued a certificate, found through the certificates recorded in the event record.
-- A small expression index over those events, like events_case_opened_patient (0092).
CREATE INDEX events_certificate_issuer ON events ((data->'certificate'->>'issued_by'), stream_id)
    WHERE type = 'CertificateRecorded';
