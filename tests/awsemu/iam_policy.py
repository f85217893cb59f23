"""IAM identity-policy evaluation (pure: no moto, no I/O).

One question: may a principal whose identity policies are `documents` perform `check` (one action on
one resource, with the request's condition context)? AWS's answer, as far as identity policies go:
an explicit Deny in any statement wins; otherwise some Allow statement must match the action, the
resource and every condition; otherwise the request is implicitly denied. Resource-based policies,
permission boundaries, SCPs and session policies are not modelled (nothing here uses them).

Matching follows AWS's documented rules:
  Action/NotAction     case-insensitive, `*` and `?` wildcards;
  Resource/NotResource case-sensitive, `*` and `?` wildcards (an action without resource-level
                       permissions is checked against "*", which only a "*" statement matches);
  Condition            every operator block and every key in it must hold (AND), any of a key's
                       values may match (OR); key names are case-insensitive. `...IfExists` holds
                       when the key is absent; a negated operator (StringNotEquals, ...) holds when
                       the key is absent, any other operator does not; `Null` tests presence;
                       `ForAnyValue:`/`ForAllValues:` qualify multi-valued keys (aws:TagKeys).
An operator this module does not know makes its statement not match (fail closed) rather than
match, so a policy relying on it is denied here, never silently allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


@dataclass(frozen=True)
class Check:
    """One authorisation a request needs: `action` ("ec2:CreateFleet") on `resource` (an ARN or
    "*"), with condition context keys (lower-case) mapped to their values."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@lru_cache(maxsize=4096)
def _glob(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    # IAM wildcards are only * and ? (no [..] classes as in fnmatch).
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def _like(value: str, pattern: str, case_sensitive: bool = True) -> bool:
    return _glob(pattern, case_sensitive).match(value) is not None


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(actual: str, expected: str) -> bool:
        a, e = _number(actual), _number(expected)
        return a is not None and e is not None and compare(a, e)

    return match


_MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "stringequals": lambda a, e: a == e,
    "stringequalsignorecase": lambda a, e: a.lower() == e.lower(),
    "stringlike": lambda a, e: _like(a, e),
    "arnequals": lambda a, e: _like(a, e),
    "arnlike": lambda a, e: _like(a, e),
    "bool": lambda a, e: a.lower() == e.lower(),
    "numericequals": _numeric(lambda a, e: a == e),
    "numericlessthan": _numeric(lambda a, e: a < e),
    "numericlessthanequals": _numeric(lambda a, e: a <= e),
    "numericgreaterthan": _numeric(lambda a, e: a > e),
    "numericgreaterthanequals": _numeric(lambda a, e: a >= e),
}
# Negated operator -> the operator it negates.
_NEGATED: dict[str, str] = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
    "numericnotequals": "numericequals",
}


def _operator_holds(operator: str, key: str, expected: list[str],
                    context: Mapping[str, tuple[str, ...]]) -> bool:
    qualifier, _, name = operator.rpartition(":")
    qualifier, name = qualifier.lower(), name.lower()
    if_exists = name.endswith("ifexists")
    if if_exists:
        name = name[: -len("ifexists")]
    values = context.get(key.lower())
    if name == "null":
        absent = values is None
        return any(e.lower() == ("true" if absent else "false") for e in expected)
    negated = name in _NEGATED
    match = _MATCHERS.get(_NEGATED.get(name, name))
    if match is None or qualifier not in ("", "foranyvalue", "forallvalues"):
        return False
    if values is None:
        if if_exists or qualifier == "forallvalues":
            return True
        return negated and qualifier == ""

    def one(value: str) -> bool:
        hit = any(match(value, e) for e in expected)
        return not hit if negated else hit

    if qualifier == "forallvalues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def conditions_hold(block: Mapping[str, Any] | None, context: Mapping[str, tuple[str, ...]]) -> bool:
    for operator, keys in (block or {}).items():
        if not isinstance(keys, Mapping):
            return False
        for key, expected in keys.items():
            if not _operator_holds(operator, key, _as_list(expected), context):
                return False
    return True


def _element_matches(statement: Mapping[str, Any], positive: str, negative: str, value: str,
                     case_sensitive: bool) -> bool:
    if positive in statement:
        return any(_like(value, p, case_sensitive) for p in _as_list(statement[positive]))
    if negative in statement:
        return not any(_like(value, p, case_sensitive) for p in _as_list(statement[negative]))
    return False


def _statement_applies(statement: Mapping[str, Any], check: Check) -> bool:
    return (
        _element_matches(statement, "Action", "NotAction", check.action, case_sensitive=False)
        and _element_matches(statement, "Resource", "NotResource", check.resource, case_sensitive=True)
        and conditions_hold(statement.get("Condition"), check.context)
    )


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    body = document.get("Statement", [])
    return [body] if isinstance(body, Mapping) else [s for s in body if isinstance(s, Mapping)]


def decide(documents: Iterable[Mapping[str, Any]], check: Check) -> Decision:
    allowed = False
    for document in documents:
        for statement in statements(document):
            if not _statement_applies(statement, check):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            if statement.get("Effect") == "Allow":
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY

