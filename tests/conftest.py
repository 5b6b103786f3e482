"""Shared fixtures: every assignment found in solutions/ is tested, so new chapters are covered."""

import pytest

from autograder import course

ASSIGNMENTS = course.assignments()


def pytest_generate_tests(metafunc):
    if "assignment" in metafunc.fixturenames:
        metafunc.parametrize("assignment", ASSIGNMENTS)


@pytest.fixture(scope="session")
def solution_notebooks():
    return {assignment: course.read_notebook(course.solution_notebook(assignment)) for assignment in ASSIGNMENTS}
