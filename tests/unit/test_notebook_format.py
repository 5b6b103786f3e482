"""autograder/course/notebook_format.py: nbgrader's metadata and sources read from any JSON."""

from types import SimpleNamespace

import nbformat
import pytest
from cells import code

from autograder.course import notebook_format as nf

pytestmark = pytest.mark.unit


def test_metadata_of_a_plain_cell_is_empty():
    """Does a cell without nbgrader metadata read as {} and no grade id?"""
    cell = code("x = 1")
    assert nf.nbgrader_metadata(cell) == {}
    assert nf.cell_grade_id(cell) is None


@pytest.mark.parametrize(
    "cell",
    [
        None,
        [],
        "text",
        {"metadata": None},
        {"metadata": {"nbgrader": ["grade_id"]}},
        {"metadata": "nbgrader"},
    ],
)
def test_malformed_cells_read_as_empty(cell):
    """Does a learner's malformed cell (wrong types anywhere) read as empty instead of raising?"""
    assert nf.nbgrader_metadata(cell) == {}
    assert nf.cell_grade_id(cell) is None
    assert nf.cell_source(cell) == ""
    assert not nf.is_grade(cell) and not nf.is_solution(cell)
    assert not nf.skips_execution(cell)


def test_a_cell_tagged_skip_execution_is_skipped_and_other_tags_are_not():
    """Is nbclient's own tag (which `nbgrader autograde` honours) the one read, among others, and
    are tags of the wrong type ignored?"""
    assert nf.SKIP_EXECUTION_TAG == "skip-execution"
    demo = code("train()", "demo", locked=True)
    demo["metadata"]["tags"] = ["hide-input", "skip-execution"]
    assert nf.skips_execution(demo)
    for tags in (["hide-input"], "skip-execution", None, {"skip-execution": 1}):
        demo["metadata"]["tags"] = tags
        assert not nf.skips_execution(demo)


def test_a_grade_id_that_is_not_a_string_is_no_id():
    """Is a numeric grade_id refused rather than passed on as an id?"""
    cell = code("pass", "x")
    cell["metadata"]["nbgrader"]["grade_id"] = 7
    assert nf.cell_grade_id(cell) is None


@pytest.mark.parametrize(
    "source, expected",
    [
        ("a\nb", "a\nb"),
        (["a\n", "b"], "a\nb"),
        (["a\n", 3, "b"], "a\nb"),
        (42, ""),
    ],
)
def test_cell_source_joins_lists_and_drops_non_strings(source, expected):
    """Is a source given as a list of lines joined, and are non-strings in it ignored?"""
    assert nf.cell_source({"source": source}) == expected


def test_kinds_of_cells():
    """Is a test cell autograded, and an answer cell that is also graded not an autograded test?"""
    test = code("assert f() == 1", "test-f", grade=True, locked=True, points=2)
    answer = code("def f(): return 1", "f", solution=True)
    manual = code("def g(): pass", "g", solution=True, grade=True)
    assert nf.is_autograded_test(test)
    assert not nf.is_autograded_test(answer) and nf.is_solution(answer)
    assert nf.is_grade(manual) and not nf.is_autograded_test(manual)


def test_graded_tests_lists_points_of_test_cells_only():
    """Does graded_tests give each test cell's points, as floats, and skip answers?"""
    notebook = nbformat.from_dict(
        {
            "cells": [
                code("def f(): return 1", "f", solution=True),
                code("assert f() == 1", "test-f", grade=True, points=2),
                code("assert f() > 0", "test-f-sign", grade=True),
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )
    assert nf.graded_tests(notebook) == {"test-f": 2.0, "test-f-sign": 0.0}


def _notebook(*cells):
    return nbformat.from_dict(
        {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    )


def test_apply_mistake_replaces_one_solution_cell_in_a_copy():
    """Does apply_mistake change only the named solution cell, in a copy, leaving the original?"""
    original = _notebook(
        code("def f():\n    return 1", "f", solution=True),
        code("assert f() == 1", "test-f", grade=True, points=1),
    )
    # apply_mistake reads a mistake's name, cell and source; a real Mistake derives its source
    # from a course notebook, so this one states it.
    mistake = SimpleNamespace(name="off by one", cell="f", source="\ndef f():\n    return 2\n")
    wrong = nf.apply_mistake(original, mistake)
    assert wrong.cells[0].source == "def f():\n    return 2"
    assert wrong.cells[1].source == original.cells[1].source
    assert original.cells[0].source == "def f():\n    return 1"


def test_apply_mistake_refuses_a_cell_that_is_not_one_solution():
    """Is a mistake aimed at a test cell, or at an id that is absent, refused loudly?"""
    notebook = _notebook(code("assert True", "test-f", grade=True))
    for cell in ["test-f", "nowhere"]:
        with pytest.raises(LookupError):
            nf.apply_mistake(notebook, SimpleNamespace(name="m", cell=cell, source="pass"))
