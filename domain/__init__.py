"""The pure domain core of sjukfall: rules of a Swedish sick-leave case, no I/O, no clock."""

from .commands import Actor, Command
from .decider import apply_in_place, decide, evolve, fold, initial_state
from .errors import DomainError, ErrorKind
from .events import Event, event_from_record, event_id_for, event_to_record
from .measures import Measures, compute_measures, kva_registrations
from .rules import CURRENT, RELEASED, Rules
from .state import CaseState, consent_allows, consent_check
from .summary import CaseSummary, patient_identity_for, summarize
from .timers import Timer, next_timer

__all__ = [
    "CURRENT",
    "RELEASED",
    "Actor",
    "CaseState",
    "CaseSummary",
    "Command",
    "DomainError",
    "ErrorKind",
    "Event",
    "Measures",
    "Rules",
    "Timer",
    "apply_in_place",
    "compute_measures",
    "consent_allows",
    "consent_check",
    "decide",
    "event_from_record",
    "event_id_for",
    "event_to_record",
    "evolve",
    "fold",
    "initial_state",
    "kva_registrations",
    "next_timer",
    "patient_identity_for",
    "summarize",
]
