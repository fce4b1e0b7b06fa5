"""A structural validator for compact functional LRML.

Rules translated to LegalRuleML in the compact functional notation look like::

    if(and(has(space,naturalVentilation),greaterThan(space.occupantLoad,0))),then(obligation(...))

The validator is permissive with atoms (identifiers, numbers, dotted names, units such as
``2.4m`` or ``5%``, quoted strings) and strict on structure: every bracket belongs to a
``name(arg, ...)`` call, arguments are separated by single commas, parentheses balance,
strings are closed, and the whole text is one call or an ``if(...)`` followed by ``then(...)``
(optionally ``else(...)``), separated by commas or whitespace.

A term may be several atoms separated by whitespace, as the NZBC rules write quantities, ranges
and grades (``350 mm``, ``nzbc_b1as1_t14 to nzbc_b1as1_t17``, ``12 gauge``: 236 of the 663 rules
of the NZBC-LRML dataset have one); the atoms of such a term are joined by one space. The grammar
``data/grammars/lrml.gbnf`` declares the same language for constrained decoding
(docs/rule_format.md, "LRML").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<open>\()
  | (?P<close>\))
  | (?P<comma>,)
  | (?P<atom>[^\s(),"']+)
    """,
    re.VERBOSE | re.DOTALL,
)
_NAME_RE = re.compile(r"^[A-Za-z_][\w.:\-]*$")


class LRMLSyntaxError(ValueError):
    """Text that is not well-formed compact LRML; the message says why."""


@dataclass(frozen=True)
class Node:
    """A parsed atom (``args is None``) or call ``name(args...)``."""

    name: str
    args: tuple[Node, ...] | None = None


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens without whitespace; an unclosed quote is an error."""
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:  # only an unterminated quote can fail to match
            raise LRMLSyntaxError(f"unterminated string at column {position}")
        if match.lastgroup != "space":
            tokens.append((match.lastgroup, match.group()))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the token list (expr := call | term | string; call := NAME '(' args ')';
    term := atom+)."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index][0] if self.index < len(self.tokens) else None

    def take(self, kind: str) -> str:
        if self.peek() != kind:
            found = self.tokens[self.index][1] if self.index < len(self.tokens) else "end of text"
            raise LRMLSyntaxError(f"expected {kind} at token {self.index}, found {found!r}")
        value = self.tokens[self.index][1]
        self.index += 1
        return value

    def expression(self) -> Node:
        kind = self.peek()
        if kind == "string":
            return Node(self.take("string"))
        if kind != "atom":
            raise LRMLSyntaxError(f"expected a call or an atom at token {self.index}")
        name = self.take("atom")
        while self.peek() == "atom":  # a term of several words: "350 mm"
            name = f"{name} {self.take('atom')}"
        if self.peek() != "open":
            return Node(name)
        if not _NAME_RE.match(name):
            raise LRMLSyntaxError(f"{name!r} cannot name a call")
        self.take("open")
        args: list[Node] = []
        if self.peek() != "close":
            args.append(self.expression())
            while self.peek() == "comma":
                self.take("comma")
                args.append(self.expression())
        self.take("close")
        return Node(name, tuple(args))


def parse_lrml(text: str) -> list[Node]:
    """Top-level calls of an LRML text; raise LRMLSyntaxError on any structural problem."""
    parser = _Parser(tokenize(text))
    if parser.peek() is None:
        raise LRMLSyntaxError("empty text")
    nodes = [parser.expression()]
    while parser.peek() is not None:
        if parser.peek() == "comma":
            parser.take("comma")
        nodes.append(parser.expression())
    _check_top_level(nodes)
    return nodes


def _check_top_level(nodes: list[Node]) -> None:
    """One call, or if(...) then(...) [else(...)]."""
    if any(node.args is None for node in nodes):
        raise LRMLSyntaxError("top level must consist of calls, not bare atoms")
    names = [node.name.lower() for node in nodes]
    if len(nodes) == 1 or names in (["if", "then"], ["if", "then", "else"]):
        return
    raise LRMLSyntaxError(f"top level must be one call or if(...),then(...); found {names}")


def is_valid_lrml(text: str) -> bool:
    """True when ``text`` is structurally valid compact LRML."""
    try:
        parse_lrml(text)
    except LRMLSyntaxError:
        return False
    return True
