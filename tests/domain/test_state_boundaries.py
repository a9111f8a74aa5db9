"""The edges of the case's derived facts: the last certificate day still counts, 60 expected
days are a long absence (59 are not), a chain milestone that falls on day 1 is this case's,
and a pending send of one certificate does not hold back another."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.commands import OpenCase, RecordCertificate, SendCertificateToFk
from domain.rehab_chain import ChainLink
from tests.domain.support import PHYSICIAN, PNR, START, Case, at, certificate, opened

D = timedelta(days=1)


@pytest.mark.parametrize("last,long", [(59, False), (60, True)])
def test_sixty_expected_days_are_a_long_absence(last: int, long: bool) -> None:
    assert opened(cert=certificate(last=last)).state.expects_long_absence() is long


def test_no_certificate_is_no_long_absence_and_no_return_expected_is_one() -> None:
    assert not opened().state.expects_long_absence()
    never = certificate(last=10, prognosis={"kind": "SANNOLIKT_INTE"})
    assert opened(cert=never).state.expects_long_absence()


def test_the_last_certificate_day_is_on_sick_leave() -> None:
    state = opened(cert=certificate(last=8)).state
    last = START + 7 * D
    assert state.covers(last) and not state.covers(last + D)
    assert state.on_sick_leave_through(last) and not state.on_sick_leave_through(last + D)


def test_a_certificate_through_day_8_settles_the_day_8_question() -> None:
    case = opened(cert=certificate(last=8))
    case.advance(at(8, 12))
    assert "no_certificate_for_day_8" not in case.state.flags


@pytest.mark.parametrize("before,on", [(89, START), (88, START + D), (90, None)])
def test_a_chain_milestone_on_day_1_is_this_cases(before: int, on: object) -> None:
    case = Case()
    case.do(OpenCase(actor=PHYSICIAN, case_id="case-1", patient_id=PNR, unit_id="vc-norr",
                     sick_period_start=START,
                     rehab_chain=ChainLink(earlier_case_id="old",
                                           earlier_sick_period_end=START - 10 * D,
                                           chain_days_before=before)), at(1))
    assert case.state.milestone_date(90) == on


def test_a_pending_send_of_one_certificate_does_not_hold_back_another() -> None:
    case = opened(cert=certificate(last=60), consents=(("fk", "share_information"),))
    case.do(RecordCertificate(actor=PHYSICIAN,
                              certificate=certificate("c2", first=61, last=90, issued=1)))
    case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1"))
    events = case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c2"))
    assert [(e.kind, e.parameters) for e in events] == [  # type: ignore[attr-defined]
        ("certificate_to_fk", {"certificate_id": "c2"})
    ]
    assert case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c2")) == []
