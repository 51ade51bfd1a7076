"""The label selector lexer and parser, step for step as Kubernetes' ``labels/selector.go``.

Kept apart from ``selectors`` because fidelity is the point: the same input must fail at the
same token with the same words (``found ',', expected: identifier after ','``), including
Go's quirks (a NUL ends the input; ``in``/``notin`` are identifiers where values are
expected). Requirements are built through a callback so that a bad value is reported before
a later syntax error, as upstream does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

from servers.apimachinery.errors import BadRequest
from servers.apimachinery.field import invalid
from servers.apimachinery.validation import is_qualified_name

T = TypeVar("T")
Build = Callable[[str, str, list[str]], T]
"""``build(key, operator, values)`` makes a requirement or raises ``BadRequest``."""

# Token kinds: the literal for operators and punctuation, plus these three.
ID, END, ERROR = "identifier", "end", "error"
_TOKENS = frozenset({")", ",", "!", "==", "=", ">", "in", "<", "!=", "notin", "("})
_KEYWORDS = frozenset({"in", "notin"})
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_NUL = "\0"  # what Go's Lexer.read() returns at the end, and for a NUL byte
_OPERATORS = {"in": "in", "notin": "notin", "=": "=", "==": "==", "!=": "!=", ">": "gt",
              "<": "lt"}
_BINARY = "in, notin, =, ==, !=, gt, lt"

Token = tuple[str, str]  # (kind, literal)


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def read(self) -> str:
        if self.pos >= len(self.text):
            return _NUL
        self.pos += 1
        return self.text[self.pos - 1]

    def unread(self) -> None:
        self.pos -= 1

    def lex(self) -> Token:
        ch = self.read()
        while ch in _WHITESPACE:
            ch = self.read()
        if ch == _NUL:
            return END, ""
        self.unread()
        return self._special() if ch in _SPECIAL else self._identifier()

    def _identifier(self) -> Token:
        buffer = []
        while (ch := self.read()) != _NUL:
            if ch in _SPECIAL or ch in _WHITESPACE:
                self.unread()
                break
            buffer.append(ch)
        literal = "".join(buffer)
        return (literal if literal in _KEYWORDS else ID), literal

    def _special(self) -> Token:
        buffer, last = "", ""
        while (ch := self.read()) != _NUL:
            if ch not in _SPECIAL:
                self.unread()
                break
            buffer += ch
            if buffer in _TOKENS:
                last = buffer
            elif last:
                self.unread()
                break
        if not last:
            return ERROR, f"error expected: keyword found '{buffer}'"
        return last, last


def _scan(text: str) -> list[Token]:
    lexer, tokens = _Lexer(text), []
    while True:
        tokens.append(lexer.lex())
        if tokens[-1][0] == END:
            return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _scan(text)
        self.position = 0

    def lookahead(self, values: bool = True) -> Token:
        kind, literal = self.tokens[min(self.position, len(self.tokens) - 1)]
        return (ID if values and kind in _KEYWORDS else kind), literal

    def consume(self, values: bool = True) -> Token:
        token = self.lookahead(values)
        self.position += 1
        return token

    def parse(self, build: Build[T]) -> list[T]:
        requirements: list[T] = []
        while True:
            kind, literal = self.lookahead()
            if kind == END:
                return requirements
            if kind not in (ID, "!"):
                _fail(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement(build))
            except (_SyntaxError, BadRequest) as err:
                _fail(f"unable to parse requirement: {err}")
            kind, literal = self.consume()
            if kind == END:
                return requirements
            if kind != ",":
                _fail(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self.lookahead()
            if kind not in (ID, "!"):
                _fail(f"found '{literal}', expected: identifier after ','")

    def requirement(self, build: Build[T]) -> T:
        key, operator = self.key_and_inferred_operator()
        if operator:
            return build(key, operator, [])
        operator = self.operator()
        values = self.value_set() if operator in ("in", "notin") else self.exact_value()
        return build(key, operator, values)

    def key_and_inferred_operator(self) -> tuple[str, str]:
        operator = ""
        kind, literal = self.consume()
        if kind == "!":
            operator = "!"
            kind, literal = self.consume()
        if kind != ID:
            _fail(f"found '{literal}', expected: identifier")
        errs = is_qualified_name(literal)
        if errs:
            # Upstream validates the key against a nil field path, hence "<nil>".
            _fail(invalid("<nil>", literal, "; ".join(errs)).error())
        if not operator and self.lookahead()[0] in (END, ","):
            operator = "exists"
        return literal, operator

    def operator(self) -> str:
        kind, literal = self.consume(values=False)
        if kind not in _OPERATORS:
            _fail(f"found '{literal}', expected: {_BINARY}")
        return _OPERATORS[kind]

    def value_set(self) -> list[str]:
        kind, literal = self.consume()
        if kind != "(":
            _fail(f"found '{literal}' expected: '('")
        kind, literal = self.lookahead()
        if kind == ")":
            self.consume()
            return [""]
        if kind not in (ID, ","):
            _fail(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.consume()[0] != ")":
            _fail(f"found '{literal}', expected: ')'")
        return values

    def identifiers(self) -> list[str]:
        values: list[str] = []
        while True:
            kind, literal = self.consume()
            if kind == ID:
                values.append(literal)
                next_kind, next_literal = self.lookahead()
                if next_kind == ")":
                    return values
                if next_kind != ",":
                    _fail(f"found '{next_literal}', expected: ',' or ')'")
            elif kind == ",":
                if self._empty_values(values):
                    return values
            else:
                _fail(f"found '{literal}', expected: ',', or identifier")

    def _empty_values(self, values: list[str]) -> bool:
        # "(,", ",)" and ",," all stand for the empty value; True when the list is closed.
        if not values:
            values.append("")
        next_kind = self.lookahead()[0]
        if next_kind == ")":
            values.append("")
            return True
        if next_kind == ",":
            self.consume()
            values.append("")
        return False

    def exact_value(self) -> list[str]:
        if self.lookahead()[0] in (END, ","):
            return [""]
        kind, literal = self.consume()
        if kind != ID:
            _fail(f"found '{literal}', expected: identifier")
        return [literal]


class _SyntaxError(Exception):
    pass


def _fail(message: str) -> NoReturn:
    raise _SyntaxError(message)


def parse(text: str, build: Build[T]) -> list[T]:
    """Parse ``text`` into requirements made by ``build``; raise ``BadRequest`` if malformed."""
    try:
        return _Parser(text).parse(build)
    except _SyntaxError as err:
        raise BadRequest(str(err)) from None
