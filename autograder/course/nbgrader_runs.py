"""nbgrader commands run on this course: the release, and real ``nbgrader autograde`` in a scratch
course (the tests' reference for what nbgrader itself would score)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder import REPO_ROOT
from autograder.course import notebook_name, solution_notebook, write_notebook

NBGRADER_CONFIG = Path(__file__).with_name("nbgrader_config.py")


def nbgrader_environment() -> dict:
    """The environment in which nbgrader finds autograder/nbgrader_config.py (it has no --config
    flag)."""
    environment = dict(os.environ)
    paths = [str(NBGRADER_CONFIG.parent), environment.get("JUPYTER_CONFIG_PATH", "")]
    environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join(path for path in paths if path)
    # nbgrader runs `alembic` from PATH: put this interpreter's scripts folder first.
    environment["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), environment.get("PATH", "")]
    )
    return environment


def run_nbgrader(
    command: list[str], root: Path, *, check: bool = True, timeout: float | None = None
):
    """Run `nbgrader <command>` with this course's configuration on the course rooted at `root`."""
    arguments = [
        sys.executable,
        "-m",
        "nbgrader",
        *command,
        f"--CourseDirectory.root={root}",
        f"--CourseDirectory.db_url=sqlite:///{root / 'gradebook.db'}",
    ]
    result = subprocess.run(
        arguments, capture_output=True, text=True, timeout=timeout, env=nbgrader_environment()
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
        )
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


def autograde(
    course_root: Path, assignment: str, submissions: dict, *, timeout: float = 1800
) -> dict:
    """Grade notebooks with the real `nbgrader autograde` in the scratch course at `course_root`.

    `submissions` maps student id -> notebook. The assignment's solution must already be in
    `course_root`/solutions. Returns student id -> {grade_id: score} for every scored cell: a
    written answer's score is None while it awaits a grader (0 when left as released).
    """
    from nbgrader.api import Gradebook

    run_nbgrader(["generate_assignment", assignment, "--force"], course_root)
    for student, notebook in submissions.items():
        write_notebook(
            notebook, course_root / "submitted" / student / assignment / notebook_name(assignment)
        )
    run_nbgrader(["autograde", assignment, "--force"], course_root, timeout=timeout)
    scores = {}
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gradebook:
        for student in submissions:
            notebook = gradebook.find_submission_notebook(
                Path(notebook_name(assignment)).stem, assignment, student
            )
            # Grade.score counts a cell that awaits a grader as 0; its auto_score is None.
            scores[student] = {
                grade.name: grade.score if grade.manual_score is not None else grade.auto_score
                for grade in notebook.grades
                if grade.max_score
            }
    return scores
