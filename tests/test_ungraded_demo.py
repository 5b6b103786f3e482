"""Cells that no grader runs: exercise 08's last cell, which trains a tiny model in PyTorch and
lets the learner's numpy generate_greedy write text with its weights, carries nbclient's
skip-execution tag. Is it read-only and last? Do the graders leave it out (real nbgrader through
nbclient, the course's grader through AssignmentSpec.skipped)? And run as a learner runs it, does
it never fail nor write to stderr: on the untouched release it says what to do first, on the
solution it writes text, within a few seconds of CPU?"""

import contextlib
import io
import time

import pytest

from autograder import course
from autograder.course import nbgrader_runs, notebook_format
from autograder.grade.assignment_spec import AssignmentSpec
from autograder.grade.cell_plan import plan_cells

pytestmark = pytest.mark.slow

WITH_DEMO = [
    assignment
    for assignment in course.assignments()
    if any(
        notebook_format.skips_execution(cell)
        for cell in course.read_notebook(course.solution_notebook(assignment)).cells
    )
]
CPU_SECONDS = 10  # "a few seconds": the demo trains for about 3 s of CPU on the course's machine


def demo_ids(notebook) -> list[str]:
    return [
        notebook_format.cell_grade_id(cell)
        for cell in notebook.cells
        if notebook_format.skips_execution(cell)
    ]


def test_exercise_08_has_its_demo():
    assert "08-small-gpt" in WITH_DEMO


@pytest.mark.parametrize("exercise", WITH_DEMO)
def test_the_demo_is_a_read_only_last_cell_in_the_release_too(exercise):
    for notebook in (
        course.read_notebook(course.solution_notebook(exercise)),
        course.read_notebook(course.release_notebook(exercise)),
    ):
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert notebook_format.skips_execution(code[-1]), "the demo is the last code cell"
        for cell in code:
            if notebook_format.skips_execution(cell):
                metadata = notebook_format.nbgrader_metadata(cell)
                assert metadata.get("locked") and not metadata.get("grade"), metadata
                assert not metadata.get("solution"), metadata


@pytest.mark.parametrize("exercise", WITH_DEMO)
def test_the_course_grader_leaves_it_out(exercise):
    spec = AssignmentSpec(exercise)
    ids = demo_ids(course.read_notebook(course.solution_notebook(exercise)))
    assert spec.skipped == set(ids) and not spec.skipped & set(spec.readonly)
    release = course.read_notebook(course.release_notebook(exercise))
    for cell in release.cells:  # a learner's copy that lost the tag is left out all the same
        cell.metadata.pop("tags", None)
    run, _ = plan_cells(spec, release.cells)
    assert not {label for label, _, _ in run} & set(ids)


def run_as_a_learner(notebook) -> tuple[str, str, float]:
    """The notebook's code cells but the tests, then its demo cells, in one namespace, as a learner
    who runs the last cell by hand: (stdout, stderr, CPU seconds of the demo cells)."""
    namespace = {"__name__": "__main__"}
    for cell in notebook.cells:
        if (
            cell.cell_type == "code"
            and not notebook_format.is_autograded_test(cell)
            and not notebook_format.skips_execution(cell)
        ):
            exec(compile(cell.source, "<cell>", "exec"), namespace)
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.process_time()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        for cell in notebook.cells:
            if notebook_format.skips_execution(cell):
                exec(compile(cell.source, "<demo>", "exec"), namespace)
    return stdout.getvalue(), stderr.getvalue(), time.process_time() - started


@pytest.mark.parametrize("exercise", WITH_DEMO)
def test_on_the_untouched_release_it_says_what_to_do_first(exercise):
    out, err, seconds = run_as_a_learner(course.read_notebook(course.release_notebook(exercise)))
    assert err == "" and "first" in out and seconds < 1, (out, err, seconds)


@pytest.mark.parametrize("exercise", WITH_DEMO)
def test_on_the_solution_the_learners_code_writes_text_in_seconds(exercise):
    out, err, seconds = run_as_a_learner(course.read_notebook(course.solution_notebook(exercise)))
    assert err == "", err
    assert "your generate_greedy writes" in out and "The same characters as PyTorch's" in out, out
    assert seconds < CPU_SECONDS, f"the demo took {seconds:.1f} s of CPU"


@pytest.mark.parametrize("exercise", WITH_DEMO)
def test_real_nbgrader_does_not_run_it(exercise, tmp_path):
    """nbgrader autograde executes through nbclient, which skips a cell tagged skip-execution:
    in the autograded solution the demo cell has no output and no execution count, while the
    test cells ran."""
    root = nbgrader_runs.scratch_course(tmp_path, [exercise])
    solution = course.read_notebook(course.solution_notebook(exercise))
    scores = nbgrader_runs.autograde(root, exercise, {"solution": solution})
    assert scores["solution"] == notebook_format.graded_tests(solution)
    graded = course.read_notebook(
        root / "autograded" / "solution" / exercise / course.notebook_name(exercise)
    )
    for cell in graded.cells:
        if notebook_format.skips_execution(cell):
            assert cell.outputs == [] and cell.execution_count is None
        elif notebook_format.is_autograded_test(cell):
            assert cell.execution_count is not None
