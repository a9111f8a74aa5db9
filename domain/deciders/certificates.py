"""Certificates: recording (merge gap, relations, replacement, reopening), revoking, sending to FK.

Each subdomain has `decide(command, state, out)` for its commands and `evolve(state, event)`
for its events (in place); `domain/decider.py` combines them.
"""

from __future__ import annotations

from typing import assert_never

from ..bounds import same
from ..calendar import (
    merge_ranges,
)
from ..certificate import Certificate
from ..commands import (
    RecordCertificate,
    RevokeCertificate,
    SendCertificateToFk,
)
from ..emitter import Emitter
from ..errors import DomainError
from ..events import (
    CaseReopened,
    CertificateRecorded,
    CertificateRevoked,
    FkMessageClosed,
)
from ..state import (
    CaseState,
    CertificateRecord,
)
from .common import require_consent, unflag

CertificatesCommand = RecordCertificate | RevokeCertificate | SendCertificateToFk
CertificatesEvent = CertificateRecorded | CertificateRevoked


def decide(c: CertificatesCommand, state: CaseState, out: Emitter) -> None:
    match c:
        case RecordCertificate():
            _record_certificate(c, state, out)
        case RevokeCertificate():
            _revoke_certificate(c, state, out)
        case SendCertificateToFk():
            _send_certificate(c, state, out)
        case _:
            assert_never(c)


def _record_certificate(c: RecordCertificate, state: CaseState, out: Emitter) -> None:
    record_certificate_events(c.certificate, state, out)


def _revoke_certificate(c: RevokeCertificate, state: CaseState, out: Emitter) -> None:
    record = state.certificates.get(c.certificate_id)
    if record is None:
        raise DomainError(
            "certificate_id",
            "certificate_unknown",
            f"certificate {c.certificate_id} is not in this case",
        )
    if not record.revoked:
        restores = None
        if out.rules.replacements and record.replaces is not None and record.counts:
            restores = record.replaces  # Intygstjänsten: the replaced certificate counts again
        out.add(
            CertificateRevoked(
                **out.envelope(),
                certificate_id=c.certificate_id,
                reason=c.reason,
                restores=restores,
            )
        )
        if out.rules.revoke_at_fk and c.certificate_id in state.certificates_sent_to_fk:
            revocation_to_fk(c.certificate_id, out)


def revocation_to_fk(certificate_id: str, out: Emitter) -> None:
    """FK has the certificate and must stop relying on it (RevokeCertificate)."""
    out.notify(
        "fk", "share_information", "certificate_revoked_to_fk", certificate_id=certificate_id
    )


def _send_certificate(c: SendCertificateToFk, state: CaseState, out: Emitter) -> None:
    record = state.certificates.get(c.certificate_id)
    if record is None:
        raise DomainError(
            "certificate_id",
            "certificate_unknown",
            f"certificate {c.certificate_id} is not in this case",
        )
    if not record.counts:
        raise DomainError(
            "certificate_id",
            "certificate_revoked",
            f"certificate {c.certificate_id} is revoked or replaced; it cannot go to FK",
        )
    if state.certificate_to_fk_requested(c.certificate_id):
        return
    require_consent(state, "fk", "share_information", out, "certificate_id")
    out.notify("fk", "share_information", "certificate_to_fk", certificate_id=c.certificate_id)


def record_certificate_events(cert: Certificate, state: CaseState, out: Emitter) -> None:
    existing = state.certificates.get(cert.certificate_id)
    if existing is not None:
        if same(existing.certificate, cert):
            return
        raise DomainError(
            "certificate.certificate_id",
            "certificate_duplicate",
            f"another certificate with id {cert.certificate_id} is already recorded",
        )
    if cert.first_day < state.start:
        raise DomainError(
            "certificate.periods",
            "certificate_before_sick_period",
            f"the sick leave starts {cert.first_day}, before day 1 of this sick "
            f"period ({state.start}); correct the start of the sick period first",
        )
    replaced = None
    if cert.relation is not None:
        if cert.relation.certificate_id not in state.certificates:
            raise DomainError(
                "certificate.relation.certificate_id",
                "relation_unknown_certificate",
                f"certificate {cert.relation.certificate_id} is not in this case",
            )
        if cert.relation.kind == "ERSATT" or (
            cert.relation.kind == "KOMPLT" and out.rules.replacements
        ):
            replaced = cert.relation.certificate_id
    others = [
        p.range
        for cid, r in state.certificates.items()
        if r.counts and cid != replaced
        for p in r.certificate.periods
    ]
    if len(merge_ranges(others + [p.range for p in cert.periods], state.merge_gap_days)) > 1:
        raise DomainError(
            "certificate.periods",
            "new_sick_period",
            f"the certificate lies more than {state.merge_gap_days} days from the "
            "other certificates, so it starts a new sick period: open a new case",
        )
    if state.is_closed:
        out.add(
            CaseReopened(
                **out.envelope(),
                certificate_id=cert.certificate_id,
                reason="a certificate merges with the sick period",
            )
        )
    out.add(CertificateRecorded(**out.envelope(), certificate=cert, replaces=replaced))
    if cert.relation is not None and cert.relation.kind == "KOMPLT":
        completed = cert.relation.certificate_id
        for record in state.fk_awaiting_care():
            if record.message.topic == "KOMPLT" and (
                not out.rules.replacements or record.message.certificate_id == completed
            ):
                out.add(
                    FkMessageClosed(
                        **out.envelope(),
                        message_id=record.message.message_id,
                        certificate_id=cert.certificate_id,
                    )
                )
        out.notify(
            "fk", "share_information", "certificate_to_fk", certificate_id=cert.certificate_id
        )


def evolve(s: CaseState, e: CertificatesEvent) -> None:
    at = e.occurred_at
    match e:
        case CertificateRecorded():
            cert = e.certificate
            replaces = e.replaces
            if replaces is None and cert.relation and cert.relation.kind == "ERSATT":
                replaces = cert.relation.certificate_id  # records made before `replaces`
            s.certificates[cert.certificate_id] = CertificateRecord(
                certificate=cert, recorded_at=at, replaces=replaces
            )
            if replaces is not None and (replaced := s.certificates.get(replaces)) is not None:
                replaced.replaced_by = cert.certificate_id
            if s.covers(s.day(8)):
                unflag(s, "no_certificate_for_day_8")
        case CertificateRevoked():
            if (record := s.certificates.get(e.certificate_id)) is not None:
                record.revoked, record.revoked_at = True, at
            if e.restores is not None and (restored := s.certificates.get(e.restores)):
                restored.replaced_by = None
        case _:
            assert_never(e)
