-- Case list at 100,000 cases (bench/queries.py): the filters that still missed 50 ms p99.
--
-- 1. The folded CaseState moves out of case_summary into case_state (one row per case, written
--    by the same projection in the same transaction). With it in the row case_summary was
--    ~105 MB for 100,000 cases; without it ~22 MB, and every count or scan of the list reads
--    a fifth of the pages. CLUSTER rewrites the table so the dropped column's space is freed.
CREATE TABLE case_state (
    case_id text  NOT NULL PRIMARY KEY,
    state   bytea NOT NULL
);
INSERT INTO case_state (case_id, state) SELECT case_id, state FROM case_summary;
ALTER TABLE case_summary DROP COLUMN state;
CLUSTER case_summary USING case_summary_pkey;

-- 2. overdue: store.queries writes it as
--    least(follow_up_due, fk_answer_due) < today OR cardinality(overdue) > 0
--    (LEAST skips NULLs), which these two indexes answer as a BitmapOr.
CREATE INDEX case_summary_due ON case_summary ((least(follow_up_due, fk_answer_due)));
CREATE INDEX case_summary_flagged ON case_summary (sick_period_start)
    WHERE cardinality(overdue) > 0;

-- 3. unanswered_fk > 0 alone cannot use case_summary_attention (an OR of two conditions).
CREATE INDEX case_summary_unanswered_fk ON case_summary (sick_period_start)
    WHERE unanswered_fk > 0;

-- 4. The coordinator's view (units, phases, a minimum length): an index-only count.
CREATE INDEX case_summary_unit_phase_days ON case_summary (unit_id, phase, days);

-- 5. Text search (ILIKE '%...%' on case id, unit, diagnosis code): trigram indexes, used for
--    patterns of three characters or more.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX case_summary_case_id_trgm ON case_summary USING gin (case_id gin_trgm_ops);
CREATE INDEX case_summary_unit_id_trgm ON case_summary USING gin (unit_id gin_trgm_ops);
CREATE INDEX case_summary_diagnosis_code_trgm ON case_summary
    USING gin (diagnosis_code gin_trgm_ops);
