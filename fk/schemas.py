"""The messages exchanged with Försäkringskassan, shaped after the national contracts.

Inera's services name them: RegisterCertificate (the certificate FK7804 to FK),
SendMessageToCare (FK -> care, ärendekommunikation), SendMessageToRecipient (care -> FK),
RevokeCertificate (care revoked a certificate FK has), each
answered with a result (ResultType: resultCode OK / INFO / ERROR, and for ERROR an ErrorIdType:
VALIDATION_ERROR, REVOKED, APPLICATION_ERROR, TECHNICAL_ERROR). The JSON transport sends them
as JSON with snake_case names; the RIV-TA transport maps the same models to the contracts' XML
(fk/rivta/mapping.py).

The domain's types are the contract's types: a certificate is the domain `Certificate` plus the
patient and care unit it is for, a message is the domain `FkMessage`. So the rules the domain
checks on a value (grades, periods, ICD-10-SE codes, identity numbers) hold on the wire too, and
`SendMessageToCare.to_domain()` is the one conversion inbound.

How a receiver reads a result: OK and INFO mean accepted (INFO: "already had it", the answer to
a repeated id); ERROR with VALIDATION_ERROR or REVOKED will never be accepted, so it is not
retried; APPLICATION_ERROR is refused for the state of things (e.g. the case is closed);
TECHNICAL_ERROR means try again later.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.certificate import Certificate
from domain.fk import FkMessage
from domain.identity import Pnr
from domain.state import CaseState

ResultCode = Literal["OK", "INFO", "ERROR"]
ErrorId = Literal["VALIDATION_ERROR", "REVOKED", "APPLICATION_ERROR", "TECHNICAL_ERROR"]

#: Errors no retry can fix: the sender must change the message.
PERMANENT_ERRORS: frozenset[str] = frozenset({"VALIDATION_ERROR", "REVOKED"})

#: The logical address of FK as a recipient (mottagare) in the national services.
FK_RECIPIENT: Literal["FKASSA"] = "FKASSA"


class Result(BaseModel):
    """The contract's answer to every request (Inera's ResultType)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    result_code: ResultCode
    error_id: ErrorId | None = None
    result_text: str = ""

    @classmethod
    def ok(cls, text: str = "") -> Result:
        return cls(result_code="OK", result_text=text)

    @classmethod
    def info(cls, text: str) -> Result:
        return cls(result_code="INFO", result_text=text)

    @classmethod
    def error(cls, error_id: ErrorId, text: str) -> Result:
        return cls(result_code="ERROR", error_id=error_id, result_text=text)

    @property
    def accepted(self) -> bool:
        return self.result_code in ("OK", "INFO")


class Receipt(BaseModel):
    """FK's acknowledgement of a certificate or a message: the same receipt for a repeated id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    receipt_id: str = Field(min_length=1)
    received_at: AwareDatetime
    result: Result


class RegisterCertificate(Certificate):
    """The certificate FK7804 (läkarintyg för sjukpenning) as sent to FK.

    Every FK7804 field DOMAIN.md lists is the domain certificate's (id, issued at/by, relation,
    diagnoses, function impairment, activity limitation, periods with grade, occupations,
    prognosis, work measures, contact with FK desired), with the patient identity and the care
    unit added. `diagnosis_to_employer` belongs to AG7804 and is not sent.
    """

    certificate_type: Literal["FK7804"] = "FK7804"
    patient_id: Pnr
    care_unit_id: str = Field(min_length=1)
    diagnosis_to_employer: bool = Field(default=False, exclude=True)

    @classmethod
    def from_case(cls, state: CaseState, certificate_id: str) -> RegisterCertificate:
        """The certificate as recorded in the case, addressed to FK (KeyError if unknown)."""
        certificate = state.certificates[certificate_id].certificate
        assert state.patient_id is not None and state.unit_id is not None, "case not opened"
        return cls(
            **certificate.model_dump(exclude={"diagnosis_to_employer"}),
            patient_id=state.patient_id,
            care_unit_id=state.unit_id,
        )


class SendMessageToCare(FkMessage):
    """A message from FK to care (meddelande till vården): a question, reminder or answer.

    Fields: message_id (meddelandeId), reference_id, sent_at, certificate_id, patient_id,
    topic (KOMPLT / AVSTMN / KONTKT / OVRIGT / PAMINN), heading, text, reminder_of,
    answer_to {message_id, reference_id}, sender, contact_info,
    completion_items [{question_id, instance, text}], last_answer_date. The rules that need the
    case (certificate known and not revoked, identity matches, references exist) are the
    domain's (`domain.fk.check_message`), checked when the case records it.
    """

    def to_domain(self) -> FkMessage:
        return FkMessage.model_validate(self.model_dump())


class SendMessageToRecipient(FkMessage):
    """A message from care to FK (meddelande till mottagare): a question or an answer.

    `sender` is the care unit; `sent_by` the care professional who wrote it (HoS-personal,
    the id the command was recorded by), when known."""

    recipient: Literal["FKASSA"] = FK_RECIPIENT
    sent_by: str | None = None

    @classmethod
    def from_domain(cls, message: FkMessage, sent_by: str | None = None) -> SendMessageToRecipient:
        return cls.model_validate({**message.model_dump(), "sent_by": sent_by})


class RevokeCertificate(BaseModel):
    """Care revoked (makulerade) a certificate FK already has: FK must stop relying on it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    certificate_id: str = Field(min_length=1)
    patient_id: Pnr
    care_unit_id: str = Field(min_length=1)
    revoked_by: str = Field(min_length=1)
    revoked_at: AwareDatetime
    reason: str = ""
