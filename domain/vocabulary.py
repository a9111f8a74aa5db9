"""Closed word lists shared by commands, events and state."""

from __future__ import annotations

from typing import Literal

Role = Literal["physician", "coordinator", "ops", "system", "fk_gateway", "patient"]
Phase = Literal["assessment", "plan", "follow_up", "closed"]

CloseReason = Literal[
    "return_to_work_full",
    "return_to_work_partial",
    "moved_to_other_care_provider",
    "sickness_compensation",
    "deceased",
    "opened_in_error",
    "sick_period_ended",
]

#: Coordination status per case as in Rehabstöd.
CoordinationStatus = Literal[
    "none",
    "contacted",
    "active",
    "follow_up",
    "finished",
    "declined",
    "left_without_action",
    "medical_rehab",
]

#: A coordination measure (koordineringsinsats, KVÅ GC001) and whom it involves.
CoordinationKind = Literal[
    "internal",
    "contact_employer",
    "contact_fk",
    "contact_af",
    "contact_social_services",
    "contact_occupational_health",
]

NotificationOutcome = Literal["sent", "failed", "suppressed"]

#: What a notification is about; templates are chosen by kind, never by free text.
NotificationKind = Literal[
    "certificate_required_day_8",
    "employer_report_to_fk_by_day_21",
    "apply_for_sickness_benefit",
    "certificate_to_fk",
    "certificate_revoked_to_fk",
    "employer_return_plan_due",
    "offer_coordination",
    "multimodal_team_referral",
    "plan_follow_up_missing",
    "rehab_chain_day_91",
    "rehab_chain_day_181",
    "rehab_chain_day_366",
    "consider_af",
    "coordinate_with_fk",
    "reassess_day_366",
    "plan_follow_up_due",
    "fk_answer_due_soon",
    "fk_answer_overdue",
    "fk_message",
    "fk_reminder_received",
    "consent_lapsing",
]
