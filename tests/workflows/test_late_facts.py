"""Late facts, closure after the whole merge gap and reopening, through the case workflow on the
time-skipping server (revised rules, workflow patch `revised-rules-v1`)."""

from __future__ import annotations

from datetime import datetime

from domain.calendar import STOCKHOLM
from domain.commands import GiveConsent, RecordCertificate, RevokeCertificate
from tests.workflows.conftest import Harness
from tests.workflows.support import (
    PATIENT,
    PHYSICIAN,
    advance_to_day,
    certificate,
    do,
    event_types,
    open_new_case,
    outcome,
    records,
    today,
)


async def consent(h: Harness, case_id: str, *recipients: str) -> None:
    for recipient in recipients:
        await do(h, case_id, GiveConsent(actor=PATIENT, recipient=recipient,  # type: ignore[arg-type]
                                         purpose="share_information"))


async def closed_on(h: Harness, case_id: str) -> int:
    """The day of the sick period the case closed on (day 1 = the first CaseOpened's start)."""
    opened = (await records(h, case_id, "CaseOpened"))[0]
    closed = (await records(h, case_id, "CaseClosed"))[-1]
    start = datetime.fromisoformat(opened["sick_period_start"]).date()
    return (datetime.fromisoformat(closed["occurred_at"]).astimezone(STOCKHOLM).date() - start).days + 1


async def test_certificate_recorded_on_day_14_at_10_sends_the_fk7804_once(harness: Harness) -> None:
    start = await today(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 10),
                                     employer_name="Verkstaden AB")
    await consent(harness, case_id, "employer", "fk")
    await advance_to_day(harness, start, 14, hour=10)
    assert harness.fk.certificates == {} or list(harness.fk.certificates) == []

    await do(harness, case_id, RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        start, 11, 40, cid="c2", issued=await harness.env.get_current_time(),
        relation={"kind": "FRLANG", "certificate_id": "c1"})))
    await advance_to_day(harness, start, 20)

    assert list(harness.fk.certificates) == ["c2"]
    late = await records(harness, case_id, "MilestoneDutiesDoneLate")
    assert [(r["day"], r["reason"]) for r in late] == [(14, "certificate c2 recorded")]
    kinds = [r["kind"] for r in await records(harness, case_id, "NotificationRequested")]
    assert kinds.count("certificate_to_fk") == 1
    assert {"employer_report_to_fk_by_day_21", "apply_for_sickness_benefit"} <= set(kinds)
    assert all(count == 1 for count in harness.receiver.delivered.values())


async def test_extension_on_day_30_refers_to_the_coordinator_once(harness: Harness) -> None:
    start = await today(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 29))
    await advance_to_day(harness, start, 30, hour=11)
    assert await records(harness, case_id, "ReferredToCoordinator") == []

    await do(harness, case_id, RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        start, 30, 60, cid="c2", issued=await harness.env.get_current_time(),
        relation={"kind": "FRLANG", "certificate_id": "c1"})))
    await advance_to_day(harness, start, 45)
    await do(harness, case_id, RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        start, 61, 70, cid="c3", issued=await harness.env.get_current_time(),
        relation={"kind": "FRLANG", "certificate_id": "c2"})))
    await advance_to_day(harness, start, 50)

    assert len(await records(harness, case_id, "ReferredToCoordinator")) == 1
    assert harness.receiver.kinds().count("offer_coordination") == 1
    late = await records(harness, case_id, "MilestoneDutiesDoneLate")
    assert any(r["day"] == 30 and "referral>coordinator" in r["duties"] for r in late)


async def test_certificate_starting_on_end_plus_6_merges(harness: Harness) -> None:
    start = await today(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 10))
    await advance_to_day(harness, start, 16, hour=8)  # days 11-15 without a certificate: 5 days

    result = await do(harness, case_id, RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        start, 16, 20, cid="c2", relation={"kind": "FRLANG", "certificate_id": "c1"})))

    assert result.events[0] == "CertificateRecorded"  # the case was still open: no reopening
    await outcome(harness, case_id)
    assert await closed_on(harness, case_id) == 20 + 5 + 2


async def test_certificate_after_automatic_closure_reopens_the_case(harness: Harness) -> None:
    start = await today(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 10),
                                     employer_name="Verkstaden AB")
    await consent(harness, case_id, "fk")
    await advance_to_day(harness, start, 20)
    assert (await event_types(harness, case_id))[-1] == "CaseClosed"

    # backdated into the gap: day 1, milestones and duties carry on in the same case
    result = await do(harness, case_id, RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        start, 14, 40, cid="c2", issued=await harness.env.get_current_time(),
        relation={"kind": "FRLANG", "certificate_id": "c1"})))

    assert result.events[:2] == ["CaseReopened", "CertificateRecorded"]
    await advance_to_day(harness, start, 31)
    reached = [r["day"] for r in await records(harness, case_id, "MilestoneReached")]
    assert reached == [8, 14, 30]
    assert list(harness.fk.certificates) == ["c2"]
    final = await outcome(harness, case_id)
    assert final.closed_reason == "sick_period_ended"
    assert await closed_on(harness, case_id) == 40 + 5 + 2


async def test_revoked_replacement_restores_the_original(harness: Harness) -> None:
    start = await today(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 30))
    await advance_to_day(harness, start, 3)
    await do(harness, case_id, RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        start, 1, 10, cid="c2", issued=await harness.env.get_current_time(),
        relation={"kind": "ERSATT", "certificate_id": "c1"})))
    await do(harness, case_id, RevokeCertificate(actor=PHYSICIAN, certificate_id="c2"))

    await outcome(harness, case_id)

    revoked = (await records(harness, case_id, "CertificateRevoked"))[0]
    assert revoked["restores"] == "c1"
    assert await closed_on(harness, case_id) == 30 + 5 + 2  # c1 counts again, not c2's day 10


async def test_case_that_closed_itself_ends_its_workflow_after_the_reopening_window(
    harness: Harness,
) -> None:
    start = await today(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 10))
    result = await outcome(harness, case_id)
    assert result.closed_reason == "sick_period_ended"
    now = (await harness.env.get_current_time()).astimezone(STOCKHOLM).date()
    assert (now - start).days + 1 >= 17 + 7  # it waited out the 7-day reopening window
