"""Known mistakes: the typical wrong answers of each assignment, kept as data.

``<assignment id>.toml`` in this folder lists them, one ``[[mistake]]`` table each::

    [[mistake]]
    name = "softmax over the queries instead of the keys"  # what the feedback calls it
    cell = "multi-head-attention"        # grade_id of the solution cell that it edits
    fails = ["test-mha-self-attention"]  # grade_ids of the test cells it must fail, exactly
    drop_docstring = true                # optional: the answer's docstring is deleted first

    [[mistake.edit]]                     # one or more, applied in turn
    old = 'axis=-1)'                     # must occur exactly once at its turn
    new = 'axis=-2)'

The wrong answer is the solution notebook's answer with those edits applied, so no copy of an
answer lives here to drift from it, and an edit that no longer applies fails loudly. Code is
written in TOML's literal strings ('...' and '''...'''), which take it verbatim, with no escapes.

The tests grade every mistake through nbgrader: it must lose exactly the points of `fails`. The
grader's feedback runs them to name a learner's likely mistake (``grade/diagnosis.py``).
"""

import ast
import functools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from autograder import course
from autograder.course.notebook_format import (
    BEGIN_SOLUTION,
    END_SOLUTION,
    cell_grade_id,
    cell_source,
    is_solution,
)

FOLDER = Path(__file__).parent
REQUIRED_KEYS = {"name", "cell", "fails", "edit"}
OPTIONAL_KEYS = {"drop_docstring"}


@functools.cache
def solution_answers(assignment: str) -> dict[str, str]:
    """grade_id -> the answer of each solution cell of the assignment's solution notebook: its
    source without the BEGIN/END SOLUTION marker lines (what a learner who got it right writes)."""
    notebook = json.loads(course.solution_notebook(assignment).read_text())
    answers = {}
    for cell in notebook["cells"]:
        if is_solution(cell) and cell_grade_id(cell):
            lines = cell_source(cell).splitlines(keepends=True)
            kept = [line for line in lines if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION)]
            answers[cell_grade_id(cell)] = "".join(kept)
    return answers


def answer_docstring(source: str, what: str) -> str:
    """The lines of the docstring of the first function in `source` that has one (indentation
    and final newline included), so that deleting them leaves no blank line."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and ast.get_docstring(node) is not None:
            docstring = node.body[0]
            lines = source.splitlines(keepends=True)
            return "".join(lines[docstring.lineno - 1 : docstring.end_lineno])
    raise ValueError(f"{what}: the answer has no function with a docstring")


def apply_edits(answer: str, edits: tuple[tuple[str, str], ...], what: str) -> str:
    """`answer` with each (old, new) replacement of `edits` applied in turn. Each `old` must occur
    exactly once at its turn, so an edit that no longer applies, or would apply in two places,
    fails loudly instead of silently grading against a different mistake."""
    source = answer
    for old, new in edits:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"{what}: the edit of {old!r} applies {count} times, not once")
        source = source.replace(old, new)
    return source


@dataclass(frozen=True)
class Mistake:
    """A known-wrong answer: the solution cell `cell` (its nbgrader grade_id) with `edits`, a tuple
    of (old, new) replacements, applied to its answer (after its docstring is deleted, with
    `drop_docstring`) must fail exactly the test cells `fails` (their grade_ids), and so lose
    exactly their points."""

    name: str
    cell: str
    fails: frozenset[str]
    edits: tuple[tuple[str, str], ...]
    drop_docstring: bool = False
    assignment: str = field(kw_only=True)

    @functools.cached_property
    def source(self) -> str:
        """The wrong answer: read from the solution notebook on first use, not at load, so the
        hidden checks work without it."""
        answers = solution_answers(self.assignment)
        if self.cell not in answers:
            raise LookupError(f"{self._what}: {self.assignment} has no such solution cell")
        return self.applied_to(answers[self.cell])

    def applied_to(self, answer: str) -> str:
        """`answer` made into this mistake: its docstring deleted (with `drop_docstring`), then
        the edits applied."""
        first = ((answer_docstring(answer, self._what), ""),) if self.drop_docstring else ()
        return apply_edits(answer, first + self.edits, self._what)

    @property
    def _what(self) -> str:
        return f"mistake {self.name!r} of {self.cell!r}"


@functools.cache
def known_mistakes(assignment: str) -> tuple[Mistake, ...]:
    """The assignment's known mistakes, in the order of its file."""
    path = FOLDER / f"{assignment}.toml"
    if not path.is_file():
        raise LookupError(f"no known mistakes for assignment {assignment!r}: {path} is missing")
    return read_mistakes(path, assignment)


def read_mistakes(path: Path, assignment: str) -> tuple[Mistake, ...]:
    """The mistakes of one file; a file that does not follow the format above is refused with
    its name and the mistake at fault."""
    with path.open("rb") as file:
        table = tomllib.load(file)
    if set(table) != {"mistake"}:
        raise ValueError(f"{path.name}: expected only [[mistake]] tables, got {sorted(table)}")
    return tuple(
        _mistake(entry, assignment, f"{path.name}, mistake {index + 1}")
        for index, entry in enumerate(table["mistake"])
    )


def _mistake(entry: dict, assignment: str, where: str) -> Mistake:
    """One [[mistake]] table as a Mistake, each key checked for its presence and type."""
    keys = set(entry)
    if not REQUIRED_KEYS <= keys <= REQUIRED_KEYS | OPTIONAL_KEYS:
        raise ValueError(
            f"{where}: needs keys {sorted(REQUIRED_KEYS)} and may have {sorted(OPTIONAL_KEYS)}; "
            f"it has {sorted(keys)}"
        )
    name, cell, fails = entry["name"], entry["cell"], entry["fails"]
    if not (isinstance(name, str) and isinstance(cell, str) and name and cell):
        raise ValueError(f"{where}: name and cell must be non-empty strings")
    if not isinstance(fails, list) or not fails or not all(isinstance(t, str) for t in fails):
        raise ValueError(f"{where} ({name!r}): fails must list the test cells' grade_ids")
    if not isinstance(entry["edit"], list) or not entry["edit"]:
        raise ValueError(f"{where} ({name!r}): needs one or more [[mistake.edit]] tables")
    edits = []
    for edit in entry["edit"]:
        if set(edit) != {"old", "new"} or not all(isinstance(text, str) for text in edit.values()):
            raise ValueError(f"{where} ({name!r}): each [[mistake.edit]] has a string old and new")
        edits.append((edit["old"], edit["new"]))
    drop_docstring = entry.get("drop_docstring", False)
    if not isinstance(drop_docstring, bool):
        raise ValueError(f"{where} ({name!r}): drop_docstring must be true or false")
    return Mistake(
        name, cell, frozenset(fails), tuple(edits), drop_docstring, assignment=assignment
    )
