"""One module per assignment, named after its id: ``04-scaling-softmax-masks`` lives in
``a04_scaling_softmax_masks.py``. Each module defines

- ``ASSIGNMENT``: the assignment id, whose solution notebook its mistakes edit;
- ``CHECKS``: check name -> ``check(rng, *learner_functions)``, the hidden checks;
- ``MISTAKES``: the known-wrong variants (:class:`Mistake`) that the tests grade, and that the
  feedback uses to name a learner's likely mistake. Each is an edit of the solution notebook's
  answer, made with the module's ``mistake = mistake_factory(ASSIGNMENT)``, so no copy of an
  answer lives here to drift from the notebook.

A module holds the whole of its exercise: every hidden check and the table of known mistakes
that the tests grade one by one. That makes most of them longer than 300 lines, by design.
"""

import ast
import functools
import importlib
import json
from dataclasses import dataclass, field
from types import ModuleType

from autograder import course
from autograder.course.notebook_format import (
    BEGIN_SOLUTION,
    END_SOLUTION,
    cell_grade_id,
    cell_source,
    is_solution,
)


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


class _AnswerDocstring:
    """The `old` of an edit that stands for the docstring of the answer's function, its lines as
    they are at the edit's turn (indentation and final newline included), read from the answer so
    that no copy of it lives in a checks module."""

    def __repr__(self):
        return "ANSWER_DOCSTRING"


ANSWER_DOCSTRING = _AnswerDocstring()
# The edit that deletes the answer's docstring, as a learner may.
DROP_DOCSTRING = (ANSWER_DOCSTRING, "")


def answer_docstring(source: str, what: str) -> str:
    """The lines of the docstring of the first function in `source` that has one."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and ast.get_docstring(node) is not None:
            docstring = node.body[0]
            lines = source.splitlines(keepends=True)
            return "".join(lines[docstring.lineno - 1 : docstring.end_lineno])
    raise ValueError(f"{what}: the answer has no function with a docstring")


def apply_edits(answer: str, edits, what: str) -> str:
    """`answer` with each (old, new) replacement of `edits` applied in turn. Each `old` must occur
    exactly once at its turn, so an edit that no longer applies, or would apply in two places,
    fails loudly instead of silently grading against a different mistake. An `old` of
    ``ANSWER_DOCSTRING`` is the answer's docstring (``DROP_DOCSTRING`` deletes it)."""
    source = answer
    for old, new in edits:
        if old is ANSWER_DOCSTRING:
            old = answer_docstring(source, what)
        count = source.count(old)
        if count != 1:
            raise ValueError(f"{what}: the edit of {old!r} applies {count} times, not once")
        source = source.replace(old, new)
    return source


@dataclass(frozen=True)
class Mistake:
    """A known-wrong answer: the solution cell `cell` (its nbgrader grade_id) with `edits`, a tuple
    of (old, new) replacements, applied to its answer must fail exactly the test cells `fails`
    (their grade_ids), and so lose exactly their points."""

    name: str
    cell: str
    edits: tuple
    fails: frozenset
    assignment: str = field(kw_only=True)

    @functools.cached_property
    def source(self) -> str:
        """The wrong answer: read from the solution notebook on first use, not at import, so the
        hidden checks load without it."""
        answers, what = solution_answers(self.assignment), f"mistake {self.name!r} of {self.cell!r}"
        if self.cell not in answers:
            raise LookupError(f"{what}: {self.assignment} has no such solution cell")
        return apply_edits(answers[self.cell], self.edits, what)


def mistake_factory(assignment: str):
    """The Mistake constructor of one assignment's module: ``mistake(name, cell, edits, fails)``."""
    return functools.partial(Mistake, assignment=assignment)


def module_name(assignment: str) -> str:
    return "a" + assignment.replace("-", "_")


def load_assignment(assignment: str) -> ModuleType:
    """The checks module of an assignment id, with a clear error for an unknown id."""
    try:
        return importlib.import_module(f"{__name__}.{module_name(assignment)}")
    except ModuleNotFoundError as error:
        raise LookupError(f"no hidden checks for assignment {assignment!r}") from error
