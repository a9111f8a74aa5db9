"""The sick-leave and rehabilitation plan (sjukskrivnings- och rehabiliteringsplan).

Its eight elements (Socialstyrelsen): medical and insurance-medical assessment; goals and
sub-goals; ongoing and planned measures (what, by whom, when; self-care included); grade and
length of sick leave; coordination measures if needed; suitable work adjustments; plan for
return to work and tapering; plan for follow-up with a date. Coordination measures and work
adjustments may be left empty ("if needed", "suitable"); the others are required.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field, field_validator

from .bounds import LIST_MAX
from .certificate import Value


class PlannedMeasure(Value):
    what: str = Field(min_length=1)
    by_whom: str = Field(min_length=1)
    when: date | None = None
    self_care: bool = False


class Plan(Value):
    assessment: str
    goals: list[str] = Field(min_length=1, max_length=LIST_MAX)
    measures: list[PlannedMeasure] = Field(default_factory=list, max_length=LIST_MAX)
    sick_leave: str
    coordination_measures: str = ""
    work_adjustments: str = ""
    return_to_work: str
    follow_up_date: date

    @field_validator("assessment", "sick_leave", "return_to_work")
    @classmethod
    def _required_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("this element of the plan is required and may not be empty")
        return value

    @field_validator("goals")
    @classmethod
    def _goals_not_blank(cls, goals: list[str]) -> list[str]:
        if any(not goal.strip() for goal in goals):
            raise ValueError("a goal may not be empty")
        return goals
