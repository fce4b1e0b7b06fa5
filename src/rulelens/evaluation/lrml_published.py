"""The LRML F1 score as the published pipeline of Fuchs et al. computed it, normalisation and quirks included.

Origin of the definition: S. Fuchs, J. Dimyadi, M. Witbrock, R. Amor (University of Auckland), PhD thesis
supplementary material, public repository ``stefan-1992/phd-thesis-supplementary-material``:
``Chapter6/lrml_utils.py`` (the reverse LRML transformations and ``tree_based_spacing``),
``Chapter6/ecppm_ir_lrml_baseline_training.py`` (the order in which they were applied to the compact rules of
``lrml_ds_v8.csv``), ``Chapter6/lrml_train_pred.py`` (scoring call: ``entity_weight=2``, ``filter_empty=True``)
and ``Chapter5/lrml_score.py`` (the scorer). The repository has no licence; this module is an independent
reimplementation of what those steps do, checked digit for digit against them in the tests.

Pipeline, applied to prediction and reference alike (each step re-reads the text as a fresh tree, so node
numbers restart in parse order at every step; siblings are re-sorted by those numbers in several steps):

1. ``loop(a,b)`` becomes ``expression(rulestatement(a),appliedstatement(b))`` (a third argument is left as is).
2. Every call that is not an LRML keyword becomes an ``expression``: its name goes into ``function(...)``, its
   first argument into ``atom(...)`` (or, when that argument is itself a call, a nested expression), its second
   into ``data(...)``; further arguments are dropped. A bare atom becomes ``expression(function(atom))`` and is
   moved behind its siblings unless a later sibling re-sorts them.
3. An atom ``space.floorArea`` becomes ``atom(relation(floorArea),variable(space))`` (split at a dot followed by
   a lower-case letter; a third dotted part is dropped).
4. A connector inside data, ``expression(..., data(or(a,b)))``, is distributed: the outermost enclosing chain of
   ``not``/``expression``/deontic nodes is copied once per option and joined with the connector (or added to an
   enclosing connector of the same name); when that chain reaches the root, nothing is re-attached and the
   options are lost. When no ``atom(`` is left after step 3, steps 2, 4 and then the inverse of step 2 (calls
   folded back) are applied instead.
5. ``data(350 mm)`` becomes ``data(baseunit(prefix(milli),kind(metre)),value(350.0))`` for the units the
   published tables know (m, g, l, N, Pa, deg, degC, ha; prefixes k, m, M; one trailing exponent digit; one
   ``+ - * /`` for derived units).
6. Tree-based spacing: every name gets a leading space; camelCase is split and lower-cased; leaves with no space
   also get ``_`` -> space and ``a.b`` -> ``a. b`` (leaves with a space, quoted text and quantities, keep their
   case). Serialising cuts every ``root(`` from the text, also inside names (``taproot(`` -> ``tap``).

Scoring (``Chapter5/lrml_score.py``): a "clue" is cut off first; without a ``:`` in the first 30 characters the
text loses its first character (``find`` returns -1). Terms are parsed from the brackets; the text between
brackets, commas removed, becomes a term's words at its ``)`` (split at camelCase, digit-letter boundaries,
``_`` and ``a.b``); a sub-term's words are added to its parent's; an atom written before a call is glued to that
call's relation name; quotes are not special. Terms are flattened in pre-order plus one entity per leaf term;
empty entities of the prediction are dropped. Each element of one side takes the unused element of the other
side with the same relation and most shared words (first on ties); it scores ``overlap / len(words)``, times 2
when the matched element is an entity; the sum is divided by ``elements + entities``. Precision matches the
prediction against the reference, recall the reverse; the corpus F1 is the harmonic mean of the averaged
precision and recall, in percent.

Differences from the project's own ``lrml_score.py``: that module scores the compact rule directly with cleaned
up word rules (commas separate words, quotes stripped, numbers keep their units, no first-character cut); this
one reproduces the published normal form and every quirk above, so its numbers are comparable digit for digit
with the published ones. The T5 tokenizer round trip of the published training loop is not modelled.

Where the published code would raise (a ``function`` node with no name while folding calls back, a unit value
separated by a tab or newline, a node whose parent vanished, nesting deep enough to exhaust recursion), the text
is given the empty normal form instead, so its pair scores 0; a non-string text counts as empty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

ENTITY_WEIGHT = 2  # the published scoring call
CLUE_WINDOW = 30

LRML_KEYWORDS = frozenset(
    """if then and or obligation permission prohibition not expression appliedstatement rulestatement atom function
    relation variable data baseunit derivedunit prefix kind operator value""".split()
)
CONNECTORS = ("and", "or")
WRAPPER_NAMES = frozenset({"not", "expression", "expr", "obligation", "permission", "prohibition"})
LOOP_PARTS = ("rulestatement", "appliedstatement")
SHORT_KEYWORDS = {"fun": "function", "var": "variable", "rel": "relation", "expr": "expression"}

# Unit tables in the order the published code tries them: kinds by their abbreviation's last letters, then a prefix
# that must make up the rest exactly.
UNIT_KINDS = (
    ("hectare", "ha"),
    ("celsius", "degC"),
    ("angleDegree", "deg"),
    ("pascal", "Pa"),
    ("newton", "N"),
    ("litre", "l"),
    ("gram", "g"),
    ("metre", "m"),
)
UNIT_PREFIXES = (("mega", "M"), ("milli", "m"), ("kilo", "k"))
UNIT_OPERATORS = (("addition", "+"), ("subtraction", "-"), ("multiplication", "*"), ("division", "/"))

_QUANTITY_RE = re.compile(r"(?<!\w)(\d+\.?\d*)\s([a-zA-Z0-9/*+-]+)(?!\w)")  # matched at the start of a data value
_TRAILING_DIGIT_RE = re.compile(r"\d+$")
_VARIABLE_DOT_RE = re.compile(r"\.(?=[a-z])")
_SPACING_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPACING_DOT_RE = re.compile(r"(?<=[a-z])\.(?=[a-z])")
_WORD_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z%])")
_WORD_DIGIT_LETTER_RE = re.compile(r"(?<=[0-9])(?=[a-z])")
_WORD_DOT_RE = re.compile(r"(?<=[a-z])\.(?=[a-z])")


class PublishedPipelineError(ValueError):
    """Raised by a normalisation step where the published code itself would crash on the input."""


# --------------------------------------------------------------------------- tree of the normalisation steps


@dataclass(eq=False)
class _Node:
    """A node of the LRML tree; ``ident`` is its parse-order number, used for re-sorting siblings."""

    name: str
    ident: int | None = None
    parent: _Node | None = field(default=None, repr=False)
    children: list[_Node] = field(default_factory=list, repr=False)

    def move_to(self, new_parent: _Node | None) -> None:
        """Re-hang this node as the last child of ``new_parent`` (no-op when it already hangs there)."""
        if new_parent is self.parent:
            return
        ancestor = new_parent
        while ancestor is not None:
            if ancestor is self:
                raise PublishedPipelineError("a node cannot hang below itself")
            ancestor = ancestor.parent
        if self.parent is not None:
            self.parent.children = [child for child in self.parent.children if child is not self]
        self.parent = new_parent
        if new_parent is not None:
            new_parent.children.append(self)

    def replace_children(self, new_children: Sequence[_Node]) -> None:
        """Detach every child, then hang ``new_children`` in the given order."""
        for child in list(self.children):
            child.move_to(None)
        for child in new_children:
            child.move_to(self)

    def sort_children(self) -> None:
        """Stable re-sort of the children by parse-order number."""
        if any(child.ident is None for child in self.children):
            raise PublishedPipelineError("a child without a number cannot be sorted")
        self.replace_children(sorted(self.children, key=lambda child: child.ident))


def _new_node(
    name: str, ident: int | None = None, parent: _Node | None = None, children: Sequence[_Node] = ()
) -> _Node:
    node = _Node(name, ident)
    node.move_to(parent)
    node.replace_children(children)
    return node


def _preorder(top: _Node) -> list[_Node]:
    """``top`` and its descendants, parents before children, in child order."""
    ordered, pending = [], [top]
    while pending:
        node = pending.pop()
        ordered.append(node)
        pending.extend(reversed(node.children))
    return ordered


def _first_leaf(node: _Node) -> _Node:
    while node.children:
        node = node.children[0]
    return node


def parse_tree(lrml: str) -> _Node:
    """The published tree reading: names between ``( ) ,`` (quotes protect them), spaces kept, under a root."""
    root = _Node("root", -1)
    current, last_created = root, None
    word, in_quote, counter = "", False, -1
    for char in lrml:
        if char == "'":
            in_quote = not in_quote
            word += char
        elif not in_quote and char in "(),":
            if word:
                counter += 1
                last_created = _new_node(word, counter, current)
                word = ""
            if char == "(" and last_created is not None:
                current = last_created  # an unnamed "(" opens below the last node read
            elif char == ")" and current.parent is not None:
                current = current.parent
        else:
            word += char
    if word and current is root:  # text left open inside a call is lost
        counter += 1
        _new_node(word, counter, root)
    return root


def serialise_tree(root: _Node) -> str:
    """Inverse of ``parse_tree`` as published: every ``root(`` is cut from the text, then its last character."""
    parts: list[str] = []
    stack, previous_depth = [(root, 0)], -1
    while stack:
        node, depth = stack.pop()
        if depth > previous_depth:
            if previous_depth != -1:
                parts.append("(")
        else:
            parts.append(")" * (previous_depth - depth) + ",")
        parts.append(node.name)
        previous_depth = depth
        stack.extend((child, depth + 1) for child in reversed(node.children))
    parts.append(")" * previous_depth)
    return "".join(parts).replace("root(", "")[:-1]


# --------------------------------------------------------------------------- the reverse transformations


def expand_loops(lrml: str) -> str:
    """Step 1: ``loop(a,b)`` -> ``expression(rulestatement(a),appliedstatement(b))``."""
    root = parse_tree(lrml)
    for loop in [node for node in _preorder(root) if node.name == "loop"]:
        loop.name = "expression"
        for part, wrapper_name in zip(list(loop.children), LOOP_PARTS):  # a third part is left unwrapped
            wrapper = _new_node(wrapper_name, part.ident, loop)
            part.move_to(wrapper)
            loop.sort_children()
    return serialise_tree(root)


def _make_expression(call: _Node) -> None:
    """Wrap one call as ``expression(function(name),atom(first)|expression(...),data(second))``."""
    expression = _new_node("expression", call.ident, call.parent)
    function = _new_node("function", call.ident, expression)
    call.move_to(function)
    arguments = list(call.children)
    if not arguments:
        return  # the published code reports an error and leaves the expression last among its siblings
    first = arguments[0]
    if first.children:
        first.move_to(expression)
        _make_expression(first)
    else:
        first.move_to(_new_node("atom", first.ident, expression))
    if len(arguments) > 1:
        second = arguments[1]
        second.move_to(expression if second.name.strip() == "data" else _new_node("data", second.ident, expression))
    for extra in list(call.children):
        extra.move_to(None)
    expression.sort_children()
    expression.parent.sort_children()


def _wrap_calls_below(node: _Node) -> None:
    for child in list(node.children):
        if child.name.strip() in LRML_KEYWORDS:
            _wrap_calls_below(child)
        else:
            _make_expression(child)


def expand_expressions(lrml: str) -> str:
    """Step 2: every non-keyword call becomes an expression with function, atom and data parts."""
    root = parse_tree(lrml)
    _wrap_calls_below(root)
    return serialise_tree(root)


def split_atoms(lrml: str) -> str:
    """Step 3: ``atom(space.floorArea)`` -> ``atom(relation(floorArea),variable(space))``."""
    root = parse_tree(lrml)
    for atom in [node for node in _preorder(root) if node.name == "atom"]:
        if not atom.children:
            continue
        original = atom.children[0]
        pieces = _VARIABLE_DOT_RE.split(original.name)
        if len(pieces) > 1:
            _new_node("relation", parent=atom, children=[_Node(pieces[1])])
        _new_node("variable", parent=atom, children=[_Node(pieces[0])])
        original.move_to(None)
    return serialise_tree(root)


def _outermost_wrapper(node: _Node) -> _Node:
    """Climb to the first chain of not/expression/deontic ancestors and return its top (else the root)."""
    seen_wrapper = node.name.strip() in WRAPPER_NAMES
    while node.parent is not None:
        parent_is_wrapper = node.parent.name.strip() in WRAPPER_NAMES
        seen_wrapper = seen_wrapper or parent_is_wrapper
        if seen_wrapper and not parent_is_wrapper:
            break
        node = node.parent
    return node


def _copy_subtree(top: _Node) -> _Node:
    twin = _Node(top.name, top.ident)
    pending = [(top, twin)]
    while pending:
        original, copy = pending.pop()
        for child in original.children:
            child_copy = _Node(child.name, child.ident)
            child_copy.move_to(copy)
            pending.append((child, child_copy))
    return twin


def distribute_data_connectors(lrml: str) -> str:
    """Step 4: ``expr(..., data(or(a,b)))`` -> ``or(expr(..., data(a)), expr(..., data(b)))``."""
    root = parse_tree(lrml)
    for connector in [node for node in _preorder(root) if node.name.strip() in CONNECTORS]:
        holder = connector.parent
        if holder is None:
            raise PublishedPipelineError("a connector lost its parent")
        if holder.name.strip() != "data":
            continue
        template = _outermost_wrapper(connector)
        options = list(connector.children)
        connector.move_to(None)
        holder_path = _path_below(holder, template)
        copies = []
        for offset, option in enumerate(options):
            copy = _copy_subtree(template)
            slot = next(
                (n for n in _preorder(copy) if n.ident == holder.ident and _path_below(n, copy) == holder_path), None
            )
            if slot is None:
                raise PublishedPipelineError("the data node is missing from its copy")
            option.move_to(slot)
            copy.ident += offset
            copies.append(copy)
        outer = template.parent
        if outer is None:
            continue  # the published code re-attaches nothing here: the options are lost
        if outer.name.strip() == connector.name.strip():
            for sibling in outer.children:
                if sibling is not template and sibling.ident >= template.ident:
                    sibling.ident += len(options)
            siblings = outer.children
            outer.replace_children(siblings[: template.ident] + copies + siblings[template.ident :])
        else:
            _new_node(connector.name, template.ident, outer, copies)
        outer.sort_children()
        template.move_to(None)
    return serialise_tree(root)


def _path_below(node: _Node, top: _Node) -> str:
    names = []
    while node is not top:
        names.append(node.name)
        node = node.parent
    return "/".join(reversed(names))


def fold_expressions(lrml: str) -> str:
    """Inverse of step 2 (used only on rules without atoms): ``expression(function(f),a,b)`` -> ``f(a,b)``."""
    root = parse_tree(lrml)
    for expression in [node for node in _preorder(root) if node.name.strip() in ("expr", "expression")]:
        heads = [child for child in expression.children if child.name.strip() in ("fun", "function")]
        if len(heads) != 1:
            continue
        if not heads[0].children:
            raise PublishedPipelineError("a function without a name")
        call = heads[0].children[0]
        heads[0].move_to(None)
        call.move_to(expression.parent)
        expression.move_to(None)
        for argument in list(expression.children):
            if len(argument.children) == 1:
                content = argument.children[0]
                argument.move_to(None)
                content.ident = argument.ident
                content.move_to(call)
            else:
                argument.move_to(call)
        if call.parent is None:
            raise PublishedPipelineError("an expression without a parent")
        call.parent.sort_children()
    return serialise_tree(root)


def _base_unit(text: str) -> _Node | None:
    """``mm2`` -> baseunit(exponent(2.0),prefix(milli),kind(metre)); None when the tables cannot spell it."""
    if not text:
        return None
    exponent = prefix = kind = None
    if _TRAILING_DIGIT_RE.search(text):
        exponent = _new_node("exponent", children=[_Node(text[-1] + ".0")])
        text = text[:-1]
    for kind_name, abbreviation in UNIT_KINDS:
        if text.endswith(abbreviation):
            kind = _new_node("kind", children=[_Node(kind_name)])
            text = text[: -len(abbreviation)]
            break
    for prefix_name, abbreviation in UNIT_PREFIXES:
        if text == abbreviation:
            prefix = _new_node("prefix", children=[_Node(prefix_name)])
            text = ""
            break
    if text:
        return None
    return _new_node("baseunit", children=[part for part in (exponent, prefix, kind) if part is not None])


def _unit_tree(unit: str) -> _Node | None:
    for operator_name, symbol in UNIT_OPERATORS:
        sides = unit.split(symbol)
        if len(sides) == 2:  # only the first operator occurring exactly once is tried
            left, right = _base_unit(sides[0]), _base_unit(sides[1])
            if left is not None and right is not None:
                operator = _new_node("operator", children=[_new_node("name", children=[_Node(operator_name)])])
                return _new_node("derivedunit", children=[left, operator, right])
            break
    return _base_unit(unit)


def expand_units(lrml: str) -> str:
    """Step 5: ``data(350 mm)`` -> ``data(baseunit(prefix(milli),kind(metre)),value(350.0))``."""
    root = parse_tree(lrml)
    for holder in [node for node in _preorder(root) if node.name.strip() == "data"]:
        value = _first_leaf(holder).name.strip()
        if not _QUANTITY_RE.match(value):
            continue
        parts = value.split(" ")
        if len(parts) > 2:
            continue
        if len(parts) < 2:
            raise PublishedPipelineError("a quantity separated by other white space than a space")
        number, unit = parts
        unit_node = _unit_tree(unit)
        if unit_node is None:
            continue
        if "." not in number:
            number += ".0"
        holder.replace_children([unit_node, _new_node("value", children=[_Node(number)])])
    return serialise_tree(root)


def restore_verbose_lrml(compact: str) -> str:
    """Steps 1-5: the published reverse transformations of a compact rule (raises ``PublishedPipelineError``)."""
    lrml = split_atoms(expand_expressions(expand_loops(compact)))
    if "atom(" in lrml:
        lrml = distribute_data_connectors(lrml)
    else:
        lrml = fold_expressions(distribute_data_connectors(expand_expressions(lrml)))
    return expand_units(lrml)


def tree_based_spacing(lrml: str) -> str:
    """Step 6: a leading space for every name, camelCase split, lower case, ``_`` and ``a.b`` spaced."""
    root = parse_tree(lrml)
    for node in _preorder(root):
        if node.children:
            name = _SPACING_CAMEL_RE.sub(" ", SHORT_KEYWORDS.get(node.name, node.name)).lower()
        elif " " not in node.name:
            name = _SPACING_DOT_RE.sub(". ", _SPACING_CAMEL_RE.sub(" ", node.name).lower().replace("_", " "))
        else:
            name = node.name.replace("_", " ")  # quoted text and quantities keep their case
        node.name = " " + name
    return serialise_tree(root).strip()


def normalise_like_published(lrml: str) -> str:
    """The text the published scorer saw for a compact rule; empty where the published code would crash."""
    if not isinstance(lrml, str):
        return ""
    try:
        return tree_based_spacing(restore_verbose_lrml(lrml))
    except (PublishedPipelineError, RecursionError):
        return ""


# --------------------------------------------------------------------------- the published scorer


@dataclass
class _Term:
    relation: str
    words: list[str] = field(default_factory=list)
    subterms: list[_Term] = field(default_factory=list)


@dataclass(eq=False)
class ScoredElement:
    """A flattened term (relation and all its words) or a leaf entity (empty relation)."""

    relation: str
    words: list[str]
    is_entity: bool = False


def cut_clue(text: str) -> str:
    """Drop up to two characters past the first ``:`` when it lies in the first 30 (-1 counts: first char goes)."""
    colon = text.find(":")
    return text[colon + 2 :] if colon < CLUE_WINDOW else text


def scored_words(text: str) -> list[str]:
    """Words of the text of one term: camelCase, digit-letter, ``_`` and ``a.b`` boundaries; may hold ''."""
    text = text.replace("_", " _ ").replace(",", " , ")
    text = _WORD_CAMEL_RE.sub("  ", text).lower().replace("  ", " ")
    text = _WORD_DIGIT_LETTER_RE.sub("  ", text).lower().replace("  ", " ")
    text = _WORD_DOT_RE.sub(" ", text.replace(" k n ", " kn "))
    return text.replace(" _ ", " ").split(" ")


def _close_into_parent(stack: list[_Term]) -> None:
    term = stack.pop()
    stack[-1].subterms.append(term)
    stack[-1].words.extend(term.words)


def parse_scored_terms(text: str) -> list[_Term]:
    """Top-level terms as the published scorer reads them (commas vanish, words are taken at each ``)``)."""
    stack = [_Term("")]
    pending = ""
    for char in text:
        if char == "(":
            if pending == "then":
                while len(stack) > 1:
                    _close_into_parent(stack)
            stack.append(_Term(pending))
            pending = ""
        elif char == ")":
            if len(stack) > 1:
                pending = pending.strip()
                if pending:
                    stack[-1].words.extend(scored_words(pending))
                    pending = ""
                _close_into_parent(stack)
        elif char != ",":
            pending += char
    while len(stack) > 1:
        _close_into_parent(stack)
    return stack[0].subterms


def flatten_scored_terms(terms: Sequence[_Term]) -> list[ScoredElement]:
    """Pre-order terms, then one entity per leaf term (sharing its words)."""
    elements: list[ScoredElement] = []
    leaves: list[ScoredElement] = []
    pending = list(reversed(terms))
    while pending:
        term = pending.pop()
        element = ScoredElement(term.relation, term.words)
        elements.append(element)
        if not term.subterms:
            leaves.append(ScoredElement("", term.words, is_entity=True))
        pending.extend(reversed(term.subterms))
    return elements + leaves


def _shared_word_count(left: Sequence[str], right: Sequence[str]) -> int:
    remaining = list(right)
    count = 0
    for word in left:
        if word in remaining:
            remaining.remove(word)
            count += 1
    return count


def directed_score(
    left: Sequence[ScoredElement], right: Sequence[ScoredElement], entity_weight: int = ENTITY_WEIGHT
) -> float:
    """Share of ``left`` found in ``right``: precision when left is the prediction, recall the other way."""
    available = list(right)
    score = 0.0
    for element in left:
        best, best_overlap = None, 0
        for candidate in available:
            if candidate.relation != element.relation:
                continue
            overlap = _shared_word_count(element.words, candidate.words)
            if best is None or overlap > best_overlap:
                best, best_overlap = candidate, overlap
        if best is None or best_overlap == 0:
            continue
        if best.is_entity:  # the weight follows the matched element, as published
            score += best_overlap / len(element.words) * entity_weight
        else:
            score += best_overlap / len(element.words)
        available.remove(best)
    denominator = len(left) + sum(element.is_entity for element in left) * (entity_weight - 1)
    return 0.0 if denominator == 0 else score / denominator


def score_normalised_pair(prediction: str, reference: str) -> tuple[float, float]:
    """(precision, recall), each 0..1, of two texts already in the published normal form."""
    predicted = flatten_scored_terms(parse_scored_terms(cut_clue(prediction)))
    predicted = [e for e in predicted if e.relation.strip() or e.words]  # filter_empty=True
    truth = flatten_scored_terms(parse_scored_terms(cut_clue(reference)))
    return directed_score(predicted, truth, ENTITY_WEIGHT), directed_score(truth, predicted, ENTITY_WEIGHT)


def lrml_f1_published_pair(prediction: str, reference: str) -> tuple[float, float]:
    """(precision, recall), each 0..1, of a compact LRML prediction, both sides normalised as published."""
    return score_normalised_pair(normalise_like_published(prediction), normalise_like_published(reference))


def lrml_f1_published(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """``lrml_f1``, ``lrml_precision``, ``lrml_recall`` in percent: means of pair scores, then F1 of the means."""
    if len(predictions) != len(references):
        raise ValueError("predictions and references differ in length")
    if not references:
        raise ValueError("no pairs to score")
    pairs = [lrml_f1_published_pair(p, r) for p, r in zip(predictions, references)]
    precision = sum(p for p, _ in pairs) / len(pairs)
    recall = sum(r for _, r in pairs) / len(pairs)
    f1 = 0.0 if precision == 0 or recall == 0 else 2 * precision * recall / (precision + recall)
    return {"lrml_f1": 100 * f1, "lrml_precision": 100 * precision, "lrml_recall": 100 * recall}
