"""The hidden checks on their own, without nbgrader: they pass the reference solution, each catches
the known-wrong variants it is meant to, and their inputs come from the secret and the ids."""

import dataclasses

import numpy as np
import pytest

from autograder import course, environment
from autograder.checks import secret
from autograder.checks.assignments import load_assignment
from autograder.checks.mistakes import known_mistakes
from autograder.course import notebook_format

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


# Each assignment's solution and every known mistake run in full: minutes.
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch):
    """The same hidden inputs on every run (not a clone's own .grading-secret), so that a check
    that misses a mistake in some draws fails where it is changed, not one run in many later.
    The checks are meant to hold in every draw: tests/sweep_hidden_checks.py tries many secrets."""
    monkeypatch.setenv("MHA_GRADING_SECRET", "hidden-checks-test")


def run_hidden_tests(notebook) -> dict:
    """Execute the notebook's code (answer and setup cells) and then only the hidden part of each
    test cell; return test grade_id -> the AssertionError it raised, or None."""
    namespace = {"__name__": "__main__"}
    results = {}
    for cell in notebook.cells:
        if cell.cell_type != "code" or notebook_format.skips_execution(cell):
            continue  # markdown, and the ungraded demonstration no grader runs
        metadata = notebook_format.nbgrader_metadata(cell)
        if metadata.get("grade") and not metadata.get("solution"):
            hidden = cell.source.split(HIDDEN_BEGIN)[1].split(HIDDEN_END)[0]
            try:
                exec(compile(hidden, metadata["grade_id"], "exec"), namespace)
                results[metadata["grade_id"]] = None
            except AssertionError as failure:
                results[metadata["grade_id"]] = failure
        else:
            exec(compile(cell.source, metadata.get("grade_id", "cell"), "exec"), namespace)
    return results


def test_reference_solution_passes_every_hidden_check(assignment, solution_notebooks):
    failures = {
        name: error
        for name, error in run_hidden_tests(solution_notebooks[assignment]).items()
        if error
    }
    assert not failures


def test_hidden_checks_alone_catch_each_known_wrong_variant(assignment, solution_notebooks):
    for mistake in known_mistakes(assignment):
        results = run_hidden_tests(
            notebook_format.apply_mistake(solution_notebooks[assignment], mistake)
        )
        failed = {name for name, error in results.items() if error}
        assert failed == set(mistake.fails), mistake.name
        for name in failed:
            assert str(results[name]).strip(), f"{mistake.name}: {name} failed without a message"


def test_hidden_inputs_depend_on_secret_student_and_assignment():
    draw = lambda *ids, key=b"s1": secret.rng_for(*ids, secret=key).normal(size=4)  # noqa: E731
    base = draw("04-scaling-softmax-masks", "alice", "softmax")
    np.testing.assert_array_equal(base, draw("04-scaling-softmax-masks", "alice", "softmax"))
    for other in [
        draw("04-scaling-softmax-masks", "bob", "softmax"),
        draw("03-self-attention", "alice", "softmax"),
        draw("04-scaling-softmax-masks", "alice", "softmax", key=b"s2"),
    ]:
        assert not np.allclose(base, other)


def test_student_id_comes_from_nbgrader_folder(monkeypatch, tmp_path):
    folder = tmp_path / "autograded" / "carol" / "04-scaling-softmax-masks"
    folder.mkdir(parents=True)
    monkeypatch.delenv(environment.STUDENT_ID, raising=False)
    monkeypatch.setenv(environment.NBGRADER_EXECUTION, "autograde")
    monkeypatch.chdir(folder)
    assert secret.current_student_id() == "carol"


def test_unknown_assignment_is_a_clear_error():
    with pytest.raises(LookupError, match="no hidden checks"):
        load_assignment("99-no-such-chapter")


def test_the_sweep_over_secrets_reports_each_draw_that_disagrees(monkeypatch):
    """tests/sweep_hidden_checks.py (the checks under many secrets): a mistake said to fail a cell
    it does not fail is reported under every secret, and the solution under none."""
    import sweep_hidden_checks

    assignment = course.assignments()[0]
    mistake = known_mistakes(assignment)[0]
    misnamed = dataclasses.replace(mistake, fails=frozenset({"test-that-does-not-exist"}))
    monkeypatch.setattr(sweep_hidden_checks, "known_mistakes", lambda name: [misnamed])
    found = sweep_hidden_checks.sweep([assignment], ["sweep-a", "sweep-b"])
    assert [(d.secret, d.variant, d.expected) for d in found] == [
        (secret, mistake.name, misnamed.fails) for secret in ("sweep-a", "sweep-b")
    ]
    assert all(d.failed == mistake.fails for d in found)
