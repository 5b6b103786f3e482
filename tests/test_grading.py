"""The real `nbgrader autograde`, in a scratch course, on every assignment in solutions/:
the solution gets full marks, the untouched release gets zero, and known-wrong variants that
between them fail every test cell lose exactly the points of the cells they name.

Every known mistake is graded in full elsewhere, more cheaply: by the grading command on the demo
class (tests/test_grade_command.py), and in-process by the notebook's test cells as nbgrader's
kernel runs them, where the visible asserts alone and the hidden checks alone must each fail
exactly the cells the mistake names (tests/test_visible_tests.py, tests/test_hidden_checks.py).
Here nbgrader itself grades a few mistakes per assignment, chosen so that each test cell is failed
by at least one: every notebook costs nbgrader seconds (a kernel, numpy and torch), and grading all
224 mistakes took about 1,400 s of the suite's 1,930."""

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
    for index in mistakes_failing_every_cell(assignment):
        mistake = known_mistakes(assignment)[index]
        submissions[f"mistake-{index:02d}"] = notebook_format.apply_mistake(solution, mistake)
    return nbgrader_runs.autograde(root, assignment, submissions)


def mistakes_failing_every_cell(assignment: str) -> list[int]:
    """Indices of known mistakes that between them fail every test cell any mistake fails: each
    time the one that fails the most cells not yet failed (the first such, for a stable choice)."""
    mistakes = known_mistakes(assignment)
    left = set().union(*(mistake.fails for mistake in mistakes))
    chosen = []
    while left:
        index = max(range(len(mistakes)), key=lambda i: len(left & set(mistakes[i].fails)))
        chosen.append(index)
        left -= set(mistakes[index].fails)
    return sorted(chosen)


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


def test_every_test_cell_is_failed_by_a_mistake_nbgrader_grades(assignment, solution_notebooks):
    failed = set().union(
        *(known_mistakes(assignment)[i].fails for i in mistakes_failing_every_cell(assignment))
    )
    assert failed == set(notebook_format.graded_tests(solution_notebooks[assignment]))


def test_the_chosen_wrong_variants_lose_exactly_their_points(
    assignment, graded, solution_notebooks
):
    points = notebook_format.graded_tests(solution_notebooks[assignment])
    for index in mistakes_failing_every_cell(assignment):
        mistake = known_mistakes(assignment)[index]
        expected = {
            grade_id: 0.0 if grade_id in mistake.fails else value
            for grade_id, value in points.items()
        }
        assert auto(graded[f"mistake-{index:02d}"], solution_notebooks[assignment]) == expected, (
            mistake.name
        )
