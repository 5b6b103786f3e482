"""Cell constructors for writing a solution notebook from a script.

The notebook in solutions/ is the one source of truth; these helpers only spare an author typing
nbgrader's cell metadata by hand (the Create Assignment toolbar in Jupyter does the same job)::

    from autograder.course import authoring
    a.save("04-scaling-softmax-masks", [
        a.markdown("# Exercise 4 ..."),
        a.read_only("imports", "import numpy as np"),
        a.helpers(),
        a.solution("softmax", "def softmax(x, axis=-1):\\n    ### BEGIN SOLUTION\\n ..."),
        a.tests("test-softmax", 2, '\"\"\"Check ...\"\"\"\\n...'),
        a.written_answer("why-scale", 1, "Why ...?\\n\\n### BEGIN SOLUTION\\n..."),
    ])
"""

import textwrap
from pathlib import Path

import nbformat

from autograder import REPO_ROOT
from autograder.course import read_notebook, solution_notebook, write_notebook
from autograder.course.notebook_format import nbgrader_metadata

HELPERS_SOURCE = REPO_ROOT / "autograder" / "checks" / "notebook_helpers.py"
HELPERS_CELL_ID = "test-helpers"


def _metadata(grade_id, *, grade=False, solution=False, locked=True, points=None):
    metadata = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        metadata["points"] = points
    return {"nbgrader": metadata}


def _clean(source: str) -> str:
    return textwrap.dedent(source).strip("\n")


def markdown(source: str, grade_id: str | None = None):
    """Instructions; locked when given a grade_id so a learner cannot change them by accident."""
    metadata = _metadata(grade_id) if grade_id else {}
    return nbformat.v4.new_markdown_cell(_clean(source), metadata=metadata)


def read_only(grade_id: str, source: str):
    """A locked code cell (imports, data) that the learner runs but does not edit."""
    return nbformat.v4.new_code_cell(_clean(source), metadata=_metadata(grade_id))


def helpers():
    """The shared visible-test helper cell (autograder/checks/notebook_helpers.py)."""
    return read_only(HELPERS_CELL_ID, helpers_cell_source())


def solution(grade_id: str, source: str):
    """An answer cell: the reference between ### BEGIN SOLUTION / ### END SOLUTION."""
    return nbformat.v4.new_code_cell(
        _clean(source), metadata=_metadata(grade_id, solution=True, locked=False)
    )


def tests(grade_id: str, points: float, source: str):
    """An autograded test cell worth `points`; it may hold ### BEGIN HIDDEN TESTS blocks."""
    return nbformat.v4.new_code_cell(
        _clean(source), metadata=_metadata(grade_id, grade=True, points=points)
    )


def written_answer(grade_id: str, points: float, source: str):
    """A question answered in words, scored by a person in formgrader (nbgrader's manually graded
    answer): the question, then a model answer between ### BEGIN SOLUTION / ### END SOLUTION,
    which the release replaces with "YOUR ANSWER HERE"."""
    return nbformat.v4.new_markdown_cell(
        _clean(source),
        metadata=_metadata(grade_id, grade=True, solution=True, locked=False, points=points),
    )


def save(assignment: str, cells: list) -> None:
    """Write solutions/<assignment>/<assignment>.ipynb, with stable cell ids and no outputs."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for index, cell in enumerate(cells):
        grade_id = nbgrader_metadata(cell).get("grade_id")
        cell["id"] = grade_id or f"cell-{index:02d}"
    notebook.cells = cells
    write_notebook(notebook, solution_notebook(assignment))


def helpers_cell_source() -> str:
    return HELPERS_SOURCE.read_text().rstrip("\n")


def sync_helpers(path: Path) -> bool:
    """Make the notebook's test-helper cell equal autograder/checks/notebook_helpers.py; True if it
    changed."""
    notebook = read_notebook(path)
    cells = [
        cell
        for cell in notebook.cells
        if nbgrader_metadata(cell).get("grade_id") == HELPERS_CELL_ID
    ]
    if len(cells) != 1:
        raise LookupError(
            f"{path}: expected one cell with grade_id {HELPERS_CELL_ID!r}, found {len(cells)}"
        )
    if cells[0].source == helpers_cell_source():
        return False
    cells[0].source = helpers_cell_source()
    write_notebook(notebook, path)
    return True
