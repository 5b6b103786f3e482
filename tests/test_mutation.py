"""Does every one-token slip in a reference answer lose points?

Each mutant of each solution cell (tests/mutants.py) is graded in-process by the notebook's own
test cells, visible and hidden. A mutant must fail at least one test cell, or appear on the
reviewed list tests/equivalent_mutants/<assignment>.txt with the reason it computes the same
function on every valid input. The scores are printed at the end of the test run.
"""

import mutants
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def fixed_secret(monkeypatch):
    """The same hidden inputs on every run, whoever runs the tests."""
    monkeypatch.setenv("MHA_GRADING_SECRET", "mutation-test")
    monkeypatch.setenv("MHA_STUDENT_ID", "mutation-test")


def test_every_mutant_of_every_answer_loses_points(assignment, solution_notebooks, fixed_secret):
    notebook = solution_notebooks[assignment]
    reviewed = mutants.reviewed_equivalents(assignment)
    every = mutants.mutants(assignment, notebook)
    survivors = [mutant for mutant in every if mutants.failing_test(notebook, mutant) is None]
    keys = {mutant.key for mutant in every}
    unreviewed = [mutant for mutant in survivors if mutant.key not in reviewed]
    killed_but_listed = sorted(
        key for key in reviewed if key in keys and key not in {m.key for m in survivors}
    )
    mutants.SCORES[assignment] = {
        "total": len(every),
        "killed": len(every) - len(survivors),
        "equivalent": len(survivors) - len(unreviewed),
        "surviving": len(unreviewed),
    }
    assert not unreviewed, (
        "mutants that lose no points (strengthen a check, or review them):\n"
        + "\n".join(f"  {mutant.key}\n{mutant.source}\n" for mutant in unreviewed)
    )
    assert not killed_but_listed, (
        f"listed as equivalent but now caught (remove them): {killed_but_listed}"
    )
    stale = sorted(set(reviewed) - keys)
    assert not stale, f"reviewed entries that match no mutant any more (remove them): {stale}"
