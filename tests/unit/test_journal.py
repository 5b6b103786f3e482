"""OUT/.journal.jsonl (autograder/grade/journal.py), issue 22: a fault of the grader is recorded
but graded again by the next run, and the journal's header covers the grader's own code, so that
a fixed grader does not reuse the broken one's results. The journal across real, killed runs is
tested in tests/test_resume.py."""

import shutil
from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder.grade.journal import Journal, code_digests, comparable
from autograder.grade.results import NotebookResult, Status, grader_fault, not_graded
from autograder.sandbox.host import Limits

pytestmark = pytest.mark.unit

HEADER = {"secret_sha256": "s", "checks_sha256": "c", "grader_sha256": "g", "limits": {}}


def record(out: Path, results: list[NotebookResult], header: dict = HEADER) -> None:
    journal = Journal(out, header)
    journal.open()
    for result in results:
        journal.record(result.student, result.assignment, None, None, result)
    journal.close()


def test_a_fault_of_the_grader_is_graded_again_and_the_learners_own_errors_are_not(tmp_path):
    crashed = grader_fault("ada", "01-a", "the grader's worker process crashed twice")
    broken = not_graded("bob", "01-a", "the notebook is not valid JSON")
    graded = NotebookResult("cy", "01-a", Status.GRADED, "7 of 7 tests passed", max_score=10)
    record(tmp_path, [crashed, broken, graded])
    journal = Journal(tmp_path, HEADER)
    journal.load()
    assert journal.recorded_result("ada", "01-a", None, None) is None  # graded again
    assert journal.recorded_result("bob", "01-a", None, None) == broken
    assert journal.recorded_result("cy", "01-a", None, None) == graded
    assert any("1 notebooks met a fault of the grader" in note for note in journal.notes)
    assert crashed.retryable and "the next run grades it again" in crashed.message


@pytest.mark.parametrize(
    "changed, words", [("grade/notebook.py", "grader code"), ("checks/hidden.py", "checks")]
)
def test_a_change_to_the_graders_code_is_a_new_journal(tmp_path, changed, words):
    """A journal written by one grader is not reused by a changed one, whichever of its files
    changed (the checks were covered before; the rest of the package was not)."""
    package = tmp_path / "autograder"
    shutil.copytree(REPO_ROOT / "autograder", package, ignore=shutil.ignore_patterns("__pycache__"))
    before = code_digests(package)
    with open(package / changed, "a") as handle:
        handle.write("\n# a fix\n")
    after = code_digests(package)
    assert before != after
    header = comparable("secret", Limits(), 600.0)
    record(tmp_path, [not_graded("ada", "01-a", "x")], dict(header, **before))
    journal = Journal(tmp_path, dict(header, **after))
    journal.load()
    assert journal.recorded_result("ada", "01-a", None, None) is None
    assert any("other settings" in note and words in note for note in journal.notes)
