"""The event record (ids, round trip, upcasting) and the consent rules."""

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from domain import (
    CaseState,
    DomainError,
    consent_allows,
    consent_check,
    event_from_record,
    event_to_record,
    fold,
)
from domain.commands import EstablishPlan, GiveConsent, WithdrawConsent
from domain.events import EVENT_ADAPTER, UPCASTERS, NotificationRequested, event_id_for
from domain.plan import Plan
from tests.domain.support import PATIENT, PHYSICIAN, START, at, certificate, opened


def test_event_ids_are_deterministic_per_case_and_version() -> None:
    assert event_id_for("case-1", 3) == event_id_for("case-1", 3)
    assert (
        len({event_id_for("case-1", 3), event_id_for("case-1", 4), event_id_for("case-2", 3)}) == 3
    )


def test_deciding_again_gives_the_same_events_so_a_retried_append_is_a_no_op() -> None:
    case = opened(cert=certificate())
    from domain import decide

    command = GiveConsent(actor=PATIENT, recipient="fk", purpose="contact")
    assert decide(command, case.state, at(3)) == decide(command, case.state, at(3))


def test_every_event_round_trips_through_its_record() -> None:
    case = opened(cert=certificate(last=60), consents=(("employer", "share_information"),))
    plan = Plan(
        assessment="a",
        goals=["g"],
        sick_leave="s",
        return_to_work="r",
        follow_up_date=START + timedelta(days=20),
    )
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan), at(2))
    case.advance(at(40))
    assert {e.type for e in case.events} >= {
        "CaseOpened",
        "CertificateRecorded",
        "ConsentGiven",
        "PlanEstablished",
        "MilestoneReached",
        "NotificationRequested",
        "FollowUpDue",
        "ReferredToCoordinator",
    }
    for event in case.events:
        type_, version, data = event_to_record(event)
        assert (type_, version) == (event.type, event.schema_version)
        assert event_from_record(type_, version, data) == event
    assert fold(event_from_record(*event_to_record(e)) for e in case.events) == case.state


def test_state_round_trips_through_json() -> None:
    case = opened(cert=certificate(last=60), consents=(("fk", "share_information"),))
    case.advance(at(31))
    restored = CaseState.model_validate(case.state.model_dump(mode="json"))
    assert restored == case.state


def test_consent_given_schema_1_is_upcast_to_a_capped_end_date() -> None:
    assert ("ConsentGiven", 1) in UPCASTERS
    v1 = {
        "event_id": event_id_for("case-1", 2),
        "case_id": "case-1",
        "version": 2,
        "occurred_at": "2023-05-10T08:00:00+00:00",
        "recorded_by": "co-bo",
        "schema_version": 1,
        "type": "ConsentGiven",
        "recipient": "employer",
        "purpose": "contact",
        "valid_until": None,
    }
    event = event_from_record("ConsentGiven", 1, v1)
    assert event.schema_version == 2
    assert event.valid_until == date(2024, 5, 9)  # type: ignore[union-attr]
    with pytest.raises(ValidationError):
        EVENT_ADAPTER.validate_python({**v1, "schema_version": 2})  # v2 requires the end date


def test_notification_parameters_never_carry_identity_numbers() -> None:
    with pytest.raises(
        ValidationError, match="identity numbers never go into notification parameters"
    ):
        NotificationRequested(
            event_id="e",
            case_id="c",
            version=1,
            occurred_at=at(1),
            recorded_by="system",
            notification_id="n",
            recipient="employer",
            purpose="share_information",
            kind="employer_return_plan_due",
            needs_consent=True,
            parameters={"who": "19121212-1212"},
        )


# ---------------------------------------------------------------- consent


def test_patient_and_care_team_need_no_consent() -> None:
    case = opened()
    for recipient in ("patient", "physician", "coordinator"):
        assert consent_allows(case.state, recipient, "share_information", at(2))  # type: ignore[arg-type]
    with pytest.raises(DomainError) as info:
        case.do(GiveConsent(actor=PATIENT, recipient="physician", purpose="contact"))
    assert info.value.rule == "consent_not_needed"


def test_external_recipients_need_consent_for_that_purpose() -> None:
    case = opened(consents=(("employer", "contact"),))
    assert consent_allows(case.state, "employer", "contact", at(2))
    assert consent_check(case.state, "employer", "share_information", at(2)) == (
        "the patient has not consented to employer (share_information)"
    )
    assert not consent_allows(case.state, "fk", "contact", at(2))


def test_consent_is_not_valid_before_it_was_given() -> None:
    case = opened()
    case.do(GiveConsent(actor=PATIENT, recipient="fk", purpose="contact"), at(5))
    assert not consent_allows(case.state, "fk", "contact", at(4))
    assert consent_allows(case.state, "fk", "contact", at(5))


def test_withdrawal_takes_effect_at_once() -> None:
    case = opened(consents=(("fk", "contact"),))
    case.do(WithdrawConsent(actor=PATIENT, recipient="fk", purpose="contact"), at(10))
    assert consent_allows(case.state, "fk", "contact", at(10) - timedelta(seconds=1))
    assert not consent_allows(case.state, "fk", "contact", at(10))
    assert "withdrew" in (consent_check(case.state, "fk", "contact", at(11)) or "")
    assert case.do(WithdrawConsent(actor=PATIENT, recipient="fk", purpose="contact")) == []


def test_consent_holds_through_its_end_date_and_is_capped_at_365_days() -> None:
    case = opened()
    case.do(
        GiveConsent(
            actor=PATIENT,
            recipient="af",
            purpose="coordination",
            valid_until=START + timedelta(days=9),
        )
    )
    assert consent_allows(case.state, "af", "coordination", at(10, hour=23))
    assert not consent_allows(case.state, "af", "coordination", at(11, hour=0))
    assert "ended on 2024-03-13" in (consent_check(case.state, "af", "coordination", at(11)) or "")
    events = case.do(
        GiveConsent(
            actor=PATIENT, recipient="employer", purpose="contact", valid_until=date(2030, 1, 1)
        )
    )
    assert events[0].valid_until == START + timedelta(days=365)  # type: ignore[union-attr]
    assert (
        case.do(
            GiveConsent(
                actor=PATIENT, recipient="employer", purpose="contact", valid_until=date(2031, 1, 1)
            )
        )
        == []
    )


def test_consent_may_not_end_in_the_past() -> None:
    case = opened()
    with pytest.raises(DomainError) as info:
        case.do(
            GiveConsent(actor=PATIENT, recipient="fk", purpose="contact", valid_until=START), at(3)
        )
    assert (info.value.field, info.value.rule) == ("valid_until", "valid_until_in_past")


def test_a_new_consent_replaces_the_earlier_one() -> None:
    case = opened(consents=(("fk", "contact"),))
    case.do(
        GiveConsent(
            actor=PATIENT, recipient="fk", purpose="contact", valid_until=START + timedelta(days=4)
        ),
        at(2),
    )
    assert consent_allows(case.state, "fk", "contact", at(5))
    assert not consent_allows(case.state, "fk", "contact", at(6))


def test_ids_chosen_by_other_systems_may_hold_any_digits() -> None:
    """A certificate id like 'intyg-7211110416' is a reference, not an identity number."""
    note = NotificationRequested(
        event_id="e", case_id="c", version=1, occurred_at=at(1), recorded_by="system",
        notification_id="n", recipient="fk", purpose="share_information",
        kind="certificate_to_fk", needs_consent=True,
        parameters={"certificate_id": "intyg-7211110416"},
    )
    assert note.parameters["certificate_id"] == "intyg-7211110416"
