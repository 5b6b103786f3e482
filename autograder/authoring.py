"""Cell constructors for writing a solution notebook from a script.

The notebook in solutions/ is the one source of truth; these helpers only spare an author typing
nbgrader's cell metadata by hand (the Create Assignment toolbar in Jupyter does the same job)::

    from autograder import authoring as a
    a.save("04-scaling-softmax-masks", [
        a.markdown("# Exercise 4 ..."),
        a.read_only("imports", "import numpy as np"),
        a.helpers(),
        a.solution("softmax", "def softmax(x, axis=-1):\\n    ### BEGIN SOLUTION\\n ..."),
        a.tests("test-softmax", 2, '\"\"\"Check ...\"\"\"\\n...'),
    ])
"""

import textwrap

import nbformat

from .course import HELPERS_CELL_ID, helpers_cell_source, solution_notebook, write_notebook


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
    """The shared visible-test helper cell (autograder/notebook_helpers.py)."""
    return read_only(HELPERS_CELL_ID, helpers_cell_source())


def solution(grade_id: str, source: str):
    """An answer cell: the reference between ### BEGIN SOLUTION / ### END SOLUTION."""
    return nbformat.v4.new_code_cell(_clean(source), metadata=_metadata(grade_id, solution=True, locked=False))


def tests(grade_id: str, points: float, source: str):
    """An autograded test cell worth `points`; it may hold ### BEGIN HIDDEN TESTS blocks."""
    return nbformat.v4.new_code_cell(_clean(source), metadata=_metadata(grade_id, grade=True, points=points))


def save(assignment: str, cells: list) -> None:
    """Write solutions/<assignment>/<assignment>.ipynb, with stable cell ids and no outputs."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for index, cell in enumerate(cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        cell["id"] = grade_id or f"cell-{index:02d}"
    notebook.cells = cells
    write_notebook(notebook, solution_notebook(assignment))
