-- List filters whose plans went wrong at 100,000 cases once the bench read the seeded year
-- at today (issue #19, bench/queries.py; BENCHMARKS.md "Every list filter through GET /cases").

-- Grade on the day of reading (`grade_NN @> day`): a GiST index per grade finds the cases on
-- that grade today directly (0130 read every case reaching the day, then each multirange).
-- The grade at projection time (current_grade) is no longer filtered on.
CREATE INDEX case_summary_grade_25 ON case_summary USING gist (grade_25);
CREATE INDEX case_summary_grade_50 ON case_summary USING gist (grade_50);
CREATE INDEX case_summary_grade_75 ON case_summary USING gist (grade_75);
CREATE INDEX case_summary_grade_100 ON case_summary USING gist (grade_100);
DROP INDEX case_summary_grade_start;

-- "Not overdue": statistics on the flag count and on "no due date", so the planner knows
-- most cases are not overdue (without them it expected 0.3 % and sorted the whole table).
CREATE STATISTICS case_summary_overdue_stats (mcv)
    ON (cardinality(overdue)), (least(follow_up_due, fk_answer_due) IS NULL) FROM case_summary;

-- The coordinator's view: a unit's cases in order of their next milestone, read in index
-- order instead of sorting all of the unit's cases for one page.
CREATE INDEX case_summary_unit_next ON case_summary (unit_id, next_milestone_at, case_id);

-- Consent held / not held at the moment of reading, and the text search: the start order
-- with what those filters read, so the page walks the index alone (an index-only scan) and
-- reads the rows of the 50 cases it keeps, not of the thousands it passes over (for consent
-- held, ~15,000 old cases whose consents have ended).
CREATE INDEX case_summary_start_covering ON case_summary (sick_period_start, case_id)
    INCLUDE (unit_id, diagnosis_code, consent_until, consent_ends);

ANALYZE case_summary;
