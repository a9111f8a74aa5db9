"""Every rule the code refuses by has a kind (so a status, in one place) and a documented
problem type: a new rule cannot silently become a 422 nobody wrote down."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from api.problems import API_RULE_KINDS, HTTP_RULES, STATUS_BY_KIND, refusal, rule_kind
from domain.errors import RULE_KINDS, DomainError, ErrorKind

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "workflows", "activities", "api", "fk", "store", "sjukfall")


def rules_in_code() -> dict[str, str]:
    """Each rule literal: `DomainError(field, "rule", ...)`, `refusal(field, "rule", ...)`,
    domain/fk.py's `fail(field, "rule", ...)` and `{"rule": "..."}`; with where it is."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                    if name in ("DomainError", "refusal", "fail") and len(node.args) > 1:
                        rule = node.args[1]
                        if isinstance(rule, ast.Constant) and isinstance(rule.value, str):
                            found.setdefault(rule.value, where)
                elif isinstance(node, ast.Dict):
                    for key, value in zip(node.keys, node.values, strict=True):
                        if (isinstance(key, ast.Constant) and key.value == "rule"
                                and isinstance(value, ast.Constant)):
                            found.setdefault(str(value.value), where)
    return found


def test_every_rule_in_the_code_has_a_kind() -> None:
    found = rules_in_code()
    assert len(found) > 40  # the scan sees the rules
    known = set(RULE_KINDS) | set(API_RULE_KINDS) | set(HTTP_RULES)
    missing = {rule: where for rule, where in found.items() if rule not in known}
    assert not missing, f"give these rules a kind (domain/errors.py or api/problems.py): {missing}"


def test_every_rule_is_documented_with_its_kind_and_status() -> None:
    table = (ROOT / "docs/problems.md").read_text(encoding="utf-8")
    rows = {m.group(1): (m.group(2), int(m.group(3)))
            for m in re.finditer(r"^\| `([a-z_]+)` \| ([a-z_()0-9]+) \| (\d{3}) \|", table, re.M)}
    expected = {rule: (kind.value, STATUS_BY_KIND[kind])
                for rule, kind in {**RULE_KINDS, **API_RULE_KINDS}.items()}
    expected |= {rule: (f"({status})", status) for rule, status in HTTP_RULES.items()}
    assert rows == expected


def test_a_refusal_takes_its_status_from_the_kind() -> None:
    assert DomainError("case_id", "case_closed", "closed").kind is ErrorKind.CONFLICT
    assert DomainError("role", "role_not_allowed", "no").kind is ErrorKind.FORBIDDEN
    assert DomainError("case_id", "case_not_opened", "no").kind is ErrorKind.NOT_FOUND
    assert DomainError("x", "plan_missing", "no").kind is ErrorKind.INVALID
    assert rule_kind("unit_not_allowed") is ErrorKind.FORBIDDEN
    statuses = {rule: refusal("f", rule, "m").status
                for rule in ("case_closed", "certificate_in_other_case", "role_not_allowed",
                             "unit_not_allowed", "case_not_opened", "plan_missing")}
    assert statuses == {"case_closed": 409, "certificate_in_other_case": 409,
                        "role_not_allowed": 403, "unit_not_allowed": 403,
                        "case_not_opened": 404, "plan_missing": 422}
