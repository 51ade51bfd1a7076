"""Label and field selectors: parsing (Kubernetes' grammar and messages) and matching.

Label selectors (``labelSelector=``): ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``,
``k notin (a)``, ``k``, ``!k`` and Kubernetes' ``k>1`` / ``k<1``, comma meaning AND,
whitespace between tokens ignored; keys and values are validated like label keys and values.
The lexer and parser follow ``k8s.io/apimachinery/pkg/labels/selector.go`` step by step so
that the same inputs fail with the same messages.

Field selectors (``fieldSelector=``): ``f=v``, ``f==v``, ``f!=v``, comma meaning AND, with
``\\``, ``\\,`` and ``\\=`` escapes in values (``k8s.io/apimachinery/pkg/fields``); only the
fields a resource supports are accepted (``field_labels``), and ``fields_for`` extracts them
from an object the way each resource's ``ToSelectableFields`` does.

Every malformed selector raises ``errors.BadRequest`` (a 400 for the apiserver) and nothing
else. This module does not evaluate selectors against storage; callers match objects.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from servers.apimachinery import _goformat, _labelparser, field
from servers.apimachinery.errors import BadRequest
from servers.apimachinery.selectable import field_labels, fields_for
from servers.apimachinery.validation import is_qualified_name, is_valid_label_value

__all__ = [
    "EVERYTHING", "NOTHING", "FieldSelector", "FieldTerm", "LabelSelector", "Requirement",
    "escape_field_value", "field_labels", "fields_for", "label_selector_from_dict",
    "label_selector_from_object", "parse_field_selector", "parse_label_selector",
]

# selection.Operator values.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_SPELLING = {EQUALS: "=", DOUBLE_EQUALS: "==", NOT_EQUALS: "!=", IN: " in ", NOT_IN: " notin ",
             GREATER_THAN: ">", LESS_THAN: "<"}
_INT64 = re.compile(r"[+-]?[0-9]+")


def _parse_int64(text: str) -> int | None:
    # strconv.ParseInt(text, 10, 64): no spaces, no underscores, in range.
    if not _INT64.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """One ``key <operator> values`` term; ``values`` are sorted and unique."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this term (``Requirement.Matches``)."""
        present = self.key in labels
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if self.operator in (EXISTS, DOES_NOT_EXIST):
            return present == (self.operator == EXISTS)
        return present and self._compare(labels[self.key])

    def _compare(self, label: str) -> bool:
        have = _parse_int64(label)
        want = _parse_int64(self.values[0]) if len(self.values) == 1 else None
        if have is None or want is None:
            return False
        return have > want if self.operator == GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.operator in (EXISTS, DOES_NOT_EXIST):
            return ("!" if self.operator == DOES_NOT_EXIST else "") + self.key
        values = ",".join(self.values)
        if self.operator in (IN, NOT_IN):
            values = f"({values})"
        return f"{self.key}{_SPELLING[self.operator]}{values}"


@dataclass(frozen=True)
class LabelSelector:
    """An AND of requirements sorted by key; no requirements selects everything.

    ``str()`` is Kubernetes' canonical form (``app=web,tier in (a,b)``), which
    ``parse_label_selector`` reads back to an equal selector.
    """

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected (``None`` means no labels)."""
        if self.nothing:
            return False
        present = labels or {}
        return all(requirement.matches(present) for requirement in self.requirements)

    def empty(self) -> bool:
        """True if the selector does not restrict anything (selects every object)."""
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


# -- building requirements (labels.NewRequirement) -------------------------------------------

def _value_causes(key: str, values: Sequence[str]) -> list[field.Cause]:
    causes = []
    for index, value in enumerate(values):
        errs = is_valid_label_value(value)
        if errs:
            causes.append(field.invalid(f"values[{index}][{key}]", value, "; ".join(errs)))
    return causes


def _operator_causes(operator: str, values: Sequence[str]) -> list[field.Cause]:
    if operator in (IN, NOT_IN) and not values:
        return [field.invalid("values", list(values),
                              "for 'in', 'notin' operators, values set can't be empty")]
    if operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        return [field.invalid("values", list(values),
                              "exact-match compatibility requires one single value")]
    if operator in (EXISTS, DOES_NOT_EXIST) and values:
        return [field.invalid("values", list(values),
                              "values set must be empty for exists and does not exist")]
    if operator not in (GREATER_THAN, LESS_THAN):
        return []
    causes = []
    if len(values) != 1:
        causes.append(field.invalid("values", list(values),
                                    "for 'Gt', 'Lt' operators, exactly one value is required"))
    causes.extend(field.invalid(f"values[{index}]", value,
                                "for 'Gt', 'Lt' operators, the value must be an integer")
                  for index, value in enumerate(values) if _parse_int64(value) is None)
    return causes


def _key_cause(key: str, path: str) -> field.Cause | None:
    errs = is_qualified_name(key)
    return field.invalid(path, key, "; ".join(errs)) if errs else None


def _requirement(key: str, operator: str, values: Sequence[str]) -> Requirement:
    """``labels.NewRequirement``: validate and build, or raise ``BadRequest``."""
    ordered = tuple(sorted(set(values)))
    key_cause = _key_cause(key, "key")
    causes = [key_cause] if key_cause else []
    causes += _operator_causes(operator, ordered)
    causes += _value_causes(key, ordered)
    if causes:
        raise BadRequest(field.aggregate([cause.error() for cause in causes]))
    return Requirement(key, operator, ordered)


def _selector(requirements: Sequence[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda requirement: requirement.key)))


def label_selector_from_dict(match_labels: Mapping[str, str] | None) -> LabelSelector:
    """The selector ``k1=v1,k2=v2`` for an RC's or a Service's ``spec.selector`` map.

    An empty or missing map selects everything (``labels.SelectorFromSet``); callers that
    want "nothing" for an empty selector (Services) check ``empty()``. Invalid keys or values
    raise ``BadRequest``.
    """
    return _selector(_equalities({} if match_labels is None else match_labels))


def _equalities(match_labels: object) -> list[Requirement]:
    return [_requirement(_text(key), EQUALS, [_text(value)])
            for key, value in _mapping(match_labels).items()]


_EXPRESSION_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS,
                         "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_object(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a ``metav1.LabelSelector`` (``matchLabels`` + ``matchExpressions``).

    ``None`` selects nothing, ``{}`` everything (``metav1.LabelSelectorAsSelector``).
    Raises ``BadRequest`` for unknown operators, invalid keys or values, or ill-typed members.
    """
    if selector is None:
        return NOTHING
    selector = _mapping(selector)
    match_labels = _member(selector, "matchLabels", Mapping, {})
    expressions = _member(selector, "matchExpressions", list, [])
    requirements = _equalities(match_labels)
    requirements += [_expression(expression) for expression in expressions]
    return _selector(requirements)


def _mapping(obj: object) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        msg = f"invalid label selector: expected an object, got {obj!r}"
        raise BadRequest(msg)
    return obj


def _member(obj: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    member = obj.get(name)
    if member is None:
        return default
    if not isinstance(member, kind):
        msg = f"invalid label selector: {name} has the wrong type"
        raise BadRequest(msg)
    return member


def _text(value: object) -> str:
    if not isinstance(value, str):
        msg = f"invalid label selector: expected a string, got {value!r}"
        raise BadRequest(msg)
    return value


def _expression(expression: object) -> Requirement:
    expression = _mapping(expression)
    values = _member(expression, "values", list, [])
    operator = _text(expression.get("operator"))
    if operator not in _EXPRESSION_OPERATORS:
        msg = f"{_goformat.quote(operator)} is not a valid label selector operator"
        raise BadRequest(msg)
    return _requirement(_text(expression.get("key")), _EXPRESSION_OPERATORS[operator],
                        [_text(value) for value in values])


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a ``labelSelector`` query value (``labels.Parse``).

    ``""`` selects everything. Raises ``BadRequest`` with Kubernetes' message, for example
    ``unable to parse requirement: found '', expected: in, notin, =, ==, !=, gt, lt``.
    """
    return _selector(_labelparser.parse(text, _requirement))


# -- field selectors (k8s.io/apimachinery/pkg/fields/selector.go) ---------------------------

@dataclass(frozen=True)
class FieldTerm:
    """``field=value`` (or ``field!=value`` when ``negated``); the value is unescaped."""

    field: str
    value: str
    negated: bool = False

    def matches(self, fields: Mapping[str, str]) -> bool:
        """A field the object does not have counts as ``""`` (``fields.Set.Get``)."""
        return (fields.get(self.field, "") == self.value) != self.negated

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negated else '='}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of field terms; no terms selects everything."""

    terms: tuple[FieldTerm, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether an object with these selectable fields (see ``fields_for``) is selected."""
        return all(term.matches(fields) for term in self.terms)

    def empty(self) -> bool:
        """True if the selector does not restrict anything."""
        return not self.terms

    def requires_exact_match(self, name: str) -> str | None:
        """The value ``name`` must equal, if a ``name=value`` term says so (else ``None``).

        Lets the apiserver turn ``metadata.name=web`` into a single get.
        """
        for term in self.terms:
            if term.field == name and not term.negated:
                return term.value
        return None

    def __str__(self) -> str:
        return ",".join(str(term) for term in self.terms)


_TERM_OPERATORS = ("!=", "==", "=")  # "==" before "=" so no "=" is left on the value


def escape_field_value(value: str) -> str:
    """Escape ``\\``, ``,`` and ``=`` in a field selector value (``fields.EscapeValue``)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape(value: str) -> str:
    if not any(ch in value for ch in "\\,="):
        return value
    out: list[str] = []
    escaping = False
    for ch in value:
        if escaping:
            if ch not in "\\,=":
                msg = f"invalid field selector: invalid escape sequence: \\{ch}"
                raise BadRequest(msg)
            out.append(ch)
            escaping = False
        elif ch == "\\":
            escaping = True
        elif ch in ",=":
            # Go prints the rune with %v, which is its number.
            msg = f"invalid field selector: unescaped character in value: {ord(ch)}"
            raise BadRequest(msg)
        else:
            out.append(ch)
    if escaping:
        raise BadRequest("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    # Split on commas that are not escaped; the escapes stay in the terms.
    terms, start, escaping = [], 0, False
    for index, ch in enumerate(text):
        if escaping:
            escaping = False
        elif ch == "\\":
            escaping = True
        elif ch == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The first operator wins: the field part has no escaping.
    for index in range(len(term)):
        for operator in _TERM_OPERATORS:
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator):]
    return None


def parse_field_selector(text: str, allowed: Collection[str]) -> FieldSelector:
    """Parse a ``fieldSelector`` query value, accepting only the fields in ``allowed``.

    ``""`` selects everything. Raises ``BadRequest``: ``invalid selector: 'x'; can't
    understand 'x'`` for a term without an operator, an escape error, or
    ``field label not supported: foo`` for a field the resource does not have (checked in
    sorted term order after the whole selector parsed, as kube-apiserver does).
    """
    terms = []
    for part in sorted(_split_terms(text) if text else []):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            msg = f"invalid selector: '{text}'; can't understand '{part}'"
            raise BadRequest(msg)
        name, operator, value = split
        terms.append(FieldTerm(name, _unescape(value), negated=operator == "!="))
    for term in terms:
        if term.field not in allowed:
            msg = f"field label not supported: {term.field}"
            raise BadRequest(msg)
    return FieldSelector(tuple(terms))
