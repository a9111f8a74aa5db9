-- Follow-up measures by sex and unit, KVÅ counts (issue #14, "Follow-up measures").
--
-- case_measure_facts.has_employer: false for a job seeker (the latest counting certificate
-- gives ARBETSSOKANDE and no current job); the employer-plan group leaves such patients out.
-- The facts' rules changed too (">30 days" in calendar days is computed from `covered` and
-- `day_30` at query time; GC001 per coordination occasion), so the projection starts over:
-- its rows and states go and its checkpoint is reset, and the next catch-up (the projection
-- runner, or the first GET /measures) rebuilds it from the event record.
ALTER TABLE case_measure_facts ADD COLUMN has_employer boolean NOT NULL DEFAULT true;
TRUNCATE case_measure_facts, case_measure_state;
DELETE FROM checkpoints WHERE name = 'case_measure_facts';

-- KVÅ counts (store.queries.period_kva_counts) read the registering events by type.
CREATE INDEX events_kva ON events (type)
    WHERE type IN ('PlanEstablished', 'PlanFollowedUp', 'CoordinationPerformed',
                   'MappingConversationHeld', 'MultimodalTeamMeetingHeld',
                   'ReconciliationMeetingHeld', 'JointIndividualPlanRecorded');
