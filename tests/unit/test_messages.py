"""autograder/grade/messages.py: text from outside made safe, and summaries cut at a space."""

import pytest

from autograder.grade import messages
from autograder.grade.results import NotebookResult, Status, TestCellResult

pytestmark = pytest.mark.unit


def test_safe_text_escapes_a_lone_surrogate():
    """Does a lone surrogate (which UTF-8 cannot encode) become a backslash escape?"""
    text = messages.safe_text("bad \ud800 end")
    assert text == "bad \\ud800 end"
    text.encode("utf-8")


def test_safe_strings_reaches_keys_and_nested_values():
    """Are strings made safe inside dicts (keys too), lists and tuples, and other values kept?"""
    value = {"\udcff": ["a\ud800", ("b\ud801", 3)], "score": 1.5}
    assert messages.safe_strings(value) == {"\\udcff": ["a\\ud800", ("b\\ud801", 3)], "score": 1.5}


@pytest.mark.parametrize(
    "name, problem",
    [
        ("ada", None),
        ("José", None),
        ("a\nb", "control"),
        ("evil\u202eexe", "invisible"),
        ("stu\udcfe", "not valid UTF-8"),
    ],
)
def test_name_problem(name, problem):
    """Which folder names cannot be ids: control characters, bidi overrides, undecodable bytes?"""
    found = messages.name_problem(name)
    assert (found is None) if problem is None else (problem in found)


def test_shown_name_escapes_what_cannot_be_shown():
    """Is a name shown with undecodable bytes as \\xfe and control characters as \\n?"""
    assert messages.shown_name("stu\udcfe") == "stu\\xfe"
    assert messages.shown_name("a\nb\u202e") == "a\\nb\\u202e"
    assert messages.shown_name("José") == "José"


def test_shorten_keeps_parts_whole_when_they_fit():
    """Are parts that fit joined whole, with empty parts dropped?"""
    assert messages.shorten(["one", "", "two"], limit=100) == "one | two"


def test_shorten_cuts_at_a_space_and_counts_the_rest():
    """Is the first part that does not fit cut at a space, and the parts left out counted?"""
    words = " ".join(f"word{number}" for number in range(100))
    text = messages.shorten(["first", words, "third", "fourth"], limit=300)
    assert len(text) <= 300
    assert text.startswith("first | word0 word1")
    assert text.endswith("… and 2 more")
    assert " …" in text and "word99" not in text
    kept = text.split(" | ")[1].removesuffix(" …").split(" ")
    assert all(word.startswith("word") and word[4:].isdigit() for word in kept)  # no split word


def test_shorten_counts_a_part_too_long_to_be_useful():
    """When too little room is left for a useful piece, is the part counted rather than cut?"""
    first = "x" * 250
    text = messages.shorten([first, "y " * 200], limit=300)
    assert text == first + " | … and 1 more"


def test_summary_of_a_graded_notebook_names_failures_and_mistakes():
    """Does the one-line summary count passed tests and name each failure with its likely
    mistake?"""
    result = NotebookResult(
        "ada",
        "01-a",
        Status.GRADED,
        "",
        notes=("renamed",),
        cell_errors={"cell 3": "NameError: x"},
        tests=(
            TestCellResult("t1", 1.0, 1.0, passed=True),
            TestCellResult("t2", 1.0, message="wrong shape", mistakes=("no scaling",)),
        ),
    )
    assert messages.summary(result) == (
        "1 of 2 tests passed | t2: wrong shape (looks like: no scaling)"
        " | cell 3 raised NameError: x | renamed"
    )


def test_summary_of_an_ungraded_notebook_is_its_message():
    """Is a missing notebook summarised by its message and notes alone?"""
    result = NotebookResult("ada", "01-a", Status.MISSING, "not handed in", notes=("no folder",))
    assert messages.summary(result) == "not handed in | no folder"


def test_written_answers_and_lateness_are_in_the_summary_and_the_score():
    """Does a graded row say which written answers await a grader and what lateness cost, and
    is its score the tests' plus the graded answers' less the penalty?"""
    from autograder.grade.results import Submitted, WrittenAnswer

    result = NotebookResult(
        "ada",
        "06",
        Status.GRADED,
        "",
        max_score=7.0,
        tests=(TestCellResult("t", 4.0, 4.0, True),),
        written=(WrittenAnswer("w1", 2.0, True, None), WrittenAnswer("w2", 1.0, True, 0.5)),
        submitted=Submitted(
            "2026-12-02 10:00:00.000000 UTC",
            "timestamp.txt",
            "2026-12-01 09:00:00 UTC",
            90060.0,
            1.5,
        ),
    )
    assert messages.total_score(result) == 4.0 + 0.5 - 1.5
    assert messages.summary(result) == (
        "1 of 1 tests passed | 2 points of written answers await a grader (w1): counted as 0 "
        "until graded in formgrader | handed in 1 d 1 h late (due 2026-12-01 09:00:00 UTC): "
        "late penalty 1.5 points"
    )
