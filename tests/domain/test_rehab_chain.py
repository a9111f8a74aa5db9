"""Rehabiliteringskedjan across sick periods (DOMAIN.md, revised): periods less than 90 days
apart form one chain; 90/180/365 follow the chain day, 8/14/30/60 the sick period's own day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain import DomainError
from domain.commands import CloseCase, CorrectSickPeriodStart
from domain.rehab_chain import ChainLink, SickPeriod, link
from tests.domain.support import PHYSICIAN, START, at, certificate, kinds, opened

EARLIER_END = date(2024, 1, 10)


def earlier(case_id: str = "earlier", start: date = date(2023, 12, 1), end: date = EARLIER_END,
            chain_days_before: int = 0) -> SickPeriod:
    return SickPeriod(case_id, start, end, chain_days_before)


@pytest.mark.parametrize(("days_between", "linked"), [(0, True), (89, True), (90, False)])
def test_periods_less_than_90_days_apart_are_one_chain(days_between: int, linked: bool) -> None:
    start = EARLIER_END + timedelta(days=days_between + 1)
    found = link(start, [earlier()])
    assert (found is not None) == linked
    if found is not None:  # 1 December - 10 January: 41 calendar days
        assert found == ChainLink(earlier_case_id="earlier", earlier_sick_period_end=EARLIER_END,
                                  chain_days_before=41)


def test_the_latest_earlier_period_carries_the_days_it_continued() -> None:
    older = earlier("older", date(2023, 9, 1), date(2023, 9, 30))
    later = earlier("later", date(2023, 12, 1), EARLIER_END, chain_days_before=30)
    found = link(date(2024, 2, 1), [later, older])
    assert found is not None
    assert (found.earlier_case_id, found.chain_days_before) == ("later", 30 + 41)


def test_periods_that_do_not_end_before_day_1_are_not_earlier() -> None:
    assert link(EARLIER_END, [earlier()]) is None
    assert link(START, []) is None


def test_a_case_closed_in_error_is_no_sick_period() -> None:
    case = opened(cert=certificate("c1", 1, 20))
    assert case.state.as_sick_period() == SickPeriod("case-1", START, START + timedelta(days=19))
    case.do(CloseCase(actor=PHYSICIAN, reason="opened_in_error"), at(3))
    assert case.state.as_sick_period() is None


def chain(days_before: int) -> ChainLink:
    return ChainLink(earlier_case_id="earlier", earlier_sick_period_end=START - timedelta(days=30),
                     chain_days_before=days_before)


def test_the_chain_milestones_follow_the_chain_day() -> None:
    # 60 chain days before: chain day 90 is the sick period's own day 30
    case = opened(cert=certificate("c1", 1, 150), consents=(("employer", "share_information"),),
                  rehab_chain=chain(60))
    assert case.of_type("RehabChainLinked")[0].chain_days_before == 60
    case.advance(at(29, 23))
    assert 90 not in case.state.milestones_reached
    fired = case.advance(at(30, 0))
    reached = [e.day for e in fired if e.type == "MilestoneReached"]
    assert reached == [30, 90]  # the sick-pay day 30 first, then chain day 90, at one instant
    assert ("patient", "rehab_chain_day_91") in kinds(fired)
    assert ("employer", "rehab_chain_day_91") in kinds(fired)
    # the sick-pay milestones keep the sick period's own days
    assert [e.day for e in case.of_type("MilestoneReached")] == [8, 14, 30, 90]
    case.advance(at(60, 0))
    assert 60 in case.state.milestones_reached and 180 not in case.state.milestones_reached
    fired = case.advance(at(120, 0))  # chain day 180 is own day 120
    assert ("af", "consider_af") in kinds(fired) + kinds(fired, "NotificationSuppressed")


def test_chain_days_already_passed_in_the_earlier_period_do_not_come_again() -> None:
    case = opened(cert=certificate("c1", 1, 100), rehab_chain=chain(100))
    ahead = dict((day, on) for on, day in case.state.milestones_ahead())
    assert sorted(ahead) == [8, 14, 30, 60, 180, 365]
    assert ahead[180] == case.state.day(80) and ahead[365] == case.state.day(265)
    case.advance(at(100, 0))
    assert case.state.milestones_reached == [8, 14, 30, 60, 180]


def test_an_unlinked_case_keeps_day_1_as_chain_day_1() -> None:
    case = opened(cert=certificate("c1", 1, 100))
    case.advance(at(90, 0))
    assert case.state.milestones_reached == [8, 14, 30, 60, 90]
    assert case.state.chain_day(case.state.day(90)) == 90


def test_a_corrected_day_1_links_and_unlinks_the_chain() -> None:
    case = opened(cert=certificate("c1", 3, 40), rehab_chain=chain(60))
    new_start = START + timedelta(days=2)
    events = case.do(CorrectSickPeriodStart(actor=PHYSICIAN, sick_period_start=new_start),
                     at(2))
    assert [e.type for e in events] == ["SickPeriodStartCorrected", "RehabChainUnlinked"]
    assert case.state.rehab_chain is None and case.state.chain_days_before == 0
    events = case.do(CorrectSickPeriodStart(actor=PHYSICIAN, sick_period_start=START,
                                            rehab_chain=chain(10)), at(2))
    assert [e.type for e in events] == ["SickPeriodStartCorrected", "RehabChainLinked"]
    assert case.state.chain_days_before == 10


def test_a_link_to_a_period_that_does_not_end_before_day_1_is_refused() -> None:
    case = opened(cert=certificate("c1", 1, 40))
    bad = ChainLink(earlier_case_id="x", earlier_sick_period_end=START, chain_days_before=5)
    with pytest.raises(DomainError) as refused:
        case.do(CorrectSickPeriodStart(actor=PHYSICIAN, sick_period_start=START - timedelta(days=1),
                                       rehab_chain=bad.model_copy(update={
                                           "earlier_sick_period_end": START})), at(2))
    assert refused.value.rule == "chain_link_not_earlier"
    assert refused.value.field == "rehab_chain.earlier_sick_period_end"
