"""Request bodies derived from the domain's commands, so each rule lives in one place.

A body is the command without `type` and `actor` (from the route and the token) and without
what the path carries (`case_id`, a certificate id). Rules that span fields (model validators)
run when the full command is built; their errors become 422s like any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from api.problems import Problem, validation_errors
from domain import commands as c
from domain.bounds import TEXT_MAX
from domain.plan import Plan


def body_model(command: type[BaseModel], name: str | None = None,
               drop: Iterable[str] = ("case_id",), **extra: Any) -> type[BaseModel]:
    left_out = {"type", "actor", *drop}
    fields: dict[str, Any] = {
        field: (info.annotation, info)
        for field, info in command.model_fields.items()
        if field not in left_out
    }
    fields.update(extra)
    model: type[BaseModel] = create_model(  # type: ignore[call-overload, unused-ignore]
        name or f"{command.__name__}Body",
        __config__=ConfigDict(extra="forbid", str_max_length=TEXT_MAX),
        __doc__=command.__doc__,
        **fields,
    )
    return model


def build(command: type[BaseModel], body: BaseModel, context: dict[str, Any] | None = None,
          **envelope: Any) -> Any:
    """The full domain command from a body and the envelope; invalid input becomes a 422."""
    data = body.model_dump(exclude={"action"})
    try:
        return command.model_validate({**data, **envelope}, context=context)
    except ValidationError as err:
        errors = validation_errors(list(err.errors()))
        raise Problem(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                      errors) from None


# The case id is optional (the server assigns one); the identity number is checked when the
# command is built, with today's date, so that 10-digit numbers get their century.
OpenCaseBody = body_model(
    c.OpenCase, drop=("rehab_chain",),  # looked up by the server, never taken from the client
    case_id=(str | None, Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")),
    patient_id=(str, Field(description="personnummer or samordningsnummer, 10 or 12 digits")),
    merge_gap_days=(int | None, Field(
        default=None, ge=0, le=90,
        description="days without a certificate that still keep one sick period; default: "
                    "the deployment's SJUKFALL_MERGE_GAP_DAYS (5 unless set)")),
)
RecordCertificateBody = body_model(c.RecordCertificate)
RevokeCertificateBody = body_model(c.RevokeCertificate, drop=("case_id", "certificate_id"))
CorrectStartBody = body_model(c.CorrectSickPeriodStart, drop=("rehab_chain",))
RecordFollowUpBody = body_model(c.RecordPlanFollowUp)
GiveConsentBody = body_model(c.GiveConsent)
CloseCaseBody = body_model(c.CloseCase)
EmployerReturnPlanBody = body_model(c.RecordEmployerReturnPlan)


class PlanBody(BaseModel):
    """Establish the plan the first time, revise it every later time (all versions are kept)."""

    model_config = ConfigDict(extra="forbid", str_max_length=TEXT_MAX)
    plan: Plan
    reason: str = ""


# Coordination: one endpoint; `action` says which of the coordinator's measures it is.
COORDINATION_ACTIONS: dict[str, type[BaseModel]] = {
    "offer": c.OfferCoordination,
    "perform": c.PerformCoordination,
    "set_status": c.SetCoordinationStatus,
    "refer_to_coordinator": c.ReferToCoordinator,
    "refer_to_multimodal_team": c.ReferToMultimodalTeam,
    "mapping_conversation": c.RecordMappingConversation,
    "multimodal_team_meeting": c.RecordMultimodalTeamMeeting,
    "reconciliation_meeting": c.RecordReconciliationMeeting,
    "joint_individual_plan": c.RecordJointIndividualPlan,
}
COORDINATION_BODIES = tuple(
    body_model(command, f"Coordination_{action}", action=(Literal[action], ...))
    for action, command in COORDINATION_ACTIONS.items()
)
COORDINATION_UNION = Union[COORDINATION_BODIES]  # type: ignore[valid-type]  # noqa: UP007
