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
    """Print the Hypothesis figures (tests/test_references_hypothesis.py) and the mutation score
    (tests/test_mutation.py) whether or not pytest captures output."""
    import sys

    properties = sys.modules.get("test_references_hypothesis")
    if getattr(properties, "TIMES", None):
        terminalreporter.section("Hypothesis: the references against PyTorch")
        terminalreporter.write_line(
            f"{properties.EXAMPLES} examples per reference function, "
            f"{sum(properties.TIMES.values()):.1f} s for {len(properties.TIMES)} functions"
        )
    scores = getattr(sys.modules.get("mutants"), "SCORES", None)
    if not scores:
        return
    terminalreporter.section("mutation score")
    for assignment, score in sorted(scores.items()):
        terminalreporter.write_line(
            f"{assignment}: {score['killed']} killed, {score['equivalent']} reviewed-equivalent, "
            f"{score['surviving']} surviving, of {score['total']} mutants"
        )
