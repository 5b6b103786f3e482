"""Does every one-token slip in a reference answer lose points?

Each mutant of each solution cell (tests/mutants.py) is graded in-process by the notebook's own
test cells, visible and hidden, and must fail at least one test cell, or appear on the reviewed
list tests/equivalent_mutants/<assignment>.txt with the reason it computes the same function on
every valid input. One test per mutant key (a key names two mutants when a line has two equal
constants) lets pytest-xdist spread them over the cores.
The scores are printed at the end of the test run (tests/conftest.py adds up the verdicts).
"""

import mutants
import pytest


def pytest_generate_tests(metafunc):
    if "same_key" in metafunc.fixturenames:
        groups = mutants.course_mutants_by_key()
        position = {}  # the key's number within its answer cell: a short, stable id
        ids = []
        for first, *_ in groups:
            cell = first.assignment, first.cell
            position[cell] = position.get(cell, 0) + 1
            ids.append(f"{first.assignment}-{first.cell}-{position[cell]:03d}")
        metafunc.parametrize("same_key", groups, ids=ids)


@pytest.fixture
def fixed_secret(monkeypatch):
    """The same hidden inputs on every run, whoever runs the tests."""
    monkeypatch.setenv("MHA_GRADING_SECRET", "mutation-test")
    monkeypatch.setenv("MHA_STUDENT_ID", "mutation-test")


@pytest.mark.slow
@pytest.mark.filler
def test_mutant_loses_points_unless_reviewed(
    same_key, solution_notebooks, fixed_secret, record_verdict
):
    """The mutants of one key (usually one; two when a line has two equal constants) must all
    lose points, unless the key is on the reviewed list; a listed key must have a survivor."""
    assignment, key = same_key[0].assignment, same_key[0].key
    reviewed = key in mutants.reviewed_equivalents(assignment)
    caught_by = {
        mutant: mutants.failing_test(solution_notebooks[assignment], mutant) for mutant in same_key
    }
    survivors = [mutant for mutant, test in caught_by.items() if test is None]
    for mutant, test in caught_by.items():
        verdict = "killed" if test else "equivalent" if reviewed else "surviving"
        record_verdict(assignment, verdict)
    assert not survivors or reviewed, (
        "mutants that lose no points (strengthen a check, or review them in "
        f"tests/equivalent_mutants/{assignment}.txt):\n  {key}\n"
        + "\n".join(mutant.source for mutant in survivors)
    )
    assert survivors or not reviewed, (
        f"listed as equivalent but now caught by {sorted(set(caught_by.values()))} (remove it "
        f"from tests/equivalent_mutants/{assignment}.txt): {key}"
    )


def test_reviewed_list_names_only_existing_mutants(assignment):
    keys = {mutant.key for mutant in mutants.course_mutants() if mutant.assignment == assignment}
    stale = sorted(set(mutants.reviewed_equivalents(assignment)) - keys)
    assert not stale, f"reviewed entries that match no mutant any more (remove them): {stale}"
