"""The repository's invariants: exercises/ is exactly what nbgrader generates from solutions/, no
notebook carries outputs, and every notebook's test-helper cell is the one in autograder/."""

import json
import subprocess

import pytest

from autograder import REPO_ROOT, course
from autograder.course import authoring, nbgrader_runs, notebook_format


def tracked_notebooks():
    listed = subprocess.run(
        ["git", "ls-files", "*.ipynb"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return [REPO_ROOT / line for line in listed.stdout.splitlines()]


@pytest.mark.slow  # runs nbgrader's generate_assignment on every assignment
def test_exercises_match_what_generate_assignment_makes(tmp_path):
    root = nbgrader_runs.scratch_course(tmp_path, course.assignments())
    for assignment in course.assignments():
        generated = nbgrader_runs.generate_release(assignment, root)
        committed = course.release_notebook(assignment)
        assert committed.exists(), f"{committed} is missing: run `python -m autograder release`"
        assert json.loads(committed.read_text()) == json.loads(generated.read_text()), (
            f"{committed.relative_to(REPO_ROOT)} differs from solutions/: run `python -m "
            "autograder release`"
        )
    released = {path.name for path in course.EXERCISES.iterdir() if path.is_dir()}
    assert released == set(course.assignments()), (
        "exercises/ holds an assignment that solutions/ does not"
    )


def test_no_notebook_in_git_has_outputs():
    notebooks = tracked_notebooks()
    assert notebooks, "no notebooks tracked by git"
    for path in notebooks:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, path


@pytest.mark.parametrize("kind", ["solution", "release"])
def test_helper_cell_is_identical_everywhere(assignment, kind):
    path = (
        course.solution_notebook(assignment)
        if kind == "solution"
        else course.release_notebook(assignment)
    )
    cells = [
        cell
        for cell in course.read_notebook(path).cells
        if notebook_format.nbgrader_metadata(cell).get("grade_id") == authoring.HELPERS_CELL_ID
    ]
    assert len(cells) == 1 and cells[0].source == authoring.helpers_cell_source(), (
        f"{path.name}: the test-helper cell differs from autograder/checks/notebook_helpers.py; "
        "run `python -m autograder sync-helpers` and then `python -m autograder release`"
    )
