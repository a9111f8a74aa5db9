-- Follow-up measures by sex and unit, KVÅ counts (issue #14, "Follow-up measures").
--
-- case_measure_facts.has_employer: false for a job seeker (the latest counting certificate
-- gives ARBETSSOKANDE and no current job); the employer-plan group leaves such patients out.
ALTER TABLE case_measure_facts ADD COLUMN has_employer boolean NOT NULL DEFAULT true;

-- kva_registrations: one row per KVÅ registration (domain.measures.kva_registrations), with
-- the case's unit and the patient's sex, for the counts per period (store.kva). Written by
-- the measures projection (store.projections.CaseMeasureFactsProjection); counted = false
-- once the case is closed as opened in error.
CREATE TABLE kva_registrations (
    event_id     text    NOT NULL PRIMARY KEY,
    case_id      text    NOT NULL,
    code         text    NOT NULL,
    performed_on date    NOT NULL,
    unit_id      text,
    sex          text,
    counted      boolean NOT NULL DEFAULT true
);
CREATE INDEX kva_registrations_day ON kva_registrations (performed_on)
    INCLUDE (code, unit_id, sex) WHERE counted;
CREATE INDEX kva_registrations_case ON kva_registrations (case_id);

-- The facts' rules changed too (">30 days" in calendar days is computed from `covered` and
-- `day_30` at query time; GC001 per coordination occasion), and kva_registrations starts
-- empty, so the projection starts over: its rows and states go and its checkpoint is reset;
-- the next catch-up (the projection runner, or the first GET /measures) rebuilds it from the
-- event record.
TRUNCATE case_measure_facts, case_measure_state;
DELETE FROM checkpoints WHERE name = 'case_measure_facts';
