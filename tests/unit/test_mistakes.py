"""autograder/checks/mistakes: a known mistake is read from TOML, checked for its format, and
made by editing an answer, each edit applying exactly once."""

import pytest

from autograder.checks.mistakes import Mistake, apply_edits, read_mistakes

pytestmark = pytest.mark.unit

ANSWER = '''def softmax(x, axis=-1):
    """Softmax along `axis`."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return np.exp(shifted) / np.sum(np.exp(shifted), axis=axis, keepdims=True)
'''

ONE_MISTAKE = """
[[mistake]]
name = "softmax over the wrong axis"
cell = "softmax"
fails = ["test-softmax", "test-attention"]
drop_docstring = true

[[mistake.edit]]
old = 'np.sum(np.exp(shifted), axis=axis'
new = 'np.sum(np.exp(shifted), axis=0'

[[mistake.edit]]
old = '''
    shifted = x - np.max(x, axis=axis, keepdims=True)
'''
new = '''
    shifted = x
'''
"""


def written(tmp_path, text):
    path = tmp_path / "01-example.toml"
    path.write_text(text)
    return path


def test_a_file_reads_as_typed_mistakes(tmp_path):
    """Does a [[mistake]] table become a Mistake with its edits in order and its fails a set?"""
    (mistake,) = read_mistakes(written(tmp_path, ONE_MISTAKE), "01-example")
    assert mistake == Mistake(
        "softmax over the wrong axis",
        "softmax",
        frozenset({"test-softmax", "test-attention"}),
        (
            ("np.sum(np.exp(shifted), axis=axis", "np.sum(np.exp(shifted), axis=0"),
            ("    shifted = x - np.max(x, axis=axis, keepdims=True)\n", "    shifted = x\n"),
        ),
        True,
        assignment="01-example",
    )


def test_the_docstring_goes_first_then_each_edit_in_turn(tmp_path):
    """Is the wrong answer the answer without its docstring, with both edits made?"""
    (mistake,) = read_mistakes(written(tmp_path, ONE_MISTAKE), "01-example")
    assert mistake.applied_to(ANSWER) == (
        "def softmax(x, axis=-1):\n"
        "    shifted = x\n"
        "    return np.exp(shifted) / np.sum(np.exp(shifted), axis=0, keepdims=True)\n"
    )


@pytest.mark.parametrize(
    "edits, count",
    [((("np.max", "np.min"), ("no such text", "")), 0), ((("shifted", "s"),), 3)],
)
def test_an_edit_must_apply_exactly_once(edits, count):
    """Does an edit whose text is absent, or stands in several places, fail loudly?"""
    with pytest.raises(ValueError, match=f"applies {count} times, not once"):
        apply_edits(ANSWER, edits, "mistake 'x'")


@pytest.mark.parametrize(
    "text, complaint",
    [
        (ONE_MISTAKE.replace("fails =", "fail ="), "needs keys"),
        (ONE_MISTAKE.replace('fails = ["test-softmax", "test-attention"]', "fails = []"), "fails"),
        (ONE_MISTAKE.replace('fails = ["test-softmax", "test-attention"]', 'fails = "t"'), "fails"),
        (ONE_MISTAKE.replace("drop_docstring = true", 'drop_docstring = "yes"'), "true or false"),
        (ONE_MISTAKE.replace("new = 'np.sum(np.exp(shifted), axis=0'", ""), "old and new"),
        (ONE_MISTAKE.replace("[[mistake]]", "[[mistakes]]"), "only \\[\\[mistake\\]\\]"),
        ('[[mistake]]\nname = "n"\ncell = "c"\nfails = ["t"]\n', "needs keys"),
    ],
)
def test_a_file_off_the_format_is_refused_with_its_place(tmp_path, text, complaint):
    """Is a typo in a mistakes file refused, naming the file and the mistake, rather than read as
    a mistake that quietly checks something else?"""
    with pytest.raises(ValueError, match=complaint) as refusal:
        read_mistakes(written(tmp_path, text), "01-example")
    assert "01-example.toml" in str(refusal.value)
