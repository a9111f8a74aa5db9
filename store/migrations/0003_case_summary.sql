-- case_summary: one row per case, written by store.projections.CaseSummaryProjection from the
-- domain's CaseSummary (columns) and CaseState (state, the folded state the next batch starts
-- from). Rebuilt from the event record by `sjukfall projections rebuild`.
CREATE TABLE case_summary (
    case_id              text        NOT NULL PRIMARY KEY,
    version              integer     NOT NULL,
    phase                text        NOT NULL,
    unit_id              text,
    sex                  text,
    age_band             text,
    birth_year           integer,
    sick_period_start    date,
    sick_period_end      date,
    days                 integer     NOT NULL DEFAULT 0,
    current_grade        integer,
    diagnosis_code       text,
    diagnosis_chapter    text,
    next_milestone_day   integer,
    next_milestone_at    timestamptz,
    follow_up_due        date,
    fk_answer_due        date,
    overdue              text[]      NOT NULL DEFAULT '{}',
    unanswered_fk        integer     NOT NULL DEFAULT 0,
    consents             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    coordination_status  text,
    in_coordinator_queue boolean     NOT NULL DEFAULT false,
    protected_identity   boolean     NOT NULL DEFAULT false,
    opened_at            timestamptz,
    closed_at            timestamptz,
    closed_reason        text,
    state                jsonb       NOT NULL
);

-- The case list filters (GET /cases) and sorts; open cases are what coordinators look at.
CREATE INDEX case_summary_unit_start ON case_summary (unit_id, sick_period_start);
CREATE INDEX case_summary_phase_start ON case_summary (phase, sick_period_start);
CREATE INDEX case_summary_start ON case_summary (sick_period_start);
CREATE INDEX case_summary_days ON case_summary (days);
CREATE INDEX case_summary_chapter ON case_summary (diagnosis_chapter);
CREATE INDEX case_summary_next_milestone ON case_summary (next_milestone_at)
    WHERE next_milestone_at IS NOT NULL;
CREATE INDEX case_summary_follow_up_due ON case_summary (follow_up_due)
    WHERE follow_up_due IS NOT NULL;
CREATE INDEX case_summary_fk_answer_due ON case_summary (fk_answer_due)
    WHERE fk_answer_due IS NOT NULL;
CREATE INDEX case_summary_attention ON case_summary (sick_period_start)
    WHERE unanswered_fk > 0 OR cardinality(overdue) > 0;
