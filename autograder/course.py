"""The course on disk, and nbgrader runs on it: shared by the command line and the tests."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from . import REPO_ROOT
from .assignments import Mistake

SOLUTIONS = REPO_ROOT / "solutions"
EXERCISES = REPO_ROOT / "exercises"
NBGRADER_CONFIG = REPO_ROOT / "autograder" / "nbgrader_config.py"
HELPERS_SOURCE = REPO_ROOT / "autograder" / "notebook_helpers.py"
HELPERS_CELL_ID = "test-helpers"


def assignments() -> list[str]:
    """Assignment ids, in course order: every folder of solutions/ that holds a notebook."""
    return sorted(path.name for path in SOLUTIONS.iterdir() if path.is_dir() and any(path.glob("*.ipynb")))


def notebook_name(assignment: str) -> str:
    """Each assignment has one notebook, named after the assignment so a download is recognisable."""
    return f"{assignment}.ipynb"


def solution_notebook(assignment: str) -> Path:
    return SOLUTIONS / assignment / notebook_name(assignment)


def release_notebook(assignment: str) -> Path:
    return EXERCISES / assignment / notebook_name(assignment)


def read_notebook(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def nbgrader_metadata(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def graded_tests(notebook) -> dict[str, float]:
    """grade_id -> points of every autograded test cell."""
    return {
        nbgrader_metadata(cell)["grade_id"]: float(nbgrader_metadata(cell).get("points", 0))
        for cell in notebook.cells
        if nbgrader_metadata(cell).get("grade") and not nbgrader_metadata(cell).get("solution")
    }


def apply_mistake(notebook, mistake: Mistake):
    """A copy of `notebook` whose solution cell `mistake.cell` holds the wrong source instead."""
    wrong = nbformat.from_dict(json.loads(json.dumps(notebook)))
    cells = [cell for cell in wrong.cells if nbgrader_metadata(cell).get("grade_id") == mistake.cell]
    if len(cells) != 1 or not nbgrader_metadata(cells[0]).get("solution"):
        raise LookupError(f"mistake {mistake.name!r}: no single solution cell with grade_id {mistake.cell!r}")
    cells[0].source = mistake.source.strip("\n")
    return wrong


def helpers_cell_source() -> str:
    return HELPERS_SOURCE.read_text().rstrip("\n")


def sync_helpers(path: Path) -> bool:
    """Make the notebook's test-helper cell equal autograder/notebook_helpers.py; True if it changed."""
    notebook = read_notebook(path)
    cells = [cell for cell in notebook.cells if nbgrader_metadata(cell).get("grade_id") == HELPERS_CELL_ID]
    if len(cells) != 1:
        raise LookupError(f"{path}: expected one cell with grade_id {HELPERS_CELL_ID!r}, found {len(cells)}")
    if cells[0].source == helpers_cell_source():
        return False
    cells[0].source = helpers_cell_source()
    write_notebook(notebook, path)
    return True


def nbgrader_environment() -> dict:
    """The environment in which nbgrader finds autograder/nbgrader_config.py (it has no --config flag)."""
    environment = dict(os.environ)
    paths = [str(NBGRADER_CONFIG.parent), environment.get("JUPYTER_CONFIG_PATH", "")]
    environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join(path for path in paths if path)
    # nbgrader runs `alembic` from PATH: put this interpreter's scripts folder first.
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
    return environment


def run_nbgrader(command: list[str], root: Path, *, check: bool = True, timeout: float | None = None):
    """Run `nbgrader <command>` with this course's configuration on the course rooted at `root`."""
    arguments = [
        sys.executable, "-m", "nbgrader", *command,
        f"--CourseDirectory.root={root}",
        f"--CourseDirectory.db_url=sqlite:///{root / 'gradebook.db'}",
    ]
    result = subprocess.run(arguments, capture_output=True, text=True, timeout=timeout, env=nbgrader_environment())
    if check and result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def generate_release(assignment: str, course_root: Path = REPO_ROOT) -> Path:
    """Run `nbgrader generate_assignment` for one assignment of the course at `course_root`."""
    run_nbgrader(["generate_assignment", assignment, "--force", "--no-db"], course_root)
    # nbgrader copies every file of the source folder; the release is the notebook alone.
    return course_root / "exercises" / assignment / notebook_name(assignment)


def scratch_course(directory: Path, assignment_ids: list[str]) -> Path:
    """A throwaway course at `directory` holding copies of the given solutions."""
    for assignment in assignment_ids:
        target = directory / "solutions" / assignment
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(solution_notebook(assignment), target / notebook_name(assignment))
    return directory


def autograde(course_root: Path, assignment: str, submissions: dict, *, timeout: float = 1800) -> dict:
    """Grade notebooks with the real `nbgrader autograde` in the scratch course at `course_root`.

    `submissions` maps student id -> notebook. The assignment's solution must already be in
    `course_root`/solutions. Returns student id -> {test grade_id: score}.
    """
    from nbgrader.api import Gradebook

    run_nbgrader(["generate_assignment", assignment, "--force"], course_root)
    for student, notebook in submissions.items():
        write_notebook(notebook, course_root / "submitted" / student / assignment / notebook_name(assignment))
    run_nbgrader(["autograde", assignment, "--force"], course_root, timeout=timeout)
    scores = {}
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gradebook:
        for student in submissions:
            notebook = gradebook.find_submission_notebook(Path(notebook_name(assignment)).stem, assignment, student)
            scores[student] = {grade.name: grade.score for grade in notebook.grades if grade.max_score}
    return scores
