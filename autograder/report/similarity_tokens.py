"""Normalised tokens of a learner's code, for the similarity report (similarity.py).

What a copier changes freely, and what therefore says nothing about copying, is taken out before
any two notebooks are compared:

- **Names, numbers, strings, layout.** Python's own tokenizer reads the code. Comments, blank
  lines, indentation and docstrings are dropped; every name the learner chose becomes ``V``,
  every number ``0`` and every string ``S``. Keywords, operators, builtins, ``np`` and attribute
  names (``.reshape``, ``.T``) are kept: the library fixes them, the learner does not. Grouping
  parentheses go too (``return (a, b)`` is ``return a, b``), as in Python's own syntax tree.
- **Arrangement.** Helpers are inlined, definitions come first, and independent assignments are
  put in one order (`_CanonicalOrder`), so that swapping lines, moving a helper or inlining it
  gives the same tokens.

Every token keeps its line and columns in the learner's source: the report highlights the code
the learner wrote, where they wrote it.
"""

import ast
import bisect
import builtins
import io
import keyword
import re
import tokenize
from collections import Counter, defaultdict
from dataclasses import dataclass

CANONICAL_CHARACTERS = 200_000  # a longer cell keeps its tokens in the order written
KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | {"np", "numpy", "math"}
_DROPPED = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}
_FALLBACK_TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|'[^']*'|\"[^\"]*\"|\*\*|//|[^\s\w]")


# ------------------------------------------------------------------------------------------------
# Normalised tokens


@dataclass(frozen=True)
class Token:
    text: str  # normalised: V, 0, S, a keyword, an operator, a kept name
    line: int  # 0-based line of the document's text
    start: int  # column where the token starts on that line
    end: int  # column where it ends (on its last line, for a multi-line string)
    last_line: int


def normalise(source: str, first_line: int = 0) -> list[Token]:
    """The tokens of `source` with names, numbers and strings replaced, layout and grouping
    parentheses dropped, and independent statements in a canonical order."""
    try:
        raw = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return _normalise_loosely(source, first_line)
    tokens, previous, brackets, before = [], None, [], None
    for index, token in enumerate(raw):
        kind, text = token.type, token.string
        if kind not in _DROPPED:
            token_before, before = before, token
        if kind in _DROPPED or (kind == tokenize.NEWLINE and (previous is None or previous == ";")):
            continue
        if kind == tokenize.STRING and previous in (None, ";", ":") and _ends_statement(raw, index):
            continue  # a docstring, or a string standing alone as a comment
        if kind == tokenize.OP and text in "([{":
            brackets.append(text == "(" and not _opens_call(token_before))
            if brackets[-1]:
                continue  # a grouping parenthesis: `return (a, b)` is `return a, b`
        elif kind == tokenize.OP and text in ")]}" and brackets and brackets.pop():
            continue
        if kind == tokenize.NAME:
            text = text if text in KEPT_NAMES or previous == "." else "V"
        elif kind == tokenize.NUMBER:
            text = "0"
        elif kind == tokenize.STRING:
            text = "S"
        elif kind == tokenize.NEWLINE:
            text = ";"
        (row, column), (last_row, end) = token.start, token.end
        tokens.append(Token(text, first_line + row - 1, column, end, first_line + last_row - 1))
        previous = text
    if len(source) > CANONICAL_CHARACTERS:
        return tokens  # far longer than any answer: not worth a syntax tree of its size
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return tokens  # valid tokens but not valid Python (a magic, a half-written line)
    return _CanonicalOrder(tokens, source, first_line).of(tree)


def _opens_call(before) -> bool:
    """Does a `(` after the raw token `before` open a call (after a name, `)` or `]`)?"""
    if before is None:
        return False
    if before.type == tokenize.NAME:
        return not keyword.iskeyword(before.string)
    return before.string in (")", "]")


def _ends_statement(raw, index) -> bool:
    following = [token for token in raw[index + 1 : index + 3] if token.type not in _DROPPED]
    return not following or following[0].type == tokenize.NEWLINE


def _normalise_loosely(source: str, first_line: int) -> list[Token]:
    """For code Python cannot tokenize (a syntax error): a regex tokenizer, comments dropped."""
    tokens = []
    for row, line in enumerate(io.StringIO(source).readlines()):  # the tokenizer's lines
        line = line.rstrip("\r\n").split("#", 1)[0]
        for match in _FALLBACK_TOKEN.finditer(line):
            text = match.group()
            if text[0] in "'\"":
                text = "S"
            elif text[0].isdigit():
                text = "0"
            elif text[0].isalpha() or text[0] == "_":
                previous = tokens[-1].text if tokens else None
                text = text if text in KEPT_NAMES or previous == "." else "V"
            tokens.append(
                Token(text, first_line + row, match.start(), match.end(), first_line + row)
            )
        if tokens and tokens[-1].text != ";" and line.strip():
            tokens.append(Token(";", first_line + row, len(line), len(line), first_line + row))
    return tokens


class _Unaligned(Exception):
    """The syntax tree and the tokens disagree about where something is, or the canonical form
    would be too large: keep the tokens as they are."""


class _TooLarge(Exception):
    """A helper's expression would exceed the budget: it is not inlined."""


MOVABLE_RUN = 200  # longer runs of assignments keep their order (the sort is quadratic)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class _CallSite:
    """A call of a helper that is inlined: tokens start ... end - 1 become the helper's
    expression, with the tokens of each argument in place of its parameter."""

    end: int
    template: list  # token indices, synthetic Tokens, and ("parameter", number) markers
    arguments: list[tuple[int, int]]  # token range of each argument


class _CanonicalOrder:
    """A cell's tokens in a form that does not depend on how its code was arranged.

    Three rewrites, each of which a copier can do without changing what the code computes:

    - **Helpers inlined.** A helper function whose body is assignments to names followed by a
      `return`, and which is only ever called, is replaced at each call by the expression it
      returns (``h, E, d = W.shape`` makes ``E`` read ``W.shape[1]``), with the call's
      arguments in place of its parameters; its definition goes. Writing a helper and inlining
      it then give the same tokens.
    - **Definitions first.** In every block, the function and class definitions come first,
      ordered by their normalised text.
    - **Independent assignments sorted.** Each run of assignments to plain names, between
      other statements, is put in one order: a statement comes after those it depends on (it
      reads or writes a name they write, or writes a name they read), by its depth in those
      dependencies, then by its normalised text. Swapping two independent lines changes
      nothing.

    Every token keeps its place in the learner's source, so the report still highlights the
    learner's code where it is.
    """

    def __init__(self, tokens: list[Token], source: str, first_line: int):
        self.tokens = tokens
        self.lines = io.StringIO(source).readlines()
        self.positions = [(token.line - first_line + 1, token.start) for token in tokens]
        self.helpers: set[ast.AST] = set()  # definitions inlined, left out
        self.sites: dict[int, _CallSite] = {}  # first token of a call -> how it is inlined
        # Inlining may repeat code (a parameter used twice); hostile code could make that grow
        # exponentially. Past this many tokens, a helper is not inlined, and a cell keeps its
        # tokens as written.
        self.budget = 4 * len(tokens) + 1000

    def of(self, tree: ast.Module) -> list[Token]:
        try:
            self._find_helpers(tree)
            items = self._node(0, len(self.tokens), tree)
        except _Unaligned:
            return self.tokens
        covered = {item for item in items if isinstance(item, int)}
        for helper in self.helpers:
            covered.update(range(self._start(helper), self._end(helper)))
        for start, site in self.sites.items():  # replaced by the helper's expression
            covered.update(range(start, site.end))
        if covered != set(range(len(self.tokens))):
            return self.tokens  # a token would be lost: keep the learner's order
        return [self._token(item) for item in items]

    # -- positions: the syntax tree counts columns in UTF-8 bytes, the tokenizer in characters

    def _position(self, row: int, byte_column: int) -> tuple[int, int]:
        line = self.lines[row - 1] if 0 < row <= len(self.lines) else ""
        return row, len(line.encode("utf-8")[:byte_column].decode("utf-8", "ignore"))

    def _index(self, row: int, byte_column: int) -> int:
        """The first token at or after a position of the syntax tree."""
        return bisect.bisect_left(self.positions, self._position(row, byte_column))

    def _start(self, node: ast.AST) -> int:
        decorators = getattr(node, "decorator_list", None)
        if decorators:
            return self._index(decorators[0].lineno, 0)
        return self._index(node.lineno, node.col_offset)

    def _end(self, statement: ast.AST) -> int:
        index = self._index(statement.end_lineno, statement.end_col_offset)
        return index + 1 if index < len(self.tokens) and self.tokens[index].text == ";" else index

    def _span(self, expression: ast.expr) -> tuple[int, int]:
        return self._start(expression), self._index(
            expression.end_lineno, expression.end_col_offset
        )

    def _name_token(self, name: ast.Name) -> int | None:
        """The token of a name; None for a name inside an f-string (part of its STRING)."""
        index = self._start(name)
        if index < len(self.tokens) and self.positions[index] == self._position(
            name.lineno, name.col_offset
        ):
            return index
        return None

    def _token(self, item) -> Token:
        return self.tokens[item] if isinstance(item, int) else item

    def _key(self, items: list) -> tuple[str, ...]:
        return tuple(self._token(item).text for item in items)

    # -- helpers inlined

    def _find_helpers(self, tree: ast.Module) -> None:
        """Inline each function defined once in the cell, at its top or directly in another
        function, that the cell only ever calls (never passes, rebinds or calls from itself)."""
        candidates, calls = [], defaultdict(list)
        names, definitions = Counter(), Counter()
        for node in ast.walk(tree):  # one walk: a cell is small, but a class has thousands
            if isinstance(node, (ast.Module, ast.FunctionDef)):
                candidates += [
                    statement
                    for statement in node.body
                    if isinstance(statement, ast.FunctionDef) and _plain_parameters(statement)
                ]
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                calls[node.func.id].append(node)
            elif isinstance(node, ast.Name):
                names[node.id] += 1
            if isinstance(node, _DEFINITIONS):
                definitions[node.name] += 1
        for helper in candidates:
            used = calls[helper.name]
            if not used or definitions[helper.name] != 1 or names[helper.name] != len(used):
                continue
            inside = {id(node) for node in ast.walk(helper)}
            if not any(id(call) in inside for call in used):
                self._inline(helper, used)

    def _inline(self, helper: ast.FunctionDef, calls: list[ast.Call]) -> None:
        """Record each call of `helper` as inlined, if its body and the calls allow it."""
        parameters = [argument.arg for argument in helper.args.args]
        if any(
            len(call.args) != len(parameters)
            or call.keywords
            or any(isinstance(argument, ast.Starred) for argument in call.args)
            for call in calls
        ):
            return
        try:
            template = self._template(helper, parameters)
        except _TooLarge:
            return
        if template is None:
            return
        self.helpers.add(helper)
        for call in calls:
            start, end = self._span(call)
            self.sites[start] = _CallSite(end, template, [self._span(a) for a in call.args])

    def _template(self, helper: ast.FunctionDef, parameters: list[str]) -> list | None:
        """The helper's returned expression as items, its local names replaced by what they
        were assigned and its parameters by markers; None if its body is not assignments to
        names and then a return."""
        body = helper.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # a docstring
        if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
            return None
        values: dict[str, list] = {}
        for step in body[:-1]:
            if not isinstance(step, ast.Assign) or len(step.targets) != 1:
                return None
            target, value = step.targets[0], self._expression(step.value, values, parameters)
            if isinstance(target, ast.Name):
                values[target.id] = value
            elif isinstance(target, (ast.Tuple, ast.List)) and all(
                isinstance(element, ast.Name) for element in target.elts
            ):
                for element in target.elts:  # a, b = x: a is x[0], b is x[1]
                    index = self._name_token(element)
                    if index is None:
                        return None
                    at = self.tokens[index]
                    values[element.id] = value + [
                        Token(text, at.line, at.start, at.end, at.last_line)
                        for text in ("[", "0", "]")
                    ]
            else:
                return None
        return self._expression(body[-1].value, values, parameters)

    def _expression(self, node: ast.expr, values: dict, parameters: list[str]) -> list:
        low, high = self._span(node)
        names = {
            self._name_token(name): name.id
            for name in ast.walk(node)
            if isinstance(name, ast.Name) and (name.id in values or name.id in parameters)
        }
        items = []
        for index in range(low, high):
            name = names.get(index)
            if name in values:
                items += values[name]
            elif name is not None:
                items.append(("parameter", parameters.index(name)))
            else:
                items.append(index)
            if len(items) > self.budget:
                raise _TooLarge
        return items

    def _expand(self, low: int, high: int) -> list:
        """Tokens low ... high - 1, with the calls of inlined helpers replaced."""
        items, index = [], low
        while index < high:
            site = self.sites.get(index)
            if site is None or not index < site.end <= high:
                items.append(index)
                index += 1
                continue
            arguments = [self._expand(*span) for span in site.arguments]
            for item in site.template:
                if isinstance(item, tuple):
                    items += arguments[item[1]]
                else:
                    items.append(item)
            if len(items) > self.budget:
                raise _Unaligned
            index = site.end
        return items

    # -- the order of statements

    def _node(self, low: int, high: int, node: ast.AST) -> list:
        """The items of `node` (tokens low ... high - 1), its blocks in canonical order."""
        items, position = [], low
        for body in _bodies(node):
            first, last = self._start(body[0]), self._end(body[-1])
            if not low <= position <= first <= last <= high:
                raise _Unaligned
            items += self._expand(position, first)
            items += self._block(body, last)
            position = last
        return items + self._expand(position, high)

    def _block(self, body: list[ast.stmt], high: int) -> list:
        starts = [self._start(statement) for statement in body] + [high]
        parts = [
            (statement, self._node(starts[i], starts[i + 1], statement))
            for i, statement in enumerate(body)
            if statement not in self.helpers
        ]
        definitions = sorted(
            (items for statement, items in parts if isinstance(statement, _DEFINITIONS)),
            key=self._key,
        )
        items, run = [item for part in definitions for item in part], []
        for statement, part in parts:
            if isinstance(statement, _DEFINITIONS):
                continue
            names = _names_bound(statement)
            if len(run) >= MOVABLE_RUN or names is None:
                items += self._sorted_run(run)
                run = []
            if names is None:
                items += part
            else:
                run.append((names, part))
        return items + self._sorted_run(run)

    def _sorted_run(self, run: list) -> list:
        """The run by depth, then by normalised text: a statement's depth is one more than the
        deepest statement it must follow (0 if none). Depth and text do not change when
        independent statements swap, so neither does this order, which Kahn's sort with the
        smallest text first among those free to go does not guarantee: there, which statement
        frees a later one first depends on how equal texts were arranged."""
        names = [written_read for written_read, _ in run]
        depth = [0] * len(run)
        for later in range(len(run)):
            for earlier in range(later):
                if names[earlier][0] & (names[later][0] | names[later][1]) or (
                    names[later][0] & names[earlier][1]
                ):
                    depth[later] = max(depth[later], depth[earlier] + 1)
        order = sorted(range(len(run)), key=lambda i: (depth[i], self._key(run[i][1]), i))
        return [item for i in order for item in run[i][1]]


def _plain_parameters(function: ast.FunctionDef) -> bool:
    """No decorator, and only positional parameters without defaults: calls can be inlined."""
    arguments = function.args
    return not (
        function.decorator_list
        or arguments.posonlyargs
        or arguments.vararg
        or arguments.kwonlyargs
        or arguments.kwarg
        or arguments.defaults
    )


def _bodies(node: ast.AST) -> list[list[ast.stmt]]:
    """The blocks of statements directly under `node` (an except or case clause's included), in
    the order of the source."""
    found = []
    for _, value in ast.iter_fields(node):
        if not isinstance(value, list) or not value:
            continue
        if all(isinstance(item, ast.stmt) for item in value):
            found.append(value)
        else:
            for item in value:
                if isinstance(item, (ast.excepthandler, ast.match_case)):
                    found += _bodies(item)
    return sorted(found, key=lambda body: (body[0].lineno, body[0].col_offset))


def _names_bound(statement: ast.stmt) -> tuple[set[str], set[str]] | None:
    """(names written, names read) of an assignment to plain names; None for any other
    statement (those keep their place)."""
    if isinstance(statement, ast.Assign):
        targets = [
            element
            for target in statement.targets
            for element in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target])
        ]
    elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)) and statement.value is not None:
        targets = [statement.target]
    else:
        return None
    if not all(isinstance(target, ast.Name) for target in targets):
        return None
    written = {target.id for target in targets}
    read = {node.id for node in ast.walk(statement.value) if isinstance(node, ast.Name)}
    return written, read | (written if isinstance(statement, ast.AugAssign) else set())
