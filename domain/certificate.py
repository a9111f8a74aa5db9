"""The medical certificate (läkarintyg FK7804 / AG7804) as a validated value.

Rules checked here, on the certificate alone: grades 25, 50, 75 or 100 percent (work capacity
must be reduced by at least 25 %); each period ends on or after it starts; periods do not
overlap; at least one diagnosis and one period; a motivation when the sick leave starts more
than 7 days before the certificate is issued (FK7804); prognosis days only with
ATER_X_ANTAL_DGR. Rules that need the case (merge gap, relations) live in the decider.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from .bounds import LIST_MAX, SHORT_MAX, TEXT_MAX
from .calendar import DateRange, local_date
from .icd import IcdCode, chapter

GRADES = (25, 50, 75, 100)
MOTIVATION_DAYS = 7

Relation = Literal["FRLANG", "KOMPLT", "ERSATT"]
Occupation = Literal["NUVARANDE_ARBETE", "ARBETSSOKANDE", "FORALDRALEDIG", "STUDIER"]
PrognosisKind = Literal["STOR_SANNOLIKHET", "SANNOLIKT_INTE", "PROGNOS_OKLAR", "ATER_X_ANTAL_DGR"]
WorkMeasure = Literal[
    "ARBETSTRANING",
    "ARBETSANPASSNING",
    "SOKA_NYTT_ARBETE",
    "BESOK_ARBETSPLATS",
    "ERGONOMISK",
    "HJALPMEDEL",
    "KONFLIKTHANTERING",
    "KONTAKT_FHV",
    "OMFORDELNING",
    "OVRIGA_ATGARDER",
]

_CURRENT_JOB: tuple[Occupation, ...] = ("NUVARANDE_ARBETE",)


def _grade(value: int) -> int:
    if value not in GRADES:
        raise ValueError(f"grade {value} is not one of 25, 50, 75, 100")
    return value


Grade = Annotated[int, AfterValidator(_grade)]


class Value(BaseModel):
    """Immutable value object: unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=TEXT_MAX)


class SickLeavePeriod(Value):
    """One stretch of sick leave at one grade, both dates inclusive."""

    grade: Grade
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> SickLeavePeriod:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")
        return self

    @property
    def range(self) -> DateRange:
        return (self.start, self.end)


class Diagnosis(Value):
    code: IcdCode
    description: str | None = None

    @property
    def chapter(self) -> str:
        return chapter(self.code)


class CertificateRelation(Value):
    """Extension (FRLANG), completion (KOMPLT) or replacement (ERSATT) of an earlier certificate."""

    kind: Relation
    certificate_id: str = Field(min_length=1, max_length=SHORT_MAX)


class Prognosis(Value):
    kind: PrognosisKind
    days: Literal[30, 60, 90, 180, 365] | None = None

    @model_validator(mode="after")
    def _days_only_with_ater(self) -> Prognosis:
        if (self.kind == "ATER_X_ANTAL_DGR") != (self.days is not None):
            raise ValueError("prognosis days are given with ATER_X_ANTAL_DGR and only then")
        return self


class Certificate(Value):
    """A sick-leave certificate; the first diagnosis is the main one."""

    certificate_id: str = Field(min_length=1, max_length=SHORT_MAX)
    issued_at: AwareDatetime
    issued_by: str = Field(min_length=1, max_length=SHORT_MAX)
    relation: CertificateRelation | None = None
    diagnoses: list[Diagnosis] = Field(min_length=1, max_length=LIST_MAX)
    function_impairment: str = ""
    activity_limitation: str = ""
    periods: list[SickLeavePeriod] = Field(min_length=1, max_length=LIST_MAX)
    occupations: list[Occupation] = Field(default_factory=lambda: list(_CURRENT_JOB),
                                          min_length=1, max_length=LIST_MAX)
    prognosis: Prognosis | None = None
    work_measures: list[WorkMeasure] = Field(default_factory=list, max_length=LIST_MAX)
    contact_with_fk_desired: bool = False
    diagnosis_to_employer: bool = False
    motivation_early_start: str | None = None

    @model_validator(mode="after")
    def _periods_and_motivation(self) -> Certificate:
        ordered = sorted(self.periods, key=lambda p: p.start)
        for before, after in pairwise(ordered):
            if after.start <= before.end:
                raise ValueError(
                    f"the periods {before.start}..{before.end} and {after.start}..{after.end} "
                    "overlap"
                )
        issued = local_date(self.issued_at)
        if (
            self.first_day < issued - timedelta(days=MOTIVATION_DAYS)
            and not (self.motivation_early_start or "").strip()
        ):
            raise ValueError(
                f"the sick leave starts {self.first_day}, more than {MOTIVATION_DAYS} days before "
                f"the certificate was issued ({issued}); give a motivation"
            )
        return self

    @property
    def first_day(self) -> date:
        return min(p.start for p in self.periods)

    @property
    def last_day(self) -> date:
        return max(p.end for p in self.periods)

    @property
    def main_diagnosis(self) -> Diagnosis:
        return self.diagnoses[0]

    def grade_on(self, on: date) -> int | None:
        """The grade on a date, or None if no period covers it."""
        return next((p.grade for p in self.periods if p.start <= on <= p.end), None)

    def expected_end(self) -> date | None:
        """The last day of expected absence from periods and prognosis, None if open-ended.

        Chosen rule: ATER_X_ANTAL_DGR adds X days after the last period; SANNOLIKT_INTE (no
        return expected) is open-ended; otherwise absence ends with the last period.
        """
        if self.prognosis is None:
            return self.last_day
        if self.prognosis.kind == "SANNOLIKT_INTE":
            return None
        return self.last_day + timedelta(days=self.prognosis.days or 0)
