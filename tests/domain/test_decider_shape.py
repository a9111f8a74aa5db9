"""The decider's dispatch is complete: every command has its roles and a subdomain, every event
an `evolve` (mypy checks the `match` statements with assert_never; this checks the tables)."""

from __future__ import annotations

import typing

from domain.commands import Command
from domain.decider import ALLOWED_ROLES
from domain.events import Event


def members(union: object) -> set[type]:
    return set(typing.get_args(typing.get_args(union)[0]))


def test_every_command_class_has_its_roles() -> None:
    assert set(ALLOWED_ROLES) == members(Command)


def test_every_event_is_evolved_by_a_subdomain() -> None:
    from domain.deciders import case, certificates, consents, coordination, duties, fk_messaging

    aliases = [case.CaseEvent, certificates.CertificatesEvent, consents.ConsentsEvent,
               coordination.CoordinationEvent, fk_messaging.FkMessagingEvent, duties.DutiesEvent]
    covered = [cls for alias in aliases for cls in typing.get_args(alias)]
    assert sorted(c.__name__ for c in covered) == sorted(c.__name__ for c in members(Event))
