"""The HTTP transport against the simulator, without a case: signatures both ways, receipts,
idempotency by id, and which failures are worth retrying."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.certificate import Certificate
from domain.fk import FkMessage
from fk.port import FkRejected, FkUnavailable, HttpTransport
from fk.schemas import RegisterCertificate, SendMessageToRecipient
from fk.simulator import Simulator

SECRET = "transport-test-secret"


def fk7804(cid: str = "t-1") -> RegisterCertificate:
    cert = Certificate.model_validate(
        {
            "certificate_id": cid,
            "issued_at": datetime(2024, 3, 4, 9, tzinfo=UTC),
            "issued_by": "dr-anna",
            "diagnoses": [{"code": "F43.8A"}],
            "periods": [{"grade": 50, "start": "2024-03-04", "end": "2024-04-04"}],
            "prognosis": {"kind": "ATER_X_ANTAL_DGR", "days": 60},
            "work_measures": ["ARBETSTRANING"],
            "contact_with_fk_desired": True,
            "diagnosis_to_employer": True,
        }
    )
    return RegisterCertificate(
        **cert.model_dump(exclude={"diagnosis_to_employer"}),
        patient_id="191212121212",
        care_unit_id="vc-norr",
    )


async def test_a_certificate_is_stored_once_and_a_repeat_gets_the_same_receipt() -> None:
    async with Simulator(SECRET) as fk:
        port = HttpTransport(fk.url, SECRET, timeout=2)
        first = await port.register_certificate(fk7804())
        again = await port.register_certificate(fk7804())
        await port.aclose()
    assert (first.result.result_code, again.result.result_code) == ("OK", "INFO")
    assert first.receipt_id == again.receipt_id == "fk-certificate-t-1"
    assert list(fk.certificates) == ["t-1"] and fk.accepted["t-1"] == 2
    stored = fk.certificates["t-1"]
    assert (stored.patient_id, stored.periods[0].grade, stored.prognosis) == (
        "191212121212",
        50,
        fk7804().prognosis,
    )
    assert "diagnosis_to_employer" not in stored.model_dump()  # AG7804 only, not FK's business


async def test_wrong_secret_is_refused_and_an_unsigned_answer_is_not_trusted() -> None:
    async with Simulator(SECRET) as fk:
        port = HttpTransport(fk.url, "not-the-secret", timeout=2)
        with pytest.raises(FkUnavailable, match="not signed by FK"):
            await port.register_certificate(fk7804())
        await port.aclose()
    assert fk.bad_signatures == 1 and fk.certificates == {}


@pytest.mark.parametrize(
    ("mode", "error"), [("fail", FkUnavailable), ("timeout", FkUnavailable), ("reject", FkRejected)]
)
async def test_failures_say_whether_a_retry_can_help(mode: str, error: type[Exception]) -> None:
    async with Simulator(SECRET, hang_seconds=1.0) as fk:
        port = HttpTransport(fk.url, SECRET, timeout=0.5)
        fk.set_mode(mode, 1)  # type: ignore[arg-type]
        with pytest.raises(error):
            await port.register_certificate(fk7804())
        assert fk.certificates == {}
        assert (await port.register_certificate(fk7804())).result.result_code == "OK"
        await port.aclose()


async def test_fk_refuses_an_answer_to_a_message_it_never_sent() -> None:
    message = SendMessageToRecipient.from_domain(
        FkMessage.model_validate(
            {
                "message_id": "care-1",
                "sent_at": datetime.now(UTC),
                "certificate_id": "t-1",
                "patient_id": "191212121212",
                "topic": "KOMPLT",
                "answer_to": {"message_id": "fk-404"},
            }
        )
    )
    async with Simulator(SECRET) as fk:
        port = HttpTransport(fk.url, SECRET, timeout=2)
        with pytest.raises(FkRejected) as refused:
            await port.send_message(message)
        await port.aclose()
    assert refused.value.result is not None
    assert refused.value.result.error_id == "VALIDATION_ERROR"
    assert fk.messages_from_care == {}


async def test_a_revocation_reaches_fk_once_and_only_for_a_certificate_fk_has() -> None:
    from fk.schemas import RevokeCertificate

    revocation = RevokeCertificate(
        certificate_id="t-1",
        patient_id="191212121212",
        care_unit_id="vc-norr",
        revoked_by="dr-anna",
        revoked_at=datetime(2024, 3, 5, 8, tzinfo=UTC),
    )
    async with Simulator(SECRET) as fk:
        port = HttpTransport(fk.url, SECRET, timeout=2)
        with pytest.raises(FkRejected, match="VALIDATION_ERROR"):
            await port.revoke_certificate(revocation)
        await port.register_certificate(fk7804())
        first = await port.revoke_certificate(revocation)
        again = await port.revoke_certificate(revocation)
        await port.aclose()
    assert (first.result.result_code, again.result.result_code) == ("OK", "INFO")
    assert list(fk.revocations) == ["t-1"] and fk.accepted["revoked-t-1"] == 2
