-- Indexes for case-list filters that had none (bench/queries.py at 100,000 cases: grade, sex,
-- age band and the coordinator's queue were sequential scans of the wide case_summary rows,
-- p99 53-67 ms against the 50 ms target). Each index carries sick_period_start, the default
-- sort, so a page is an index walk and the total count an index-only scan.
CREATE INDEX case_summary_grade_start ON case_summary (current_grade, sick_period_start);
CREATE INDEX case_summary_sex_start ON case_summary (sex, sick_period_start);
CREATE INDEX case_summary_age_band_start ON case_summary (age_band, sick_period_start);
CREATE INDEX case_summary_coordinator_queue ON case_summary (sick_period_start)
    WHERE in_coordinator_queue;
