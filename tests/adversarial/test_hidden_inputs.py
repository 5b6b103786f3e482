"""Issue 16, findings 6 and 8: hidden inputs cannot be learned from one submission and replayed in
the next (they follow a digest of the submission's own code), the learner's own error text never
carries them into feedback, and a lookup that always raises does not earn the out-of-range point."""

import copy
import tempfile
import textwrap
import time
from pathlib import Path

import hostile_class
import nbformat
import numpy as np
import pytest

from autograder import course, environment
from autograder.checks import secret
from autograder.checks.hidden import hidden_check
from autograder.course import notebook_format
from autograder.grade.assignment_spec import AssignmentSpec
from autograder.grade.cell_plan import learner_sources
from autograder.grade.notebook import grade_notebook
from autograder.sandbox.host import Limits

pytestmark = pytest.mark.slow

ASSIGNMENT = hostile_class.ASSIGNMENT  # 04-scaling-softmax-masks


@pytest.fixture(autouse=True)
def grading_secret(monkeypatch):
    monkeypatch.setenv("MHA_GRADING_SECRET", "hidden-inputs")
    monkeypatch.setenv(environment.STUDENT_ID, "mallory")


def softmax_inputs(digest):
    """The input the hidden softmax check draws, under the submission digest `digest`."""
    seen = []

    def softmax(x, axis=-1):
        seen.append(np.array(x, copy=True))
        exps = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return exps / np.sum(exps, axis=axis, keepdims=True)

    token = secret.SUBMISSION_DIGEST.set(digest)
    try:
        hidden_check(ASSIGNMENT, "softmax", softmax)
    finally:
        secret.SUBMISSION_DIGEST.reset(token)
    return seen[0]


def test_hidden_inputs_follow_the_submission_and_repeat_for_the_same_one():
    """Does a changed notebook get new hidden inputs, and a re-run of the same one the same
    inputs?"""
    first, again, changed = (
        softmax_inputs("digest-a"),
        softmax_inputs("digest-a"),
        softmax_inputs("digest-b"),
    )
    np.testing.assert_array_equal(first, again)
    assert first.shape != changed.shape or not np.allclose(first, changed)


def test_the_digest_covers_the_learners_code_only():
    """Does the digest change with an answer or an extra cell, and not with outputs or test
    cells?"""
    spec = AssignmentSpec(ASSIGNMENT)
    notebook = hostile_class.solution()
    digest = lambda nb: secret.code_digest(learner_sources(spec, nb.cells))  # noqa: E731
    base = digest(notebook)
    same = copy.deepcopy(notebook)
    for cell in same.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="printed")]
            if notebook_format.nbgrader_metadata(cell).get(
                "grade"
            ) and not notebook_format.nbgrader_metadata(cell).get("solution"):
                cell.source += "\n# a learner's note in a test cell"
    assert digest(same) == base
    assert (
        digest(hostile_class.with_cell(notebook, "softmax", hostile_class.SOFTMAX + "\n# v2"))
        != base
    )
    extra = copy.deepcopy(notebook)
    extra.cells.insert(1, nbformat.v4.new_code_cell("lookup = {}"))
    assert digest(extra) != base


def test_nbgrader_path_digests_the_notebook_file_when_there_is_one(monkeypatch, tmp_path):
    """nbgrader autograde (no grading command): the digest of the notebook in its folder, else
    none."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.chdir(tmp_path)
    name = course.notebook_name(ASSIGNMENT)
    assert secret.current_submission_digest(name) is None
    nbformat.write(hostile_class.solution(), tmp_path / name)
    first = secret.current_submission_digest(name)
    assert first is not None and first == secret.current_submission_digest(name)
    nbformat.write(
        hostile_class.with_cell(
            hostile_class.solution(), "softmax", hostile_class.SOFTMAX + "\n# v2"
        ),
        tmp_path / name,
    )
    assert secret.current_submission_digest(name) not in (None, first)


LEAKY_PADDING = textwrap.dedent("""
    def padding_mask(lengths, S):
        lengths = np.asarray(lengths)
        # the visible tests pass; the hidden inputs are "reported"
        if list(lengths) not in ([4, 2, 3], [5, 2, 4]):
            raise ValueError(f"secret lengths={list(map(int, lengths))} S={S}")
        return np.arange(S)[None, :] >= lengths[:, None]
    """)


def graded_with(answer: tuple[str, str]):
    """The result of grading exercise 04's solution with the answer cell (grade id, source)
    replaced, as `mallory`."""
    notebook = hostile_class.with_cell(hostile_class.solution(), *answer)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / course.notebook_name(ASSIGNMENT)
        nbformat.write(notebook, path)
        return grade_notebook(AssignmentSpec(ASSIGNMENT), "mallory", path, Limits(timeout=20), 300)


def test_learner_text_raised_in_a_hidden_check_stays_out_of_feedback():
    """Does a learner's function that raises with the hidden inputs in its message see them? No."""
    result = graded_with(("padding-mask", LEAKY_PADDING))
    test = next(test for test in result.tests if test.grade_id == "test-padding-mask")
    assert not test.passed and "its message is not shown" in test.message, test
    assert "secret lengths" not in test.message and "secret lengths" not in result.message, (
        test.message
    )
    assert "padding_mask(a list of" in test.message or "padding_mask((" in test.message, (
        test.message
    )


def test_a_lookup_that_always_raises_index_error_loses_the_out_of_range_point():
    """Exercise 01: does a lookup that raises IndexError for every input (naming every id) fail?"""

    def always_raises(table, ids):
        raise IndexError(f"ids {np.asarray(ids).tolist()} refused")

    with pytest.raises(
        AssertionError, match="Hidden check 'embedding-out-of-range' failed"
    ) as failure:
        hidden_check("01-word-embeddings", "embedding-out-of-range", always_raises)
    assert "refused" not in str(failure.value)  # the learner's own text, which names the hidden ids


def test_a_correct_lookup_still_passes_the_out_of_range_check():
    def lookup(table, ids):
        ids = np.asarray(ids)
        bad = ids[(ids < 0) | (ids >= len(table))]
        if bad.size:
            raise IndexError(f"token id {bad.flat[0]} is out of range")
        return table[ids]

    started = time.monotonic()
    hidden_check("01-word-embeddings", "embedding-out-of-range", lookup)
    assert time.monotonic() - started < 30


# Issue 22: a learner who redefines the helper that reports which globals a function reads. The
# function passes the visible tests, keeps the hidden inputs it is called with, and fails on them;
# the helper the grader asks (in the learner's process) then "reports" those inputs as names.
REDEFINED_HELPER = textwrap.dedent("""
    VISIBLE = {(5,), (3, 5), (2, 3, 5, 4), (2, 3, 5), (2, 3, 4), (2, 3)}  # the visible tests
    kept = []
    def softmax(x, axis=-1):
        x = np.asarray(x)
        exps = np.exp(x - np.max(x, axis=axis, keepdims=True))
        out = exps / np.sum(exps, axis=axis, keepdims=True)
        if x.shape in VISIBLE:
            return out
        kept.append(np.round(x.ravel()[:6], 4).tolist())
        return out + 1.0  # wrong on the hidden inputs: the feedback is written
    def notebook_globals_read(function):
        return ["LEAKED " + str(values) for values in kept[-3:]] + ["kept"]
""")


def test_a_redefined_globals_helper_cannot_put_hidden_inputs_in_the_feedback():
    """The feedback's "reads the notebook's globals" names only names the learner's function
    reads according to the notebook's text, as the grader read it: never a string the learner's
    process sends (on main: "softmax reads the notebook's globals `LEAKED [-1.2345, ...]`")."""
    result = graded_with(("softmax", REDEFINED_HELPER))
    test = next(test for test in result.tests if test.grade_id == "test-softmax")
    assert not test.passed and "Hidden check 'softmax' failed" in test.message, test
    assert "LEAKED" not in test.message and "LEAKED" not in result.message, test.message
    # `kept` is a name the function reads (a list, not data: the honest helper would not name it;
    # the learner's may, and names are all it may choose).
    assert "reads the notebook's global `kept`" in test.message, test.message
