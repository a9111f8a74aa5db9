"""The case list's filter columns (`list_filter_columns`, stored beside each row) say what the
case itself says at any moment of reading: the consents held (`consents_at` over the consent
windows, and the one-number ends the filters use) and the grade on each day, over random
consent histories and certificates; and every physician who issued a certificate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from domain import summarize
from domain.commands import GiveConsent, RecordCertificate, RevokeCertificate, WithdrawConsent
from domain.summary import consents_at, list_filter_columns
from tests.domain.support import PATIENT, PHYSICIAN, START, at, certificate, opened
from tests.domain.test_properties import EXAMPLES

PAIRS = [("fk", "share_information"), ("fk", "contact"), ("employer", "contact")]
action = st.tuples(
    st.integers(0, 200),  # hours later
    st.booleans(),  # give (True) or withdraw
    st.integers(0, len(PAIRS) - 1),
    st.one_of(st.none(), st.integers(0, 40)),  # valid for so many days (None: the cap)
)


@settings(max_examples=max(10, EXAMPLES // 5), deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate])
@given(st.lists(action, max_size=8), st.lists(st.integers(0, 60 * 24), min_size=1, max_size=6))
def test_the_consent_columns_hold_what_the_case_holds_at_any_moment(
    actions: list[tuple[int, bool, int, int | None]], read_hours: list[int]
) -> None:
    case = opened(cert=certificate(last=60))
    for hours, give, pair, days in actions:
        case.clock += timedelta(hours=hours)
        recipient, purpose = PAIRS[pair]
        if give:
            until = None if days is None else (case.clock + timedelta(days=days)).date()
            case.do(GiveConsent(actor=PATIENT, recipient=recipient, purpose=purpose,  # type: ignore[arg-type]
                                valid_until=until))
        elif any(c.recipient == recipient and c.purpose == purpose for c in case.state.consents):
            case.do(WithdrawConsent(actor=PATIENT, recipient=recipient, purpose=purpose))  # type: ignore[arg-type]
    columns = list_filter_columns(case.state)
    for hours in read_hours:
        now = max(case.clock, at(1) + timedelta(hours=hours)).astimezone(UTC)
        held = summarize(case.state, now).consents
        assert consents_at(columns["consent_windows"], now) == held
        ends = columns["consent_ends"]
        assert {k for k, end in ends.items() if ":" in k and end > now.timestamp()} == {
            f"{r}:{p}" for r, purposes in held.items() for p in purposes
        }
        assert {k for k, end in ends.items() if ":" not in k and end > now.timestamp()} == set(held)
    latest_ends = [datetime.fromisoformat(w[1]) for p in columns["consent_windows"].values()
                   for w in p.values()]
    assert columns["consent_until"] == max(latest_ends, default=None)


def test_the_grade_columns_give_the_grade_of_each_day_and_the_physicians_who_issued() -> None:
    case = opened(cert=certificate("c1", 1, 20, grade=100))
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        "c2", 21, 40, grade=50, issued_by="dr-bertil")), at(21))
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        "c3", 30, 50, grade=25, issued_by="dr-cecilia")), at(30))
    case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c3"))
    columns = list_filter_columns(case.state)
    assert columns["physicians"] == ["dr-anna", "dr-bertil", "dr-cecilia"]  # c3 revoked, issued
    days = columns["grade_days"]
    assert set(days) == {25, 50, 75, 100}
    for day in range(1, 52):
        on = START + timedelta(days=day - 1)
        grades = [g for g, ranges in days.items() for first, last in ranges if first <= on <= last]
        assert max(grades, default=None) == summarize(case.state, at(day)).current_grade, day
    assert days[25] == [] and days[75] == []


def test_a_consent_given_again_at_the_same_instant_is_the_one_shown() -> None:
    case = opened(cert=certificate(last=60))
    for days in (10, 20):
        case.do(GiveConsent(actor=PATIENT, recipient="fk", purpose="contact",
                            valid_until=START + timedelta(days=days)))
    (given, ends) = list_filter_columns(case.state)["consent_windows"]["fk"]["contact"]
    assert datetime.fromisoformat(ends).date() == START + timedelta(days=21)
    assert consents_at(list_filter_columns(case.state)["consent_windows"], at(15)) == {
        "fk": ["contact"]}
