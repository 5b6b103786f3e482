"""nbgrader's notebook format, read in one place (as ``nbgrader/utils.py`` does with ``is_grade``
and ``is_solution``): the markers inside cells, the metadata of a cell, and its source.

The getters accept any JSON: a learner's notebook is untrusted, so a cell whose metadata or source
has the wrong type reads as empty rather than raising.
"""

import functools
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autograder.checks.mistakes import Mistake

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


@functools.cache
def skip_execution_tag() -> str:
    """The tag of a cell that nbclient, and so `nbgrader autograde`, does not run (its
    `skip_cells_with_tag`, read from nbclient itself, when first needed: importing nbclient
    imports nbformat, which takes a second): the course's grader and the tests leave such a cell
    out too. It marks an ungraded demonstration that a learner runs in Jupyter."""
    from nbclient import NotebookClient

    return NotebookClient.class_traits()["skip_cells_with_tag"].default_value


def __getattr__(name: str):
    if name == "SKIP_EXECUTION_TAG":  # the constant, read on first use
        return skip_execution_tag()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def nbgrader_metadata(cell) -> dict:
    """The cell's ``metadata.nbgrader`` dict, or {} when it is missing or not a dict."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return nbgrader if isinstance(nbgrader, dict) else {}


def cell_grade_id(cell) -> str | None:
    """The cell's nbgrader id, when it has one that is a string."""
    value = nbgrader_metadata(cell).get("grade_id")
    return value if isinstance(value, str) else None


def is_grade(cell) -> bool:
    """Whether nbgrader scores this cell (a test cell, or a manually graded answer)."""
    return bool(nbgrader_metadata(cell).get("grade"))


def is_solution(cell) -> bool:
    """Whether this cell holds a learner's answer."""
    return bool(nbgrader_metadata(cell).get("solution"))


def is_autograded_test(cell) -> bool:
    """A test cell: scored, and not an answer."""
    return is_grade(cell) and not is_solution(cell)


def skips_execution(cell) -> bool:
    """Whether graders leave this cell out: it carries the SKIP_EXECUTION_TAG among its tags."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return isinstance(tags, list) and bool(tags) and skip_execution_tag() in tags


def is_manually_graded(cell) -> bool:
    """A written answer that a person scores (nbgrader's "manually graded answer": scored, and an
    answer), in a markdown or a code cell."""
    return is_grade(cell) and is_solution(cell)


def is_autograded_answer(cell) -> bool:
    """An answer that the test cells check (nbgrader's "autograded answer"): code, not scored
    itself."""
    return is_solution(cell) and not is_grade(cell)


def cell_source(cell) -> str:
    """A cell's source as one string, whatever shape a notebook gives it."""
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        source = "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def graded_tests(notebook) -> dict[str, float]:
    """grade_id -> points of every autograded test cell."""
    return {
        cell_grade_id(cell): float(nbgrader_metadata(cell).get("points", 0))
        for cell in notebook.cells
        if is_autograded_test(cell)
    }


def manually_graded(notebook) -> dict[str, float]:
    """grade_id -> points of every manually graded answer."""
    return {
        cell_grade_id(cell): float(nbgrader_metadata(cell).get("points", 0))
        for cell in notebook.cells
        if is_manually_graded(cell)
    }


def apply_mistake(notebook, mistake: "Mistake"):
    """A copy of `notebook` whose solution cell `mistake.cell` holds the wrong source instead."""
    import nbformat

    wrong = nbformat.from_dict(json.loads(json.dumps(notebook)))
    cells = [cell for cell in wrong.cells if cell_grade_id(cell) == mistake.cell]
    if len(cells) != 1 or not is_solution(cells[0]):
        raise LookupError(
            f"mistake {mistake.name!r}: no single solution cell with grade_id {mistake.cell!r}"
        )
    cells[0].source = mistake.source.strip("\n")
    return wrong
