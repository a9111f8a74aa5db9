"""The one error the domain raises: it names the field, the rule and says it in words."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a rule of the case.

    `field` is a dotted path into the command (``certificate.periods[1].grade``),
    `rule` a short snake_case code an API can map (``grade_not_allowed``), and
    `message` a sentence a clerk understands. ``str(err)`` is the message.
    """

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(field, rule, message)  # all three in args, so it pickles
        self.field = field
        self.rule = rule
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"DomainError(field={self.field!r}, rule={self.rule!r}, message={self.message!r})"
