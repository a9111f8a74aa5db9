"""KVÅ counts at their edges (a period's first day, several registrations of one sex and unit,
a case opened in error first in the record), the registration's coordination kind, stored
events being plain JSON, and consents read at a moment after they ended."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from domain.bounds import SHORT_MAX, compact, digest, same
from domain.commands import CloseCase, EstablishPlan, GiveConsent, PerformCoordination
from domain.events import event_to_record
from domain.measures import KvaRow, count_kva, kva_counts, kva_registrations
from domain.plan import Plan
from domain.summary import as_read_at
from tests.domain.support import COORDINATOR, PATIENT, PHYSICIAN, START, at, certificate, opened
from tests.domain.test_decider import plan


def test_kva_counts_take_the_first_day_and_add_up_by_sex_and_unit() -> None:
    rows = [
        KvaRow("GC001", date(2024, 3, 1), "vc-norr", "man"),
        KvaRow("GC001", date(2024, 3, 2), "vc-norr", "man", n=2),
        KvaRow("GC001", date(2024, 3, 3), "vc-syd", "kvinna"),
        KvaRow("GC001", date(2024, 2, 29), "vc-norr", "man"),  # before the period
    ]
    counts = count_kva(rows, date(2024, 3, 1), date(2024, 3, 3), unit_id=None)
    assert counts.codes["GC001"].model_dump() == {
        "total": 4, "by_sex": {"kvinna": 1, "man": 3}, "by_unit": {"vc-norr": 3, "vc-syd": 1}}
    norr = count_kva(rows, date(2024, 3, 1), date(2024, 3, 3), unit_id="vc-norr")
    assert (norr.unit_id, norr.codes["GC001"].total) == ("vc-norr", 3)


def test_a_case_opened_in_error_first_in_the_record_does_not_hide_the_next() -> None:
    wrong = opened(cert=certificate(last=60), case_id="a-wrong")
    wrong.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)), at(3))
    wrong.do(CloseCase(actor=PHYSICIAN, reason="opened_in_error"), at(4))
    right = opened(cert=certificate(last=60), case_id="b-right")
    right.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)), at(3))
    counts = kva_counts(wrong.events + right.events, date(2024, 3, 1), date(2024, 3, 31))
    assert counts.codes["DV077"].total == 1


def test_a_coordination_registration_names_its_kind() -> None:
    case = opened(cert=certificate(last=60),
                  consents=(("coordinator", "coordination"), ("fk", "coordination")))
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)), at(3))
    case.do(PerformCoordination(actor=COORDINATOR, kind="contact_fk", performed_on=START))
    assert [(r.code, r.coordination_kind, r.recorded_by) for r in kva_registrations(case.events)] == [
        ("DV077", None, PHYSICIAN.id), ("GC001", "contact_fk", COORDINATOR.id)
    ]


def test_stored_events_are_plain_json() -> None:
    case = opened(cert=certificate(last=60), consents=(("fk", "share_information"),))
    case.advance(at(15))
    for event in case.events:
        _, _, data = event_to_record(event)
        assert json.loads(json.dumps(data)) == data
        assert datetime.fromisoformat(data["occurred_at"]) == event.occurred_at


def test_a_consent_read_after_it_ended_is_not_shown() -> None:
    case = opened(cert=certificate(last=60))
    case.do(GiveConsent(actor=PATIENT, recipient="fk", purpose="contact",
                        valid_until=START + timedelta(days=4)))
    assert as_read_at(case.state, at(5))["consents"] == {"fk": ["contact"]}
    assert as_read_at(case.state, at(10))["consents"] == {}


PLAN_DATA = {"assessment": "", "goals": ["kort"], "sick_leave": "heltid 4 veckor",
             "return_to_work": "successivt", "follow_up_date": START + timedelta(days=30)}


def test_texts_up_to_the_short_limit_travel_whole_and_same_treats_none_as_none() -> None:
    exact, over = "x" * SHORT_MAX, "x" * (SHORT_MAX + 1)
    small = compact(Plan.model_validate({**PLAN_DATA, "assessment": exact}))
    assert small.assessment == exact
    assert compact(Plan.model_validate({**PLAN_DATA, "assessment": over})).assessment == digest(over)
    assert same(None, None) and not same(small, None) and not same(None, small)
