"""The rule condition language, parsed by a tokenizer and a recursive-descent
parser -- never ``eval`` -- so a rules file can only compare known features
with literals::

    condition  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | primary
    primary    := "(" condition ")" | FEATURE [OPERATOR literal]
    OPERATOR   := ">=" | ">" | "<=" | "<" | "==" | "!="
    literal    := NUMBER | "true" | "false"

A bare FEATURE must be a boolean feature (``is_new_player_24h``); a comparison
with a feature whose value is ``None`` (unknown) is false. A condition is at
most 500 characters and nests at most 16 levels, so a rules file cannot make
the parser (or an evaluation) run away.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from shop.fraud.features import FEATURE_TYPES, FeatureValue


class FraudRulesError(ValueError):
    """The rules file (or one condition in it) is invalid; the message names the rule."""


_KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda left, right: left >= right,
    ">": lambda left, right: left > right,
    "<=": lambda left, right: left <= right,
    "<": lambda left, right: left < right,
    "==": lambda left, right: left == right,
    "!=": lambda left, right: left != right,
}
_TOKEN = re.compile(
    r"(?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_\d.]))"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<operator>>=|<=|==|!=|>|<)"
    r"|(?P<paren>[()])"
)
_MAX_CONDITION_LENGTH = 500
_MAX_NESTING = 16


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "keyword", "operator", "paren", "end"
    text: str
    column: int  # 1-based, for error messages


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        if source[position].isspace():
            position += 1
            continue
        match = _TOKEN.match(source, position)
        if match is None:
            raise FraudRulesError(f"unexpected character {source[position]!r} at column {position + 1}")
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "name" and text in _KEYWORDS:
            kind = "keyword"
        tokens.append(_Token(kind, text, position + 1))
        position = match.end()
    tokens.append(_Token("end", "", len(source) + 1))
    return tokens


class Condition(Protocol):
    def holds(self, features: Mapping[str, FeatureValue]) -> bool: ...


@dataclass(frozen=True)
class _Compare:
    feature: str
    operator: str
    value: float | bool

    def holds(self, features: Mapping[str, FeatureValue]) -> bool:
        actual = features.get(self.feature)
        if actual is None:
            return False
        return _COMPARISONS[self.operator](actual, self.value)


@dataclass(frozen=True)
class _Flag:
    feature: str

    def holds(self, features: Mapping[str, FeatureValue]) -> bool:
        return features.get(self.feature) is True


@dataclass(frozen=True)
class _Not:
    operand: Condition

    def holds(self, features: Mapping[str, FeatureValue]) -> bool:
        return not self.operand.holds(features)


@dataclass(frozen=True)
class _All:
    operands: tuple[Condition, ...]

    def holds(self, features: Mapping[str, FeatureValue]) -> bool:
        return all(operand.holds(features) for operand in self.operands)


@dataclass(frozen=True)
class _Any:
    operands: tuple[Condition, ...]

    def holds(self, features: Mapping[str, FeatureValue]) -> bool:
        return any(operand.holds(features) for operand in self.operands)


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _describe(self, token: _Token) -> str:
        return "end of condition" if token.kind == "end" else f"{token.text!r} at column {token.column}"

    def _at_keyword(self, word: str) -> bool:
        return self.current.kind == "keyword" and self.current.text == word

    def parse(self) -> Condition:
        if self.current.kind == "end":
            raise FraudRulesError("empty condition")
        condition = self._or()
        if self.current.kind != "end":
            raise FraudRulesError(f"unexpected {self._describe(self.current)}; expected 'and', 'or' or the end")
        return condition

    def _or(self) -> Condition:
        operands = [self._and()]
        while self._at_keyword("or"):
            self._advance()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else _Any(tuple(operands))

    def _and(self) -> Condition:
        operands = [self._not()]
        while self._at_keyword("and"):
            self._advance()
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else _All(tuple(operands))

    def _not(self) -> Condition:
        if self._at_keyword("not"):
            self._advance()
            return _Not(self._nested(self._not))
        return self._primary()

    def _nested(self, parse: Callable[[], Condition]) -> Condition:
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise FraudRulesError(f"condition nested deeper than {_MAX_NESTING} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    def _primary(self) -> Condition:
        token = self._advance()
        if token.kind == "paren" and token.text == "(":
            condition = self._nested(self._or)
            closing = self._advance()
            if closing.text != ")":
                raise FraudRulesError(
                    f"expected ')' to close the '(' at column {token.column}, got {self._describe(closing)}"
                )
            return condition
        if token.kind != "name":
            raise FraudRulesError(f"expected a feature name, got {self._describe(token)}")
        feature = token.text
        feature_type = FEATURE_TYPES.get(feature)
        if feature_type is None:
            raise FraudRulesError(
                f"unknown feature {feature!r} at column {token.column} (known: {', '.join(sorted(FEATURE_TYPES))})"
            )
        if self.current.kind != "operator":
            if feature_type != "bool":
                raise FraudRulesError(f"{feature!r} is a number: compare it (e.g. '{feature} >= 5'), not use it alone")
            return _Flag(feature)
        operator = self._advance().text
        literal = self._advance()
        if feature_type == "bool":
            if literal.kind != "keyword" or literal.text not in {"true", "false"} or operator not in {"==", "!="}:
                raise FraudRulesError(f"{feature!r} is a boolean: use it alone, with 'not', or with == true/false")
            return _Compare(feature, operator, literal.text == "true")
        if literal.kind != "number":
            raise FraudRulesError(f"expected a number after '{feature} {operator}', got {self._describe(literal)}")
        number = float(literal.text) if "." in literal.text else int(literal.text)
        return _Compare(feature, operator, number)


def fraud_condition_parse(source: str) -> Condition:
    """Parse one ``when`` condition; raises :class:`FraudRulesError` on anything
    outside the grammar in this module's docstring (it never evaluates code)."""
    if len(source) > _MAX_CONDITION_LENGTH:
        raise FraudRulesError(f"condition longer than {_MAX_CONDITION_LENGTH} characters")
    return _Parser(source).parse()
