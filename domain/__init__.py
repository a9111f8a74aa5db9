"""The pure domain core of sjukfall: rules of a Swedish sick-leave case, no I/O, no clock."""

from .commands import Actor, Command
from .consent import consent_allows, consent_check
from .decider import decide, evolve, fold, initial_state
from .errors import DomainError
from .events import Event, event_from_record, event_id_for, event_to_record
from .state import CaseState
from .summary import CaseSummary, summarize
from .timers import Timer, next_timer

__all__ = [
    "Actor",
    "CaseState",
    "CaseSummary",
    "Command",
    "DomainError",
    "Event",
    "Timer",
    "consent_allows",
    "consent_check",
    "decide",
    "event_from_record",
    "event_id_for",
    "event_to_record",
    "evolve",
    "fold",
    "initial_state",
    "next_timer",
    "summarize",
]
