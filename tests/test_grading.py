"""The real `nbgrader autograde`, in a scratch course, on every assignment in solutions/:
the solution gets full marks, the untouched release gets zero, and every known-wrong variant
loses exactly the points of the test cells it names."""

import pytest

from autograder import course
from autograder.checks.mistakes import known_mistakes
from autograder.course import nbgrader_runs, notebook_format

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory):
    """Autograde the assignment's submissions once; the tests below read the scores (under xdist,
    the three tests of one assignment run on one worker, tests/conftest.py)."""
    root = nbgrader_runs.scratch_course(tmp_path_factory.mktemp(assignment), [assignment])
    solution = course.read_notebook(course.solution_notebook(assignment))
    submissions = {
        "solution": solution,
        "release": course.read_notebook(course.release_notebook(assignment)),
    }
    for index, mistake in enumerate(known_mistakes(assignment)):
        submissions[f"mistake-{index:02d}"] = notebook_format.apply_mistake(solution, mistake)
    return nbgrader_runs.autograde(root, assignment, submissions)


def auto(scores: dict, notebook) -> dict:
    """The scores of the autograded test cells alone."""
    return {grade_id: scores[grade_id] for grade_id in notebook_format.graded_tests(notebook)}


def test_solution_gets_full_marks(assignment, graded, solution_notebooks):
    points = notebook_format.graded_tests(solution_notebooks[assignment])
    assert auto(graded["solution"], solution_notebooks[assignment]) == points


def test_written_answers_await_a_grader_unless_left_as_released(
    assignment, graded, solution_notebooks
):
    """nbgrader leaves an answered written cell to a person (no score yet) and scores the
    release's placeholder 0."""
    written = notebook_format.manually_graded(solution_notebooks[assignment])
    assert {grade_id: graded["solution"][grade_id] for grade_id in written} == dict.fromkeys(
        written
    )
    assert {grade_id: graded["release"][grade_id] for grade_id in written} == dict.fromkeys(
        written, 0
    )


def test_untouched_release_gets_zero(graded):
    scores = graded["release"]
    assert scores and all(score == 0 for score in scores.values()), scores


def test_each_known_wrong_variant_loses_exactly_its_points(assignment, graded, solution_notebooks):
    points = notebook_format.graded_tests(solution_notebooks[assignment])
    for index, mistake in enumerate(known_mistakes(assignment)):
        expected = {
            grade_id: 0.0 if grade_id in mistake.fails else value
            for grade_id, value in points.items()
        }
        assert auto(graded[f"mistake-{index:02d}"], solution_notebooks[assignment]) == expected, (
            mistake.name
        )
