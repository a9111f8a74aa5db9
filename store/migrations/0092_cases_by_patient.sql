-- Finding a patient's cases by identity number (issue #15): `GET /cases?patient_id=`,
-- `GET /patients/{id}/access-log`, `sjukfall case find`. The number is recorded once per case,
-- in its CaseOpened event (12 digits, normalised); a small expression index over those events.
-- (A shared index by patient for the rehabilitation-chain rule may replace it: issue #14.)
CREATE INDEX events_case_opened_patient ON events ((data->>'patient_id'))
    WHERE type = 'CaseOpened';
