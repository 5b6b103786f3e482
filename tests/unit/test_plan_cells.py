"""autograder/grade/notebook.py: `plan_cells` (what runs in the sandbox, and the notes on how a
submission differs from the course's notebook) and the free-name analysis of test cells."""

from dataclasses import dataclass, field

import pytest
from cells import code, markdown

from autograder.grade.assignment_spec import _defined_names, _free_names
from autograder.grade.cell_plan import learner_sources, plan_cells

pytestmark = pytest.mark.unit


@dataclass
class Spec:
    """The parts of an AssignmentSpec that plan_cells reads, for a two-cell course notebook."""

    readonly: dict = field(default_factory=lambda: {"imports": "import math"})
    answers: dict = field(default_factory=lambda: {"f": "def f():\n    return 1"})
    tests: dict = field(default_factory=lambda: {"test-f": (2.0, "assert f() == 1")})
    skipped: set = field(default_factory=set)


def course_cells():
    return [
        markdown("# Exercise"),
        code("import math", "imports", locked=True),
        code("def f():\n    return 1", "f", solution=True),
        code("assert f() == 1", "test-f", grade=True, locked=True, points=2),
    ]


def test_a_faithful_submission_runs_course_cells_then_answers_with_no_notes():
    """Does an untouched notebook run the course's read-only cell, then the answer, with no
    notes?"""
    run, notes = plan_cells(Spec(), course_cells())
    assert run == [
        ("course cell imports", "import math", False),
        ("f", "def f():\n    return 1", True),
    ]
    assert notes == []


def test_a_cell_no_grader_runs_is_left_out_even_when_its_tag_is_gone():
    """Is the course's ungraded demonstration (tagged skip-execution in the course's notebook) left
    out of the run, also when a submission's copy has lost its tag or changed its code, and is it
    not counted as the learner's own code?"""
    cells = [*course_cells(), code("import torch; train_for_an_hour()", "demo", locked=True)]
    spec = Spec(skipped={"demo"})
    run, notes = plan_cells(spec, cells)
    assert [label for label, _, _ in run] == ["course cell imports", "f"]
    assert notes == []
    assert learner_sources(spec, cells) == ["def f():\n    return 1"]


def test_read_only_cells_come_from_the_course_even_when_edited():
    """Is a learner's edit of a read-only cell ignored in favour of the course's copy?"""
    cells = course_cells()
    cells[1]["source"] = "import os; os.system('boom')"
    run, _ = plan_cells(Spec(), cells)
    assert run[0] == ("course cell imports", "import math", False)


def test_a_deleted_read_only_cell_still_runs_first():
    """When the learner deletes the imports cell, does the course's copy still run before
    answers?"""
    cells = [
        cell
        for cell in course_cells()
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") != "imports"
    ]
    run, _ = plan_cells(Spec(), cells)
    assert run[0] == ("course cell imports", "import math", False)


def test_test_cells_never_run_in_the_sandbox_and_edits_are_noted():
    """Is an edited test cell left out of the run, and named in a note (code and points)?"""
    cells = course_cells()
    cells[3]["source"] = "assert True"
    run, notes = plan_cells(Spec(), cells)
    assert all(label != "test-f" for label, _, _ in run)
    assert notes == [
        "test cells edited in the submission (the course's code and points were used): test-f"
    ]


def test_deleted_and_doubled_cells_are_noted():
    """Are a deleted test cell, a doubled answer and a missing answer each named in a note?"""
    cells = course_cells()[:2] + [
        code("x = 1", "g", solution=True),
        code("x = 2", "g", solution=True),
    ]
    _, notes = plan_cells(Spec(), cells)
    assert notes == [
        "test cells missing from the submission (graded from the course's copy anyway): test-f",
        "cells that appear more than once: g",
        "answer cells not found by their nbgrader id: f",
    ]


def test_a_notebook_without_metadata_runs_every_code_cell():
    """With no nbgrader metadata at all, does every code cell run, labelled by its number?"""
    cells = [code("import math"), markdown("text"), code("def f():\n    return 1")]
    run, notes = plan_cells(Spec(), cells)
    assert run == [
        ("course cell imports", "import math", False),
        ("cell 1", "import math", True),
        ("cell 2", "def f():\n    return 1", True),
    ]
    assert notes == [
        "the notebook has no nbgrader metadata: every code cell was run, and the tests "
        "come from the course's copy"
    ]


def test_ipython_syntax_is_rewritten_before_it_reaches_the_sandbox():
    """Is a learner's `%time` or `!ls` line turned into plain Python rather than a syntax error?"""
    cells = course_cells()
    cells[2]["source"] = "!ls\ndef f():\n    return 1"
    run, _ = plan_cells(Spec(), cells)
    source = run[1][1]
    compile(source, "answer", "exec")
    assert "!ls" not in source and "def f():" in source


@pytest.mark.parametrize(
    "source, free",
    [
        ("assert f(x) == 1", ["f", "x"]),
        ("y = g(2)\nassert y > 0", ["g"]),
        ("def helper(a, *rest, key=None):\n    return a + len(rest)\nassert helper(h) == 1", ["h"]),
        ("import numpy as np\nassert np.allclose(attention(q), 0)", ["attention", "q"]),
        ("try:\n    run()\nexcept ValueError as error:\n    print(error)", ["run"]),
        ("check = lambda value: value + offset\nassert check(1)", ["offset"]),
        ("assert len(range(3)) == 3 and isinstance(1, int)", []),
    ],
)
def test_free_names_are_what_the_learner_must_define(source, free):
    """Which names does a test cell read without defining them (builtins, imports, arguments,
    lambdas and `except ... as` excluded)?"""
    assert _free_names(source) == free


def test_defined_names_are_the_top_level_definitions():
    """Does an answer cell define its top-level functions, classes and assigned names only?"""
    source = (
        "def f():\n    inner = 1\nclass Model:\n    pass\nscale: float = 2.0\na, (b, c) = 1, (2, "
        "3)\n"
        "for loop_variable in []:\n    pass"
    )
    assert _defined_names(source) == {"f", "Model", "scale", "a", "b", "c"}
    assert _defined_names("def broken(:") == set()


def test_written_answers_are_found_by_id_and_unchanged_ones_score_zero():
    """Is a written answer (markdown or code) that differs from the release left to a grader,
    one left as released scored 0, and one that is missing noted and scored 0?"""
    from types import SimpleNamespace

    from autograder.grade.notebook import written_answers

    spec = SimpleNamespace(
        written={
            "essay": (2.0, "YOUR ANSWER HERE"),
            "sketch": (1.0, "# YOUR CODE HERE\nraise NotImplementedError()"),
            "gone": (1.0, "YOUR ANSWER HERE"),
        }
    )
    cells = [
        {
            "cell_type": "markdown",
            "metadata": {"nbgrader": {"grade_id": "essay"}},
            "source": "One.",
        },
        code("# YOUR CODE HERE\nraise NotImplementedError()", "sketch", solution=True, grade=True),
    ]
    answers, notes = written_answers(spec, cells)
    assert [(a.grade_id, a.answered, a.score) for a in answers] == [
        ("essay", True, None),
        ("sketch", False, 0.0),
        ("gone", False, 0.0),
    ]
    assert notes == ["written answers not found by their nbgrader id (no response): gone"]
