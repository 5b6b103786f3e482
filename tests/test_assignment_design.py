"""Each assignment is built to the course's pattern: points on every part, a known-wrong variant
for every answer cell, hidden checks that exist and are reached, and visible tests that stand
alone."""

import dataclasses
import re
import sys

import pytest

from autograder import course
from autograder.checks.assignments import load_assignment
from autograder.checks.mistakes import known_mistakes, solution_answers
from autograder.course import notebook_format

HIDDEN_CALL = re.compile(r'hidden_check\("(?P<assignment>[^"]+)", "(?P<check>[^"]+)"')


def _cells(notebook, *, solution=None, grade=None):
    for cell in notebook.cells:
        metadata = notebook_format.nbgrader_metadata(cell)
        if solution is not None and bool(metadata.get("solution")) != solution:
            continue
        if grade is not None and bool(metadata.get("grade")) != grade:
            continue
        if metadata:
            yield cell, metadata


def test_every_answer_cell_has_a_known_wrong_variant(assignment, solution_notebooks):
    """Every answer the tests check (written answers are scored by a person) has one."""
    answer_cells = {
        metadata["grade_id"]
        for _, metadata in _cells(solution_notebooks[assignment], solution=True, grade=False)
    }
    covered = {mistake.cell for mistake in known_mistakes(assignment)}
    assert answer_cells and answer_cells <= covered, (
        f"no known-wrong variant for {sorted(answer_cells - covered)}"
    )


def test_every_mistake_edit_still_applies(assignment):
    """Does every known mistake still apply to the solution notebook as it is now? Each (old, new)
    edit's old text must occur exactly once in the answer, or the mistake is not the one named."""
    broken = []
    for mistake in known_mistakes(assignment):
        try:
            wrong = mistake.source
        except (ValueError, LookupError) as error:
            broken.append(str(error))
            continue
        if wrong == solution_answers(assignment)[mistake.cell]:
            broken.append(f"mistake {mistake.name!r} leaves the answer unchanged")
    assert not broken, "\n".join(broken)


def test_an_edit_that_no_longer_applies_fails_loudly(assignment):
    """Would an answer changed under a mistake's feet be noticed? The same mistake with its first
    edit's old text absent from the answer must raise, not grade some other wrong answer."""
    mistake = known_mistakes(assignment)[0]
    stale = dataclasses.replace(
        mistake, edits=(("<text that is in no answer>", ""), *mistake.edits)
    )
    with pytest.raises(ValueError, match="applies 0 times"):
        stale.source


def test_every_mistake_names_real_test_cells(assignment, solution_notebooks):
    tests = notebook_format.graded_tests(solution_notebooks[assignment])
    for mistake in known_mistakes(assignment):
        assert mistake.fails and mistake.fails <= set(tests), mistake.name


def test_every_test_cell_is_worth_points_and_runs_a_hidden_check(assignment, solution_notebooks):
    checks = load_assignment(assignment).CHECKS
    for cell, metadata in _cells(solution_notebooks[assignment], solution=False, grade=True):
        assert metadata.get("points", 0) > 0, metadata["grade_id"]
        assert cell.source.lstrip().startswith('"""'), (
            f"{metadata['grade_id']}: start with a one-line docstring"
        )
        hidden = cell.source.split("### BEGIN HIDDEN TESTS")
        assert len(hidden) == 2, f"{metadata['grade_id']}: one hidden block"
        calls = list(HIDDEN_CALL.finditer(hidden[1]))
        assert calls, f"{metadata['grade_id']}: the hidden block calls no hidden_check"
        for call in calls:
            assert call["assignment"] == assignment and call["check"] in checks, call.group(0)


def test_every_hidden_check_is_used(assignment, solution_notebooks):
    used = {
        match["check"]
        for cell in solution_notebooks[assignment].cells
        for match in HIDDEN_CALL.finditer(cell.source)
    }
    assert set(load_assignment(assignment).CHECKS) == used


def test_answer_cells_mark_their_solution(assignment, solution_notebooks):
    for cell, metadata in _cells(solution_notebooks[assignment], solution=True):
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, metadata[
            "grade_id"
        ]


def test_release_stands_alone(assignment):
    """A learner's download needs only numpy, torch and matplotlib: nothing from this repository."""
    release = course.read_notebook(course.release_notebook(assignment))
    for cell in release.cells:
        if cell.cell_type == "code":
            assert not re.search(
                r"^\s*(from|import)\s+(autograder|coursekit)\b", cell.source, re.M
            ), cell.source[:200]
            imported = set(re.findall(r"^\s*(?:from|import)\s+([\w]+)", cell.source, re.M))
            allowed = {"numpy", "torch", "matplotlib"} | set(sys.stdlib_module_names)
            assert imported <= allowed, f"the release imports {sorted(imported - allowed)}"


def test_mistake_names_are_unique(assignment):
    """Feedback names a learner's likely mistake: two variants must not share a name."""
    names = [mistake.name for mistake in known_mistakes(assignment)]
    assert len(names) == len(set(names)), sorted(name for name in names if names.count(name) > 1)


def test_written_answers_are_worth_points_and_cleared_in_the_release(
    assignment, solution_notebooks
):
    """Is every manually graded answer worth points, and does the release keep its question but
    not the model answer?"""
    release = course.read_notebook(course.release_notebook(assignment))
    released = {notebook_format.cell_grade_id(cell): cell.source for cell in release.cells}
    for cell, metadata in _cells(solution_notebooks[assignment], solution=True, grade=True):
        assert metadata.get("points", 0) > 0, metadata["grade_id"]
        question = cell.source.split("### BEGIN SOLUTION")[0]
        model_answer = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        text = released[metadata["grade_id"]]
        assert text.startswith(question) and model_answer.strip() not in text
        assert "YOUR ANSWER HERE" in text
