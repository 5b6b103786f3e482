"""Shared fixtures and the parallel run's rules.

Every assignment found in solutions/ is tested, so new chapters are covered.

`make test` runs the tests on every core with pytest-xdist (`-n auto --dist loadgroup`): each
worker is a pytest session of its own and takes one test at a time, except that the tests of one
xdist group run on one worker, one after the other. A test joins a group by its mark
(`pytest.mark.xdist_group("book")`); without one, by using a once-per-run fixture (its group in
GROUP_OF_SHARED_FIXTURE) or a module-scoped fixture or parameter (its module's group, so that the
fixture is still made once). What a whole run builds once (the book, the graded demo class) comes
from the session fixtures below, made once per run by tests/once_per_run.py.
book/authors-guide.md (section 6) says which to use."""

import functools
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import book_build
import pytest
from once_per_run import once_per_run
from servers import PostgreSQLServer

from autograder import REPO_ROOT, command_argv

# The xdist controller imports this file too, and runs no test: what only tests need (nbformat,
# through autograder.course) is imported where they need it, so that the workers start sooner.


def pytest_generate_tests(metafunc):
    # Module-scoped, so that a module-scoped fixture may depend on the assignment (made once per
    # assignment, as tests/test_grading.py's nbgrader run).
    if "assignment" in metafunc.fixturenames:
        from autograder import course

        metafunc.parametrize("assignment", course.assignments(), scope="module")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """One BLAS/OpenMP thread in every test process and in what it starts (kernels, the grading
    command, the book's chapters), set before the tests load numpy or torch and before
    pytest-xdist starts its workers, which inherit it. xdist already runs a worker per core, and
    two workers each running a pool of two threads on 2 cores made the in-process grading tests
    2.9 times slower (tests/test_hidden_checks.py and tests/test_visible_tests.py: 143 s against
    50 s). A value the caller set is kept."""
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")


# A test that uses one of these once-per-run fixtures joins its group, so that the workers do not
# all wait for it: one makes it and runs its tests while the others run the rest.
GROUP_OF_SHARED_FIXTURE = {"built_book": "book", "graded_demo_class": "demo-class"}
WIDER_THAN_A_TEST = ("class", "module", "package")


def default_group(item: pytest.Item) -> str | None:
    """The xdist group of a test that has no xdist_group mark.

    That of the once-per-run fixture it uses; else, if it uses module-scoped fixtures or
    parameters, its module's and those parameters' values (the tests that share one instance of
    the fixture, made once, as in one process); else none: the test goes to whichever worker is
    free."""
    for name in item.fixturenames:
        if name in GROUP_OF_SHARED_FIXTURE:
            return GROUP_OF_SHARED_FIXTURE[name]
    fixtures = getattr(item, "_fixtureinfo", None)  # pytest's record of the item's fixtures
    wide = sorted(
        name
        for name, definitions in (fixtures.name2fixturedefs.items() if fixtures else [])
        if definitions and definitions[-1].scope in WIDER_THAN_A_TEST
    )
    if not wide:
        return None
    parameters = getattr(item, "callspec", None)
    values = [
        f"{name}={parameters.params[name]}"
        for name in wide
        if parameters is not None and name in parameters.params
    ]
    # xdist reads the group after the last "@" of a test id, unless a "]" follows it.
    return re.sub(r"[@\[\]]", "_", "::".join([item.nodeid.split("::")[0], *values]))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups from the marks
def pytest_collection_modifyitems(config, items):
    # Many short tests last: whichever worker finishes its long tests first takes them, so the
    # workers end together. (xdist takes the groups first, the largest first.)
    items.sort(key=lambda item: item.get_closest_marker("filler") is not None)
    for item in items:
        if item.get_closest_marker("xdist_group") is None and (group := default_group(item)):
            item.add_marker(pytest.mark.xdist_group(group))


# ------------------------------------------------------------------------------------------------
# Session fixtures: what many tests read


@pytest.fixture(scope="session")
def solution_notebooks():
    from autograder import course

    return {
        assignment: course.read_notebook(course.solution_notebook(assignment))
        for assignment in course.assignments()
    }


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> dict:
    """The strict build of the whole book into _build/html, once per run:
    {"returncode", "output"} (tests/book_build.py; not checked here)."""
    return once_per_run(tmp_path_factory, "book-build", lambda folder: book_build.build_book())


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


@dataclass(frozen=True)
class GradedClass:
    """The demo class (every assignment, each known mistake handed in once: `demo_students`) as
    `python -m autograder grade` left it. Read only: a test that changes OUT works on its own
    copy."""

    submitted: Path
    out: Path
    returncode: int
    stdout: str
    stderr: str

    @functools.cached_property
    def results(self) -> dict:
        """(student, assignment) -> its result in results.json ({} if there is none)."""
        path = self.out / "results.json"
        results = json.loads(path.read_text()) if path.exists() else []
        return {(result["student"], result["assignment"]): result for result in results}

    @functools.cached_property
    def students(self) -> dict:
        """The class that was handed in: student id -> {assignment: notebook} (built once: about
        a quarter of a second, and tests ask for it per assignment)."""
        return demo_students()


def demo_students() -> dict:
    """The suite's demo class: every known mistake handed in once, not in turn by every student
    of the instructor's demo, where an assignment with fewer known mistakes than the largest had
    some graded twice (416 notebooks, 168 of them repeats); so some notebooks are missing too."""
    from autograder.tools.demo import demo_class

    return demo_class(each_mistake_once=True)


DEMO_CLASS_SECRET = "demo-class-secret"
DEMO_CLASS_OPTIONS = ["--timeout", "20"]  # a re-run with the same options reuses the journal


def _grade_demo_class(folder: Path) -> dict:
    from autograder.tools.demo import write_class

    submitted, out = write_class(demo_students(), folder / "submitted"), folder / "out"
    run = subprocess.run(
        command_argv("grade", submitted, "--out", out, *DEMO_CLASS_OPTIONS),
        cwd=REPO_ROOT,
        env=dict(os.environ, MHA_GRADING_SECRET=DEMO_CLASS_SECRET),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return {
        "submitted": str(submitted),
        "out": str(out),
        "returncode": run.returncode,
        "stdout": run.stdout,
        "stderr": run.stderr,
    }


@pytest.fixture(scope="session")
def graded_demo_class(tmp_path_factory) -> GradedClass:
    """The demo class of every assignment graded by the grading command, once per run, with the
    secret DEMO_CLASS_SECRET and DEMO_CLASS_OPTIONS."""
    made = once_per_run(tmp_path_factory, "graded-demo-class", _grade_demo_class)
    return GradedClass(
        Path(made["submitted"]),
        Path(made["out"]),
        made["returncode"],
        made["stdout"],
        made["stderr"],
    )


@pytest.fixture(scope="session")
def postgresql_server():
    """A real PostgreSQL server (tests/servers.py), one per worker process: a server is stopped by
    the process that started it. Each test makes its own database: `create_database(name)`."""
    with PostgreSQLServer() as server:
        yield server


# ------------------------------------------------------------------------------------------------
# The mutation score: each mutant's test (tests/test_mutation.py) records its verdict as a user
# property of its report. Reports reach the controller from every xdist worker, so the score adds
# up the whole run's mutants, with or without workers.

VERDICT_PROPERTY = "mutant verdict"
# Caught by a test cell; surviving but on the reviewed list; surviving and not on it.
VERDICTS = ("killed", "equivalent", "surviving")
MUTATION_SCORES: dict[str, dict[str, int]] = {}  # assignment -> verdict -> mutants


@pytest.fixture
def record_verdict(record_property):
    """record_verdict(assignment, verdict): one mutant's verdict, for the score."""

    def record(assignment: str, verdict: str) -> None:
        assert verdict in VERDICTS, verdict
        record_property(VERDICT_PROPERTY, (assignment, verdict))

    return record


# The Hypothesis figures the same way: each reference's property run records (function, seconds,
# examples) as a user property (tests/test_references_hypothesis.py).
HYPOTHESIS_PROPERTY = "hypothesis run"
HYPOTHESIS_RUNS: dict[str, tuple[float, int]] = {}  # function -> (seconds, examples)


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == VERDICT_PROPERTY:
            assignment, verdict = value
            MUTATION_SCORES.setdefault(assignment, dict.fromkeys(VERDICTS, 0))[verdict] += 1
        elif name == HYPOTHESIS_PROPERTY:
            function, seconds, examples = value
            HYPOTHESIS_RUNS[function] = (seconds, examples)


def score_line(score: dict[str, int]) -> str:
    return (
        f"{score['killed']} killed, {score['equivalent']} reviewed-equivalent, "
        f"{score['surviving']} surviving, of {sum(score.values())} mutants"
    )


def pytest_terminal_summary(terminalreporter):
    """Print the Hypothesis figures and the mutation score whether or not pytest captures
    output."""
    if HYPOTHESIS_RUNS:
        terminalreporter.section("Hypothesis: the references against PyTorch")
        examples = sorted({examples for _, examples in HYPOTHESIS_RUNS.values()})
        terminalreporter.write_line(
            f"{'/'.join(map(str, examples))} examples per reference function, "
            f"{sum(seconds for seconds, _ in HYPOTHESIS_RUNS.values()):.1f} s for "
            f"{len(HYPOTHESIS_RUNS)} functions"
        )
    if not MUTATION_SCORES:
        return
    terminalreporter.section("mutation score")
    every = dict.fromkeys(VERDICTS, 0)
    for assignment, score in sorted(MUTATION_SCORES.items()):
        terminalreporter.write_line(f"{assignment}: {score_line(score)}")
        every = {verdict: every[verdict] + score[verdict] for verdict in VERDICTS}
    terminalreporter.write_line(f"all assignments: {score_line(every)}")
