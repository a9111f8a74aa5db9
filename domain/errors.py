"""The one error the domain raises: it names the field, the rule and says it in words, and
every rule has a kind (`RULE_KINDS`), which is all an adapter needs to answer it (the API maps
kinds to HTTP statuses in one place, api/problems.py; docs/problems.md lists the rules)."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """What kind of refusal a rule is."""

    INVALID = "invalid"  # the input breaks a rule; sent again unchanged it is refused again
    CONFLICT = "conflict"  # it clashes with the case's current state (closed, already done)
    FORBIDDEN = "forbidden"  # the actor may not do this
    NOT_FOUND = "not_found"  # what the command addresses does not exist


_INVALID = (
    "answer_not_overdue", "answer_to_own_message", "answer_to_unknown", "answer_topic_mismatch",
    "case_id_mismatch", "certificate_before_sick_period", "chain_link_not_earlier", "certificate_revoked",
    "certificate_unknown", "completion_items_only_on_komplt", "consent_not_needed",
    "consent_required", "control_character", "coordination_declined", "date_in_future",
    "date_out_of_range", "follow_up_not_due", "idempotency_key_reused",
    "komplt_requires_items", "last_answer_date_on_answer", "message_id_duplicate",
    "milestone_not_due", "milestone_unknown", "new_sick_period", "next_follow_up_not_after",
    "not_referred_to_multimodal_team", "not_storable", "notification_unknown",
    "patient_mismatch", "plan_already_established", "plan_missing",
    "relation_unknown_certificate", "reminder_of_only_on_paminn", "reminder_of_unknown",
    "reminder_requires_reference", "text_too_long", "too_many_items",
    "topic_not_allowed_for_care", "valid_until_in_past",
)
_CONFLICT = ("already_answered", "case_already_opened", "case_closed", "certificate_duplicate",
             "sick_period_not_ended")

#: Every rule the domain (and the workflow around it) refuses by, and its kind. A rule not
#: listed counts as INVALID; tests/foundation/test_problem_types.py finds every rule in the
#: code and fails for one missing here or in docs/problems.md.
RULE_KINDS: dict[str, ErrorKind] = {
    **dict.fromkeys(_INVALID, ErrorKind.INVALID),
    **dict.fromkeys(_CONFLICT, ErrorKind.CONFLICT),
    "role_not_allowed": ErrorKind.FORBIDDEN,
    "case_not_opened": ErrorKind.NOT_FOUND,
}


def kind_of(rule: str) -> ErrorKind:
    return RULE_KINDS.get(rule, ErrorKind.INVALID)


class DomainError(Exception):
    """A command broke a rule of the case.

    `field` is a dotted path into the command (``certificate.periods[1].grade``),
    `rule` a short snake_case code an API can map (``grade_not_allowed``), `kind` its
    ErrorKind (from `RULE_KINDS`), and `message` a sentence a clerk understands.
    ``str(err)`` is the message.
    """

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(field, rule, message)  # all three in args, so it pickles
        self.field = field
        self.rule = rule
        self.message = message

    @property
    def kind(self) -> ErrorKind:
        return kind_of(self.rule)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"DomainError(field={self.field!r}, rule={self.rule!r}, message={self.message!r})"
