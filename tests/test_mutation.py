"""Does every one-token slip in a reference answer lose points?

Each mutant of each solution cell (tests/mutants.py) is one test: it is graded in-process by the
notebook's own test cells, visible and hidden, and must fail at least one test cell, or appear on
the reviewed list tests/equivalent_mutants/<assignment>.txt with the reason it computes the same
function on every valid input. One test per mutant lets pytest-xdist spread them over the cores.
The scores are printed at the end of the test run (tests/conftest.py adds up the verdicts).
"""

import mutants
import pytest


def pytest_generate_tests(metafunc):
    if "mutant" in metafunc.fixturenames:
        every = mutants.course_mutants()
        position = {}  # the mutant's number within its answer cell: a short, stable id
        ids = []
        for mutant in every:
            number = position[mutant.assignment, mutant.cell] = (
                position.get((mutant.assignment, mutant.cell), 0) + 1
            )
            ids.append(f"{mutant.assignment}-{mutant.cell}-{number:03d}")
        metafunc.parametrize("mutant", every, ids=ids)


@pytest.fixture
def fixed_secret(monkeypatch):
    """The same hidden inputs on every run, whoever runs the tests."""
    monkeypatch.setenv("MHA_GRADING_SECRET", "mutation-test")
    monkeypatch.setenv("MHA_STUDENT_ID", "mutation-test")


@pytest.mark.slow
@pytest.mark.filler
def test_mutant_loses_points_unless_reviewed(
    mutant, solution_notebooks, fixed_secret, record_verdict
):
    caught_by = mutants.failing_test(solution_notebooks[mutant.assignment], mutant)
    killed = caught_by is not None
    reviewed = mutant.key in mutants.reviewed_equivalents(mutant.assignment)
    verdict = "killed" if killed else "equivalent" if reviewed else "surviving"
    record_verdict(mutant.assignment, verdict)
    assert killed or reviewed, (
        "this mutant loses no points (strengthen a check, or review it in "
        f"tests/equivalent_mutants/{mutant.assignment}.txt):\n  {mutant.key}\n{mutant.source}"
    )
    assert not (killed and reviewed), (
        f"listed as equivalent but now caught by {caught_by} (remove it from "
        f"tests/equivalent_mutants/{mutant.assignment}.txt): {mutant.key}"
    )


def test_reviewed_list_names_only_existing_mutants(assignment):
    keys = {mutant.key for mutant in mutants.course_mutants() if mutant.assignment == assignment}
    stale = sorted(set(mutants.reviewed_equivalents(assignment)) - keys)
    assert not stale, f"reviewed entries that match no mutant any more (remove them): {stale}"
