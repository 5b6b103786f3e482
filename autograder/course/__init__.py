"""The course on disk: its assignments, and where each one's solution and release notebooks live.

- ``notebook_format``: nbgrader's cell metadata, read in one place.
- ``authoring``: writing solution notebooks, and the shared test-helper cell.
- ``nbgrader_runs``: nbgrader commands on this course (release, autograde in a scratch course).
- ``nbgrader_config.py``: nbgrader's configuration for the course.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from autograder import REPO_ROOT

if TYPE_CHECKING:
    import nbformat  # imported where a notebook is read or written: it takes a second to import

SOLUTIONS = REPO_ROOT / "solutions"
EXERCISES = REPO_ROOT / "exercises"


def assignments() -> list[str]:
    """Assignment ids, in course order: every folder of solutions/ that holds a notebook."""
    return sorted(
        path.name for path in SOLUTIONS.iterdir() if path.is_dir() and any(path.glob("*.ipynb"))
    )


def notebook_name(assignment: str) -> str:
    """Each assignment has one notebook, named after the assignment so a download is
    recognisable."""
    return f"{assignment}.ipynb"


def solution_notebook(assignment: str) -> Path:
    return SOLUTIONS / assignment / notebook_name(assignment)


def release_notebook(assignment: str) -> Path:
    return EXERCISES / assignment / notebook_name(assignment)


def read_notebook(path: Path) -> "nbformat.NotebookNode":
    import nbformat

    return nbformat.read(path, as_version=4)


def write_notebook(notebook: "nbformat.NotebookNode", path: Path) -> None:
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
