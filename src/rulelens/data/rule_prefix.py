"""Can a partly written rule still become a valid one? (docs/rule_format.md, "Constrained decoding")

Constrained decoding (:mod:`rulelens.evaluation.constrained`) asks this of the model's preferred
next token at every step. The answer is *sound*: :func:`prefix_problem` names a problem only
when no continuation of the text can parse as a rule under :func:`rulelens.data.rule_format.parse_rule`;
where a continuation might still work it answers None. Soundness is what makes the
unconstrained validity computable from the constrained run: a rule the constraint never
changed is exactly the model's own greedy rule, and one it changed would have been invalid.

The check is lexical and structural, in one pass over the text:

* the text starts with ``rule(``; the first argument is a string, the second an entity of the
  vocabulary followed by ``,``, the others ``when=`` and ``require=`` (each at most once);
* every complete name outside attributes is an entity, a helper, ``True``/``False``/``None`` or
  a keyword the format allows (``and or not in``), and the name being written is the start of
  one; an attribute follows an entity name (no chains) and is lower_snake_case;
* a call's callee is a helper; brackets close in order; no operator, keyword or character the
  format forbids (``%``, ``:``, ``**``, ``if``, ``is``, ``#``, a backslash, non-ASCII outside
  strings, ...); two operands never follow each other without an operator.

Syntax the model never writes but Python accepts (a parenthesised subject, a call through a
parenthesised helper, ``**`` in a helper's arguments) is let through rather than checked.
"""

from __future__ import annotations

import copy
import keyword
import re
from dataclasses import dataclass, field

from rulelens.data.rule_format import ENTITIES, HELPERS

CONSTANTS = frozenset({"True", "False", "None"})
OPERAND_WORDS = ENTITIES | HELPERS | CONSTANTS
RULE_KEYWORDS = ("when", "require")
_BINARY_WORDS = frozenset({"and", "or", "in"})
_ATTRIBUTE_RE = re.compile(r"[a-z][a-z0-9_]*")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"0[xXoObB][0-9a-fA-F_]*|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?[\d_]*)?[jJ]?")
_STRING_PREFIXES = frozenset({"r", "u", "b", "br", "rb", "f", "fr", "rf"})
_OPERATORS = sorted(
    """** // << >> <= >= == != -> := += -= *= /= %= &= |= ^= @= **= //= >>= <<= ...
    ( ) [ ] { } , . : ; + - * / % < > = ! ~ ^ & | @""".split(),
    key=len,
    reverse=True,
)
_COMPARISONS = frozenset({"<", ">", "<=", ">=", "==", "!="})
_ARITHMETIC = frozenset({"+", "-", "*", "/"})
_CLOSERS = {"(": ")", "[": "]"}


@dataclass(frozen=True)
class Lexeme:
    """One token of the text; ``partial`` when it touches the end and could still grow."""

    kind: str  # name, number, string, fstring, op, bad
    text: str
    partial: bool = False


# an operator at the very end may still grow into one the format allows ('<' into '<='); others
# ('%' could become '%=') are judged as they are
_GROWN = {
    "<": (Lexeme("op", "<"), Lexeme("op", "<=")),
    ">": (Lexeme("op", ">"), Lexeme("op", ">=")),
    "=": (Lexeme("op", "="), Lexeme("op", "==")),
    "!": (Lexeme("op", "!="),),
    "*": (Lexeme("op", "*"), Lexeme("op", "**")),
    ".": (Lexeme("op", "."), Lexeme("op", "..."), Lexeme("number", ".5")),
    "..": (Lexeme("op", "..."),),
}
_GROWING_OPERATORS = frozenset(_GROWN)


def lex(text: str) -> list[Lexeme]:
    """Python-like tokens of a rule prefix (whitespace dropped; unterminated strings are partial)."""
    lexemes, i, n = [], 0, len(text)
    while i < n:
        char = text[i]
        if char in " \t\f\r\n":
            i += 1
            continue
        name = _NAME_RE.match(text, i)
        if name and name.end() < n and text[name.end()] in "\"'" and name.group().lower() in _STRING_PREFIXES:
            end, closed = _string_end(text, name.end())
            kind = "fstring" if "f" in name.group().lower() else "string"
            lexemes.append(Lexeme(kind, text[i:end], partial=not closed))
            i = end
        elif name:
            lexemes.append(Lexeme("name", name.group(), partial=name.end() == n))
            i = name.end()
        elif char in "\"'":
            end, closed = _string_end(text, i)
            lexemes.append(Lexeme("string", text[i:end], partial=not closed))
            i = end
        elif (number := _NUMBER_RE.match(text, i)) and number.group():
            lexemes.append(Lexeme("number", number.group(), partial=number.end() == n))
            i = number.end()
        elif text[i:] in _GROWING_OPERATORS:
            lexemes.append(Lexeme("op", text[i:], partial=True))  # '..' may still become '...'
            i = n
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                lexemes.append(Lexeme("bad", char))
                i += 1
                continue
            end = i + len(op)
            lexemes.append(Lexeme("op", op, partial=end == n and op in _GROWING_OPERATORS))
            i = end
    return lexemes


def _string_end(text: str, start: int) -> tuple[int, bool]:
    """(index after the string that opens at ``start``, whether it is closed); escapes skipped."""
    quote = text[start] * 3 if text.startswith(text[start] * 3, start) else text[start]
    i = start + len(quote)
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith(quote, i):
            return i + len(quote), True
        else:
            i += 1
    return len(text), False


@dataclass
class _Frame:
    """An open bracket: ``rule`` (the rule call), ``call`` (a helper's), ``paren`` or ``list``."""

    kind: str
    closer: str
    arg: int = 0  # argument index (calls)
    at_start: bool = True  # nothing of the current argument/element written yet
    keywords: set[str] = field(default_factory=set)


class _Rejected(Exception):
    pass


def prefix_problem(text: str) -> str | None:
    """Why ``text`` can never be completed to a valid rule, or None if it still might be."""
    try:
        _Walker().walk(lex(text))
    except _Rejected as problem:
        return str(problem)
    return None


def could_become_valid(text: str) -> bool:
    """True unless every continuation of ``text`` is an invalid rule."""
    return prefix_problem(text) is None


class _Walker:
    """Reads lexemes left to right, keeping the open brackets and what the next token may be."""

    def __init__(self) -> None:
        self.frames: list[_Frame] = []
        self.expect_operand = True
        self.prev = "start"  # what the last complete token was, where the next one depends on it
        self.started = False

    def walk(self, lexemes: list[Lexeme]) -> None:
        for index, lexeme in enumerate(lexemes):
            following = lexemes[index + 1] if index + 1 < len(lexemes) else None
            if lexeme.kind == "op" and lexeme.partial:
                self._growing(lexeme)  # the last token; '<' may still become '<='
            elif not self.started:
                self._start(lexeme)
            else:
                self._step(lexeme, following)

    def _growing(self, lexeme: Lexeme) -> None:
        """An operator at the end passes if any token it can still grow into would."""
        problems = []
        for grown in _GROWN[lexeme.text]:
            trial = copy.deepcopy(self)
            try:
                trial.walk([grown]) if trial.started else trial._start(grown)
                return
            except _Rejected as problem:
                problems.append(str(problem))
        raise _Rejected(problems[0])

    # ------------------------------------------------------------------ the opening ``rule(``

    def _start(self, lexeme: Lexeme) -> None:
        if self.prev == "start":
            if lexeme.kind != "name" or not (
                "rule".startswith(lexeme.text) if lexeme.partial else lexeme.text == "rule"
            ):
                raise _Rejected(f"a rule starts with rule(, not {lexeme.text!r}")
            self.prev = "rule_name"
        elif lexeme.text != "(":
            raise _Rejected(f"rule must be followed by '(', not {lexeme.text!r}")
        else:
            self.frames.append(_Frame("rule", ")"))
            self.started, self.prev = True, "open"

    # ------------------------------------------------------------------ everything after it

    def _step(self, lexeme: Lexeme, following: Lexeme | None) -> None:
        if not self.frames:
            raise _Rejected("text after the rule's closing ')'")
        if lexeme.kind in ("bad", "fstring"):
            raise _Rejected(f"{lexeme.text!r} cannot appear in a rule")
        frame = self.frames[-1]
        if self.prev == "dot":
            self._attribute(lexeme)
        elif self.prev == "not_op":
            if lexeme.kind != "name" or not _partial_member(lexeme, {"in"}):
                raise _Rejected("'not' between operands must be 'not in'")
            self.prev, self.expect_operand = "op", True
        elif self.prev == "kwname":
            if lexeme.text != "=":
                raise _Rejected(f"a keyword argument needs '=' after its name, not {lexeme.text!r}")
            self.prev, self.expect_operand, frame.at_start = "op", True, False
        elif frame.kind == "rule" and frame.arg < 2 and (frame.at_start or self.prev in ("id_string", "subject")):
            self._positional(frame, lexeme)
        elif frame.kind == "rule" and frame.at_start and lexeme.text not in (")", ","):
            self._rule_keyword(frame, lexeme)
        elif lexeme.kind == "name":
            self._name(frame, lexeme, following)
        elif lexeme.kind in ("number", "string"):
            self._literal(frame, lexeme)
        else:
            self._operator(frame, lexeme)

    def _positional(self, frame: _Frame, lexeme: Lexeme) -> None:
        """The identifier string and the subject entity, each followed by ','."""
        if frame.at_start and lexeme.text == "(":
            self._open(frame, lexeme)  # a parenthesised argument: checked as any expression
        elif frame.at_start and frame.arg == 0:
            if _string_prefix(lexeme):
                return  # r"..." may still follow
            if lexeme.kind != "string":
                raise _Rejected("the rule's first argument must be the clause identifier string")
            self.prev, self.expect_operand, frame.at_start = "id_string", False, False
        elif frame.at_start:
            if lexeme.kind != "name" or not _partial_member(lexeme, ENTITIES):
                raise _Rejected(f"subject {lexeme.text!r} is not (the start of) an entity of the vocabulary")
            self.prev, self.expect_operand, frame.at_start = "subject", False, False
        elif self.prev == "id_string" and (lexeme.kind == "string" or _string_prefix(lexeme)):
            pass  # implicit concatenation is still one string
        elif lexeme.text == ",":
            frame.arg, frame.at_start, self.prev, self.expect_operand = frame.arg + 1, True, "comma", True
        else:
            raise _Rejected(f"{lexeme.text!r} after the rule's {'identifier' if frame.arg == 0 else 'subject'}")

    def _rule_keyword(self, frame: _Frame, lexeme: Lexeme) -> None:
        """After the two positional arguments only ``when=`` and ``require=`` (once each)."""
        allowed = {k for k in RULE_KEYWORDS if k not in frame.keywords}
        if lexeme.kind != "name" or not _partial_member(lexeme, allowed):
            raise _Rejected(f"after identifier and subject only {sorted(allowed)}=, not {lexeme.text!r}")
        if not lexeme.partial:
            frame.keywords.add(lexeme.text)
            self.prev = "kwname"

    def _attribute(self, lexeme: Lexeme) -> None:
        if lexeme.kind != "name" or not _ATTRIBUTE_RE.fullmatch(lexeme.text):
            raise _Rejected(f"attribute {lexeme.text!r} is not lower_snake_case")
        if not lexeme.partial and keyword.iskeyword(lexeme.text):
            raise _Rejected(f"{lexeme.text!r} is a Python keyword, not an attribute")
        self.prev, self.expect_operand = "attr", False

    def _name(self, frame: _Frame, lexeme: Lexeme, following: Lexeme | None) -> None:
        text = lexeme.text
        if not self.expect_operand:
            if self.prev == "string" and _string_prefix(lexeme):
                return  # r"..." may still follow a string (implicit concatenation)
            if not _partial_member(lexeme, _BINARY_WORDS | {"not"}):
                raise _Rejected(f"{text!r} where an operator is expected")
            if not lexeme.partial:
                self.prev, self.expect_operand = ("not_op", False) if text == "not" else ("op", True)
            return
        if frame.kind == "call" and frame.at_start and (lexeme.partial or (following and following.text == "=")):
            self.prev = "kwname" if not lexeme.partial else self.prev  # a helper's keyword argument
            return
        if lexeme.partial:
            if not (_partial_member(lexeme, OPERAND_WORDS | {"not"}) or _string_prefix(lexeme)):
                raise _Rejected(f"{text!r} is not the start of an entity or helper of the vocabulary")
            return
        frame.at_start = False
        if text == "not":
            self.prev = "op"  # unary not: an operand still follows
        elif text in OPERAND_WORDS:
            self.prev = "entity" if text in ENTITIES else "helper" if text in HELPERS else "constant"
            self.expect_operand = False
        else:
            raise _Rejected(f"name {text!r} is not an entity of the vocabulary")

    def _literal(self, frame: _Frame, lexeme: Lexeme) -> None:
        if not self.expect_operand and not (lexeme.kind == "string" and self.prev == "string"):
            raise _Rejected(f"{lexeme.text!r} where an operator is expected")
        frame.at_start = False
        self.prev, self.expect_operand = lexeme.kind, False

    def _operator(self, frame: _Frame, lexeme: Lexeme) -> None:
        op = lexeme.text
        if op in ("(", "["):
            self._open(frame, lexeme)
        elif op in (")", "]"):
            self._close(frame, op)
        elif op == ",":
            if self.expect_operand:
                raise _Rejected("',' where an operand is expected")
            frame.arg, frame.at_start, self.prev, self.expect_operand = frame.arg + 1, True, "comma", True
        elif op == ".":
            if self.expect_operand or self.prev not in ("entity", "close_paren"):
                raise _Rejected("an attribute must follow an entity name (entity.attribute)")
            self.prev = "dot"
        elif op == "...":
            self._literal(frame, Lexeme("number", op))
        elif op in _COMPARISONS or op in _ARITHMETIC:
            if self.expect_operand and op != "-":
                raise _Rejected(f"{op!r} where an operand is expected")
            frame.at_start = False
            self.prev, self.expect_operand = "op", True
        elif op == "**" and frame.kind == "call" and frame.at_start:
            self.prev = "op"  # **mapping in a helper call: let through
        else:
            raise _Rejected(f"{op!r} is not allowed in a rule")

    def _open(self, frame: _Frame, lexeme: Lexeme) -> None:
        op = lexeme.text
        if self.expect_operand:
            self.frames.append(_Frame("paren" if op == "(" else "list", _CLOSERS[op]))
            frame.at_start = False
        elif op == "(" and self.prev in ("helper", "close_paren"):
            self.frames.append(_Frame("call", ")"))
        elif op == "(":
            raise _Rejected("only the vocabulary's helpers can be called")
        else:
            raise _Rejected("subscripts are not allowed in a rule")
        self.prev, self.expect_operand = "open", True

    def _close(self, frame: _Frame, op: str) -> None:
        if op != frame.closer:
            raise _Rejected(f"{op!r} does not close the open {frame.kind} bracket")
        if self.expect_operand and self.prev not in ("open", "comma"):
            raise _Rejected(f"{op!r} where an operand is expected")
        if frame.kind == "rule" and (frame.arg < 2 or "require" not in frame.keywords):
            raise _Rejected("the rule closes without identifier, subject and require=")
        self.frames.pop()
        self.prev = {"paren": "close_paren", "list": "close_list"}.get(frame.kind, "close_call")
        self.expect_operand = False


def _string_prefix(lexeme: Lexeme) -> bool:
    """A partial name that may still become a string's prefix (``r`` of ``r"..."``)."""
    return lexeme.partial and lexeme.text.lower() in _STRING_PREFIXES - {"f", "fr", "rf"}


def _partial_member(lexeme: Lexeme, words) -> bool:
    """A complete name must be one of ``words``; a partial one the start of one."""
    if lexeme.partial:
        return any(word.startswith(lexeme.text) for word in words)
    return lexeme.text in words
