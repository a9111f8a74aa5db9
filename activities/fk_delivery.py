"""Delivering a case's notification to Försäkringskassan through the FK port.

`FkDeliverer` is the `fk_port` channel of the routing table (activities/delivery.py): called by
`CaseActivities.deliver_notification` once the consent check at the moment of sending has
passed. These kinds go through the port:
- `certificate_to_fk`: the certificate (FK7804) named in the parameters, as recorded in the
  case, goes to FK as RegisterCertificate (day 14, a completion certificate, or the physician's
  request). A certificate revoked or replaced since the request is not sent: suppressed, with
  the reason, because FK must never get a certificate that no longer counts.
- `fk_message`: care's question or answer waiting in the case's outbox goes to FK as
  SendMessageToRecipient, sent by the care professional who wrote it (the notification's
  `recorded_by`); the workflow then records `FkMessageSent` with FK's receipt.
- `certificate_revoked_to_fk`: a certificate FK has was revoked (makulerat): RevokeCertificate,
  by whoever revoked it (the issuing physician when the system noticed the race: revoked while
  the certificate was on its way). The reason is not sent: it may hold health text.

No double sends: the certificate id / message id is the idempotency key, so when a worker dies
after FK accepted but before the outcome was recorded, the retried activity is acknowledged by
FK with the same receipt and FK stores it once. Transient failures raise a retryable error
(Temporal's retry policy keeps trying within the delivery window); FK's contract refusals raise
a non-retryable one, which the workflow records as a failed notification.
"""

from __future__ import annotations

from collections.abc import Awaitable

from temporalio.exceptions import ApplicationError

from activities.models import Delivery, DeliveryOutcome
from domain.events import NotificationRequested
from domain.state import CaseState
from fk.port import FkPort, FkRejected, FkUnavailable
from fk.schemas import Receipt, RegisterCertificate, RevokeCertificate, SendMessageToRecipient
from infra.logs import get_logger

log = get_logger(__name__)


class FkDeliverer:
    def __init__(self, port: FkPort) -> None:
        self.port = port

    async def deliver(self, delivery: Delivery, state: CaseState) -> DeliveryOutcome:
        """Send what the notification asks for to FK; `sent` with FK's receipt id, or
        `suppressed` and why."""
        return await _deliver_to_fk(self.port, state, delivery.notification)


async def _deliver_to_fk(
    port: FkPort, state: CaseState, note: NotificationRequested
) -> DeliveryOutcome:
    if note.kind == "certificate_to_fk":
        certificate_id = note.parameters.get("certificate_id", "")
        record = state.certificates.get(certificate_id)
        if record is None:
            raise ApplicationError(
                f"certificate {certificate_id} is not in the case",
                type="FkNothingToSend",
                non_retryable=True,
            )
        if not record.counts:
            return DeliveryOutcome(
                outcome="suppressed",
                reason=f"certificate {certificate_id} was revoked or replaced before it was sent",
            )
        receipt = await _call(
            port.register_certificate(RegisterCertificate.from_case(state, certificate_id))
        )
    elif note.kind == "fk_message":
        message_id = note.parameters.get("message_id", "")
        message = state.fk_outbox.get(message_id)
        if message is None:
            raise ApplicationError(
                f"message {message_id} is not in the case's outbox",
                type="FkNothingToSend",
                non_retryable=True,
            )
        receipt = await _call(
            port.send_message(SendMessageToRecipient.from_domain(message, note.recorded_by))
        )
    elif note.kind == "certificate_revoked_to_fk":
        certificate_id = note.parameters.get("certificate_id", "")
        record = state.certificates.get(certificate_id)
        if record is None or not record.revoked or record.revoked_at is None:
            raise ApplicationError(
                f"certificate {certificate_id} is not revoked in the case",
                type="FkNothingToSend",
                non_retryable=True,
            )
        assert state.patient_id is not None and state.unit_id is not None, "case not opened"
        by = note.recorded_by if note.recorded_by != "system" else record.certificate.issued_by
        revocation = RevokeCertificate(
            certificate_id=certificate_id,
            patient_id=state.patient_id,
            care_unit_id=state.unit_id,
            revoked_by=by,
            revoked_at=record.revoked_at,
        )
        receipt = await _call(port.revoke_certificate(revocation))
    else:
        raise ApplicationError(
            f"FK port does not carry notifications of kind {note.kind}",
            type="FkNothingToSend",
            non_retryable=True,
        )
    log.info(
        "fk_sent",
        case_id=state.case_id,
        notification_id=note.notification_id,
        kind=note.kind,
        receipt=receipt.receipt_id,
        result=receipt.result.result_code,
    )
    return DeliveryOutcome(outcome="sent", receipt=receipt.receipt_id)


async def _call(request: Awaitable[Receipt]) -> Receipt:
    try:
        return await request
    except FkRejected as err:
        raise ApplicationError(str(err), type="FkRejected", non_retryable=True) from None
    except FkUnavailable as err:
        raise ApplicationError(str(err), type="FkUnavailable") from None
