"""Shared fixtures: every assignment found in solutions/ is tested, so new chapters are covered;
the demo class is graded once per session, for the tests that read its OUT."""

import json
import os
import subprocess

import pytest

from autograder import REPO_ROOT, command_argv, course

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


DEMO_SECRET = "demo-class-secret"
DEMO_OPTIONS = ["--timeout", "20"]  # a re-run with the same options reuses the journal


@pytest.fixture(scope="session")
def graded_demo(tmp_path_factory):
    """The demo class (every assignment) graded by the grading command, once per session:
    {"run": the finished process, "submitted": SUBMITTED, "out": OUT, "results": (student,
    assignment) -> results.json's entry}. Tests that change OUT work on a copy of it."""
    from autograder.tools.demo import demo_class, write_class

    root = tmp_path_factory.mktemp("demo-class")
    submitted, out = write_class(demo_class(), root / "submitted"), root / "out"
    environment = dict(os.environ, MHA_GRADING_SECRET=DEMO_SECRET)
    run = subprocess.run(
        command_argv("grade", submitted, "--out", out, *DEMO_OPTIONS),
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    results = (
        json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else []
    )
    return {
        "run": run,
        "submitted": submitted,
        "out": out,
        "results": {(r["student"], r["assignment"]): r for r in results},
    }


def nbgrader_in(folder, *arguments: str) -> subprocess.CompletedProcess:
    """`nbgrader ARGUMENTS` run inside `folder`, a course root whose nbgrader_config.py nbgrader
    reads there, by this virtual environment's nbgrader; the test fails if it fails."""
    import sys

    environment = dict(
        os.environ,  # nbgrader runs `alembic` from PATH
        PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    )
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", *arguments],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"nbgrader {' '.join(arguments)}: {run.stderr[-3000:]}"
    return run


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
