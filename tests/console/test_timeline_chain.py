"""The case page's timeline puts the chain milestones where a linked sick period meets them:
chain day 90 of a case with 60 chain days before it is its own day 30."""

from __future__ import annotations

from datetime import timedelta

from api.console.timeline import build
from domain.rehab_chain import ChainLink
from tests.domain.support import START, certificate, opened


def markers(days_before: int | None) -> dict[int, tuple[int, str]]:
    chain = None if days_before is None else ChainLink(
        earlier_case_id="earlier", earlier_sick_period_end=START - timedelta(days=40),
        chain_days_before=days_before)
    case = opened(cert=certificate("c1", 1, 200), rehab_chain=chain)
    timeline = build(case.state, [], START + timedelta(days=10))
    assert timeline is not None
    return {m.day: (round(m.x), m.text) for m in timeline.markers}


def test_chain_milestones_sit_on_the_own_day_of_a_linked_period() -> None:
    plain, linked = markers(None), markers(60)
    assert plain[90][0] > plain[60][0]  # unlinked: day 90 after day 60
    assert linked[90][0] == plain[30][0]  # linked: chain day 90 on its own day 30
    assert linked[90][1].startswith("Dag 90 (dag 30 av sjukfallet)")
    assert linked[180][0] < plain[180][0]  # own day 120
    assert linked[60] == plain[60]  # the sick-pay milestones keep their own days


def test_chain_milestones_of_the_earlier_period_are_not_drawn() -> None:
    assert 90 not in markers(100)
