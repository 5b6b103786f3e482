"""Shared fixtures: every assignment found in solutions/ is tested, so new chapters are covered."""

import pytest

from autograder import course

ASSIGNMENTS = course.assignments()


def pytest_generate_tests(metafunc):
    if "assignment" in metafunc.fixturenames:
        metafunc.parametrize("assignment", ASSIGNMENTS)


@pytest.fixture(scope="session")
def solution_notebooks():
    return {
        assignment: course.read_notebook(course.solution_notebook(assignment))
        for assignment in ASSIGNMENTS
    }


def pytest_terminal_summary(terminalreporter):
    """Print the mutation score (tests/test_mutation.py) whether or not pytest captures output."""
    import sys

    scores = getattr(sys.modules.get("mutants"), "SCORES", None)
    if not scores:
        return
    terminalreporter.section("mutation score")
    for assignment, score in sorted(scores.items()):
        terminalreporter.write_line(
            f"{assignment}: {score['killed']} killed, {score['equivalent']} reviewed-equivalent, "
            f"{score['surviving']} surviving, of {score['total']} mutants"
        )
