"""autograder/checks/secret.py: the hidden inputs' seed is deterministic, and depends on the
secret, the student, the assignment, the check and the submission."""

import threading

import numpy as np
import pytest

from autograder import environment
from autograder.checks import secret

pytestmark = pytest.mark.unit

KEY = b"unit-secret"


def draw(assignment="01-a", student="ada", check="c", key=KEY, submission=None):
    return secret.rng_for(assignment, student, check, secret=key, submission=submission).normal(
        size=4
    )


def test_same_ids_same_inputs():
    """Does a re-run for the same student and assignment draw the same hidden inputs?"""
    np.testing.assert_array_equal(draw(), draw())


@pytest.mark.parametrize(
    "change",
    [
        {"student": "bob"},
        {"assignment": "02-b"},
        {"check": "d"},
        {"key": b"other"},
        {"submission": "digest"},
    ],
)
def test_each_part_of_the_seed_changes_the_inputs(change):
    """Does changing the student, the assignment, the check, the secret or the submission's digest
    change the inputs, so that one learner's answers say nothing about another's?"""
    assert not np.array_equal(draw(), draw(**change))


def test_ids_are_not_concatenated_ambiguously():
    """Are ("ab", "c") and ("a", "bc") different seeds (the parts are separated)?"""
    assert not np.array_equal(
        draw(assignment="ab", student="c"), draw(assignment="a", student="bc")
    )


def test_code_digest_depends_on_the_cells_and_their_boundaries():
    """Does the digest change with the code, and with where one cell ends and the next begins?"""
    assert secret.code_digest(["a = 1", "b = 2"]) == secret.code_digest(["a = 1", "b = 2"])
    assert secret.code_digest(["a = 1", "b = 2"]) != secret.code_digest(["a = 1b = 2"])
    assert secret.code_digest(["a = 1"]) != secret.code_digest(["a = 2"])
    secret.code_digest(["lone \ud800 surrogate"])  # a learner's odd text still digests


def test_the_secret_comes_from_the_environment_first(monkeypatch):
    """Is $MHA_GRADING_SECRET used, when set, without reading or creating .grading-secret?"""
    monkeypatch.setenv(environment.GRADING_SECRET, "from-the-environment")
    assert secret.grading_secret() == b"from-the-environment"


def test_a_grader_starting_while_another_writes_the_secret_reads_a_whole_one(tmp_path, monkeypatch):
    """While one grader is writing a new .grading-secret, does another that starts then read a
    whole secret, the one that ends up in the file, and is no other file left behind?"""
    monkeypatch.delenv(environment.GRADING_SECRET, raising=False)
    monkeypatch.setattr(secret, "SECRET_FILE", tmp_path / ".grading-secret")
    drawing, may_go_on = threading.Event(), threading.Event()
    token_hex = secret.secrets.token_hex

    def slow_token_hex(size):  # the first grader stops as it draws its secret
        if threading.current_thread() is first:
            drawing.set()
            may_go_on.wait(30)
        return token_hex(size)

    monkeypatch.setattr(secret.secrets, "token_hex", slow_token_hex)
    first = threading.Thread(target=secret.create_grading_secret)
    first.start()
    assert drawing.wait(30)
    secret.create_grading_secret()
    read = secret.grading_secret()
    may_go_on.set()
    first.join(30)
    assert len(read) == 64 and read == secret.SECRET_FILE.read_text().strip().encode()
    assert [path.name for path in tmp_path.iterdir()] == [".grading-secret"]
