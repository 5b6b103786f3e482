"""The real `nbgrader autograde`, in a scratch course, on every assignment in solutions/:
the solution gets full marks, the untouched release gets zero, and known-wrong variants that
between them fail every test cell lose exactly the points of the cells they name.

Every known mistake is graded in full elsewhere, more cheaply: by the grading command on the demo
class (tests/test_grade_command.py), and in-process by the notebook's test cells as nbgrader's
kernel runs them, where the visible asserts alone and the hidden checks alone must each fail
exactly the cells the mistake names (tests/test_visible_tests.py, tests/test_hidden_checks.py).
Here nbgrader itself grades a few wrong notebooks per assignment, each making several known
mistakes at once, in different answer cells and failing different test cells, so that every test
cell a mistake fails is failed in one of them, and each of its failed cells is one mistake's: every
notebook costs nbgrader seconds (a kernel, numpy and torch). Grading all 224 mistakes took about
1,400 s of the suite's 1,930. With one mistake a notebook (39 wrong notebooks), this file took 214
of the suite's 1,307 s of CPU; alone on two workers, 203 s of CPU, and 109 s with the mistakes
made together (10 wrong notebooks; 2026-12-07)."""

import pytest

from autograder import course
from autograder.checks.mistakes import known_mistakes
from autograder.course import nbgrader_runs, notebook_format

pytestmark = pytest.mark.slow


# The hidden inputs of every run of the suite (not a clone's own .grading-secret): a check that
# missed a mistake in one draw would fail one run in many, not the run that changed it. The
# checks are meant to hold in every draw; tests/sweep_hidden_checks.py tries many secrets.
SECRET = "real-nbgrader-test"


@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory):
    """Autograde the assignment's submissions once; the tests below read the scores (under xdist,
    the three tests of one assignment run on one worker, tests/conftest.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MHA_GRADING_SECRET", SECRET)  # nbgrader's kernels inherit it
        return _autograde(assignment, tmp_path_factory)


def _autograde(assignment, tmp_path_factory) -> dict:
    root = nbgrader_runs.scratch_course(tmp_path_factory.mktemp(assignment), [assignment])
    solution = course.read_notebook(course.solution_notebook(assignment))
    submissions = {
        "solution": solution,
        "release": course.read_notebook(course.release_notebook(assignment)),
    }
    for indices in wrong_notebooks(assignment):
        wrong = solution
        for index in indices:
            wrong = notebook_format.apply_mistake(wrong, known_mistakes(assignment)[index])
        submissions[wrong_student(indices)] = wrong
    return nbgrader_runs.autograde(root, assignment, submissions)


def wrong_notebooks(assignment: str) -> list[tuple[int, ...]]:
    """Known mistakes to make together, one notebook each (their indices): the mistakes of one
    notebook edit different answer cells and fail disjoint sets of test cells, and all the
    notebooks together fail every test cell that any mistake fails. Each notebook takes in turn
    the mistake that fails the most cells not yet failed and fits (the first such, for a stable
    choice), until none fits that fails a new one."""
    mistakes = known_mistakes(assignment)
    left = set().union(*(mistake.fails for mistake in mistakes))
    notebooks = []
    while left:
        chosen, cells, failed = [], set(), set()
        while True:
            fitting = [
                i
                for i, mistake in enumerate(mistakes)
                if mistake.cell not in cells and not failed & set(mistake.fails)
            ]
            index = max(fitting, key=lambda i: len(left & set(mistakes[i].fails)), default=None)
            if index is None or not left & set(mistakes[index].fails):
                break
            chosen.append(index)
            cells.add(mistakes[index].cell)
            failed |= set(mistakes[index].fails)
            left -= set(mistakes[index].fails)
        notebooks.append(tuple(sorted(chosen)))
    return notebooks


def wrong_student(indices: tuple[int, ...]) -> str:
    return "mistakes-" + "-".join(f"{index:02d}" for index in indices)


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
        *(
            known_mistakes(assignment)[index].fails
            for indices in wrong_notebooks(assignment)
            for index in indices
        )
    )
    assert failed == set(notebook_format.graded_tests(solution_notebooks[assignment]))


def test_mistakes_made_together_touch_different_cells_and_fail_different_tests(assignment):
    """What lets one notebook stand for several mistakes: each failed test cell is one mistake's."""
    for indices in wrong_notebooks(assignment):
        mistakes = [known_mistakes(assignment)[index] for index in indices]
        assert len({mistake.cell for mistake in mistakes}) == len(mistakes), indices
        fails = [test for mistake in mistakes for test in mistake.fails]
        assert len(set(fails)) == len(fails), indices


def test_the_chosen_wrong_variants_lose_exactly_their_points(
    assignment, graded, solution_notebooks
):
    points = notebook_format.graded_tests(solution_notebooks[assignment])
    for indices in wrong_notebooks(assignment):
        mistakes = [known_mistakes(assignment)[index] for index in indices]
        failed = set().union(*(mistake.fails for mistake in mistakes))
        expected = {
            grade_id: 0.0 if grade_id in failed else value for grade_id, value in points.items()
        }
        assert auto(graded[wrong_student(indices)], solution_notebooks[assignment]) == expected, [
            mistake.name for mistake in mistakes
        ]
