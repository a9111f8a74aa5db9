"""What readers and the record get from the domain: the moment-of-reading fields, the
rehabilitation chain as shown, protected identity masked, bounded texts, old records upcast."""

from __future__ import annotations

from datetime import date, timedelta

from domain import DomainError, evolve
from domain.bounds import DIGEST, SHORT_MAX, clean_text, compact, digest
from domain.calendar import start_of
from domain.commands import CloseCase
from domain.errors import ErrorKind, kind_of
from domain.events import event_from_record
from domain.plan import Plan
from domain.privacy import HIDDEN, mask_identity
from domain.rehab_chain import ChainLink, SickPeriod
from domain.summary import as_read_at, rehab_chain_at
from tests.domain.support import PHYSICIAN, PNR, START, at, certificate, opened


def test_the_fields_that_depend_on_the_moment_are_read_at_it() -> None:
    case = opened(cert=certificate("c1", 1, 10, grade=50), consents=(("fk", "contact"),))
    assert as_read_at(case.state, at(5)) == {"current_grade": 50, "consents": {"fk": ["contact"]}}
    after = as_read_at(case.state, at(11))
    assert after["current_grade"] is None  # no certificate covers day 11
    assert as_read_at(opened().state.model_copy(update={"opened_at": None}), at(5)) == {}


def test_the_chain_as_shown_counts_from_the_linked_period() -> None:
    link = ChainLink(earlier_case_id="earlier", earlier_sick_period_end=START - timedelta(days=9),
                     chain_days_before=40)
    case = opened(cert=certificate("c1", 1, 30), rehab_chain=link)
    assert rehab_chain_at(case.state, at(3)) == {"rehab_chain": {
        "linked_case_id": "earlier", "days_before": 40, "chain_day": 43}}
    plain = opened(cert=certificate("c1", 1, 30))
    assert rehab_chain_at(plain.state, at(3))["rehab_chain"] == {
        "linked_case_id": None, "days_before": 0, "chain_day": 3}
    case.do(CloseCase(actor=PHYSICIAN, reason="return_to_work_full"), at(4))
    assert rehab_chain_at(case.state, at(5))["rehab_chain"]["chain_day"] is None


def test_a_case_as_an_earlier_period_carries_its_own_chain_days() -> None:
    link = ChainLink(earlier_case_id="older", earlier_sick_period_end=START - timedelta(days=9),
                     chain_days_before=40)
    case = opened(cert=certificate("c1", 1, 30), rehab_chain=link)
    assert case.state.as_sick_period() == SickPeriod("case-1", START, START + timedelta(days=29), 40)
    assert opened().state.as_sick_period() is None  # opened before its first certificate


def test_protected_identity_is_masked_at_any_depth_for_non_physicians() -> None:
    data = {"patient_id": PNR, "events": [{"data": {"patient_id": PNR, "text": f"om {PNR} ..."}}],
            "note": ("191212121212", 7)}
    masked = mask_identity(data, protected=True, role="coordinator")
    assert masked == {"patient_id": None,
                      "events": [{"data": {"patient_id": None, "text": f"om {HIDDEN} ..."}}],
                      "note": [HIDDEN, 7]}
    assert mask_identity(data, protected=True, role="physician") is data
    assert mask_identity(data, protected=False, role="coordinator") is data


def test_long_texts_travel_as_their_digest_and_system_texts_are_made_fit() -> None:
    long = "x" * (SHORT_MAX + 1)
    assert digest(long) == digest(long) != digest(long + "y")
    assert digest(long).startswith(DIGEST) and len(digest(long)) == len(DIGEST) + 32
    plan = Plan.model_validate({
        "assessment": long, "goals": ["kort"], "sick_leave": "heltid 4 veckor",
        "return_to_work": "successivt", "follow_up_date": START + timedelta(days=30)})
    small = compact(plan)
    assert small.assessment == digest(long) and small.goals == ["kort"]
    assert compact(small) == small  # idempotent: a digest is not digested again
    assert clean_text("a\x00b\x07c", limit=2) == "a?"
    assert clean_text("rad ett\nrad två") == "rad ett\nrad två"


def test_evolve_leaves_the_state_it_was_given_alone() -> None:
    case = opened(cert=certificate("c1", 1, 30))
    before = case.state.model_copy(deep=True)
    closed = case.do(CloseCase(actor=PHYSICIAN, reason="deceased"), at(3))[0]
    again = evolve(before, closed)
    assert again.is_closed and again.version == closed.version
    assert not before.is_closed and before.version == closed.version - 1


def test_every_rule_has_a_kind_and_an_unknown_rule_is_invalid() -> None:
    assert kind_of("case_closed") is ErrorKind.CONFLICT
    assert kind_of("role_not_allowed") is ErrorKind.FORBIDDEN
    assert kind_of("case_not_opened") is ErrorKind.NOT_FOUND
    assert kind_of("no_such_rule") is ErrorKind.INVALID
    err = DomainError("x.y", "case_closed", "closed")
    assert (str(err), err.kind, repr(err)) == (
        "closed", ErrorKind.CONFLICT, "DomainError(field='x.y', rule='case_closed', message='closed')")


def test_a_schema_1_consent_keeps_a_shorter_end_and_is_capped_at_365_days() -> None:
    given = start_of(START) + timedelta(hours=9)

    def upcast(valid_until: str | None) -> date:
        data = {"event_id": "e1", "case_id": "case-1", "version": 2,
                "occurred_at": given.isoformat(), "recorded_by": "patient",
                "recipient": "fk", "purpose": "contact", "valid_until": valid_until}
        event = event_from_record("ConsentGiven", 1, data)
        assert event.schema_version == 2
        return event.valid_until  # type: ignore[union-attr, no-any-return]

    assert upcast("2024-04-01") == date(2024, 4, 1)
    assert upcast(None) == START + timedelta(days=365)
    assert upcast("2030-01-01") == START + timedelta(days=365)
