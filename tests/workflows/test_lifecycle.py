"""Whole case lifecycles on the time-skipping server, checked in the event record."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.calendar import STOCKHOLM
from domain.commands import (
    CorrectSickPeriodStart,
    EstablishPlan,
    GiveConsent,
    RecordCertificate,
    RecordPlanFollowUp,
    WithdrawConsent,
)
from tests.workflows.conftest import Harness
from tests.workflows.support import (
    PATIENT,
    PHYSICIAN,
    advance_to_day,
    certificate,
    do,
    event_types,
    morning,
    open_new_case,
    outcome,
    plan,
    records,
)


async def test_ten_day_case_reminds_nothing_and_closes_when_the_gap_passes(harness: Harness) -> None:
    start = await morning(harness)
    case_id, opened = await open_new_case(harness, start, certificate(start, 1, 10))
    assert opened.version >= 2

    result = await outcome(harness, case_id)  # time skips to the automatic closure

    assert result.closed_reason == "sick_period_ended"
    types = await event_types(harness, case_id)
    assert types[0] == "CaseOpened"
    assert types[-1] == "CaseClosed"
    reached = [e.data["day"] for e in await harness.store.read_stream(case_id)
               if e.type == "MilestoneReached"]
    assert reached == [8, 14]  # day 8 covered: no reminder; day 14: leave ended, nothing to do
    assert "NotificationRequested" not in types
    closed_at = datetime.fromisoformat((await harness.store.read_stream(case_id))[-1].data["occurred_at"])
    # last day 10, five gap days (11-15); a certificate from day 16 still merges: closes as day 17 begins
    assert closed_at.astimezone(STOCKHOLM).date() == start + timedelta(days=16)


async def test_45_day_case_with_plan_follow_up_and_consent(harness: Harness) -> None:
    start = await morning(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 45),
                                     employer_name="Verkstaden AB")
    for recipient in ("employer", "fk"):
        await do(harness, case_id, GiveConsent(actor=PATIENT, recipient=recipient,
                                               purpose="share_information"))
    await advance_to_day(harness, start, 10)
    await do(harness, case_id, EstablishPlan(actor=PHYSICIAN, plan=plan(start + timedelta(days=39))))
    await advance_to_day(harness, start, 40)
    await do(harness, case_id, RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=start + timedelta(days=39)))

    result = await outcome(harness, case_id)

    assert result.closed_reason == "sick_period_ended"
    reached = [r["day"] for r in await records(harness, case_id, "MilestoneReached")]
    assert reached == [8, 14, 30]
    types = await event_types(harness, case_id)
    assert types.index("PlanEstablished") < types.index("PlanFollowedUp") < types.index("CaseClosed")
    # day 14: employer and patient told, the FK7804 sent to FK (consent given); each once
    assert set(harness.receiver.kinds()) >= {
        "employer_report_to_fk_by_day_21", "apply_for_sickness_benefit"}
    assert list(harness.fk.certificates) == ["c1"]
    assert all(count == 1 for count in harness.receiver.delivered.values())
    sent = await records(harness, case_id, "NotificationSent")
    assert len(sent) == len(await records(harness, case_id, "NotificationRequested"))
    # day 30: over 30 days, so the coordinator is handed the case; no consent for the team
    assert "ReferredToCoordinator" in types
    suppressed = await records(harness, case_id, "NotificationSuppressed")
    assert [s["recipient"] for s in suppressed] == ["multimodal_team"]


async def test_case_opened_on_day_20_fires_past_milestones_once_in_order(harness: Harness) -> None:
    start = (await morning(harness)) - timedelta(days=19)
    cert = certificate(start, 1, 60, issued=await harness.env.get_current_time(),
                       motivation_early_start="Bedömd per telefon dag 1")
    case_id, _ = await open_new_case(harness, start, cert, employer_name="Verkstaden AB")
    await advance_to_day(harness, start, 20, hour=12)

    reached = [r["day"] for r in await records(harness, case_id, "MilestoneReached")]
    assert reached == [8, 14]
    # no consent yet: the employer and FK are not told, and the record says why
    suppressed = {s["recipient"] for s in await records(harness, case_id, "NotificationSuppressed")}
    assert suppressed == {"employer", "fk"}
    assert harness.receiver.kinds() == ["apply_for_sickness_benefit"]

    await advance_to_day(harness, start, 31)
    reached = [r["day"] for r in await records(harness, case_id, "MilestoneReached")]
    assert reached == [8, 14, 30]


async def test_start_corrected_backwards_replans_and_fires_passed_milestones(harness: Harness) -> None:
    start = await morning(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 30))
    await advance_to_day(harness, start, 3)
    assert await records(harness, case_id, "MilestoneReached") == []

    earlier = start - timedelta(days=10)  # day 3 becomes day 13: day 8 is already past
    await do(harness, case_id, CorrectSickPeriodStart(actor=PHYSICIAN, sick_period_start=earlier,
                                                      reason="first sick day was earlier"))
    await advance_to_day(harness, start, 3, hour=10)
    assert [r["day"] for r in await records(harness, case_id, "MilestoneReached")] == [8]
    await advance_to_day(harness, earlier, 15)
    assert [r["day"] for r in await records(harness, case_id, "MilestoneReached")] == [8, 14]


async def test_consent_withdrawn_on_day_25_suppresses_the_day_30_employer_reminder(
    harness: Harness,
) -> None:
    start = await morning(harness)
    cert = certificate(start, 1, 90)  # >= 60 days expected: the return-to-work plan is due day 30
    case_id, _ = await open_new_case(harness, start, cert, employer_name="Verkstaden AB")
    await do(harness, case_id, GiveConsent(actor=PATIENT, recipient="employer",
                                           purpose="share_information"))
    await advance_to_day(harness, start, 25)
    await do(harness, case_id, WithdrawConsent(actor=PATIENT, recipient="employer",
                                               purpose="share_information"))
    await advance_to_day(harness, start, 31)

    delivered = harness.receiver.kinds()
    assert "employer_report_to_fk_by_day_21" in delivered  # day 14, consent still valid
    assert not any(k.startswith("employer_return") for k in delivered)
    suppressed = [s for s in await records(harness, case_id, "NotificationSuppressed")
                  if s["recipient"] == "employer"]
    assert len(suppressed) == 1 and "withdrew" in suppressed[0]["reason"]
    assert suppressed[0]["kind"] == "employer_return_plan_due"


async def test_four_day_gap_merges_and_six_day_gap_closes(harness: Harness) -> None:
    start = await morning(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 10))
    await advance_to_day(harness, start, 13)
    # days 11-14 without a certificate (4 days), the next one starts day 15: same sick period
    await do(harness, case_id, RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        start, 15, 25, cid="c2", relation={"kind": "FRLANG", "certificate_id": "c1"})))
    await advance_to_day(harness, start, 29)
    types = await event_types(harness, case_id)
    assert "CaseClosed" not in types

    # after day 25 nothing more: a certificate from day 31 (gap 26-30) would still merge, so
    # the case closes as day 32 begins
    result = await outcome(harness, case_id)
    assert result.closed_reason == "sick_period_ended"
    closed = (await records(harness, case_id, "CaseClosed"))[0]
    assert datetime.fromisoformat(closed["occurred_at"]).astimezone(STOCKHOLM).date() == (
        start + timedelta(days=31))
