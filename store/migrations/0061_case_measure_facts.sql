-- Follow-up measures as SQL aggregates (store.queries.period_measures).
--
-- case_measure_facts: what domain.measures.compute_measures needs of a case
-- (domain.measures.CaseFacts), as of a day. A case has one row per Stockholm day on which
-- those facts changed: the row with as_of <= T < until (until NULL: still current) is the
-- case as folded from its events up to the end of day T, which is what compute_measures
-- folds for a period ending on T. Written by store.projections.CaseMeasureFactsProjection.
--
-- Ranges are inclusive dates stored as datemultirange (canonical [a, b+1)). counted = false:
-- as of that day the case is left out (closed as opened in error).
CREATE TABLE case_measure_facts (
    case_id          text    NOT NULL,
    as_of            date    NOT NULL,
    until            date,
    counted          boolean NOT NULL,
    unit_id          text,
    sex              text,
    chapter          text,
    start_day        date,
    end_day          date,
    covered          datemultirange NOT NULL DEFAULT '{}',
    covered_days     integer NOT NULL DEFAULT 0,
    covered_last     date,
    grade_25         datemultirange NOT NULL DEFAULT '{}',
    grade_50         datemultirange NOT NULL DEFAULT '{}',
    grade_75         datemultirange NOT NULL DEFAULT '{}',
    grade_100        datemultirange NOT NULL DEFAULT '{}',
    day_30           date,
    long_absence     boolean NOT NULL DEFAULT false,
    employer_plan_30 boolean NOT NULL DEFAULT false,
    has_plan         boolean NOT NULL DEFAULT false,
    followed_up      boolean NOT NULL DEFAULT false,
    coordination     boolean NOT NULL DEFAULT false,
    referred         boolean NOT NULL DEFAULT false,
    komplt           integer NOT NULL DEFAULT 0,
    certificates     integer NOT NULL DEFAULT 0,
    answer_days      integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (case_id, as_of)
);
-- Rows valid at a period's end: the current ones and those superseded after it.
CREATE INDEX case_measure_facts_until ON case_measure_facts (until) WHERE until IS NOT NULL;

-- The projection's own folded states (it has its own checkpoint, so it cannot share
-- case_state): mark is the latest Stockholm day of the case's events so far, snap_as_of and
-- snap_digest identify the case's latest case_measure_facts row.
CREATE TABLE case_measure_state (
    case_id     text    NOT NULL PRIMARY KEY,
    version     integer NOT NULL,
    mark        date,
    snap_as_of  date,
    snap_digest bytea,
    state       bytea   NOT NULL
);
