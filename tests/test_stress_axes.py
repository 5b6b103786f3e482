"""The stress axes of every graded function (autograder/checks/stress.py): each axis its contract
allows is covered by a hidden check of that function, and each check, run on the reference answer,
makes a call that reaches every axis it claims, through call_numpy_only (which checks that the
arguments are left unchanged and that a second call returns new arrays)."""

import ast
import inspect
import sys
import zlib

import numpy as np
import pytest

from autograder import course
from autograder.checks import notebook_helpers, stress
from autograder.checks.assignments import load_assignment
from autograder.checks.oracle import quiet
from autograder.grade.assignment_spec import AssignmentSpec

HIDDEN = "### BEGIN HIDDEN TESTS"


def checked_functions(assignment: str) -> dict[str, list[str]]:
    """hidden check -> the names of the learner's functions the solution notebook passes it."""
    found = {}
    for cell in course.read_notebook(course.solution_notebook(assignment)).cells:
        if HIDDEN not in cell.source:
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "hidden_check":
                check = node.args[1].value
                found[check] = [argument.id for argument in node.args[2:]]
    return found


class Recorder:
    """A reference function that records each call's arguments, bound to its parameter names."""

    def __init__(self, function, calls: list):
        self._function, self._calls = function, calls
        self.__wrapped__ = function

    def __getattr__(self, name):
        return getattr(self._function, name)

    def __call__(self, *args, **kwargs):
        bound = inspect.signature(self._function).bind(*args, **kwargs)
        bound.apply_defaults()
        call = stress.Call(bound.arguments)
        frame, watched = sys._getframe(1), False
        while frame is not None and not watched:
            watched = frame.f_code is notebook_helpers.watched_call.__code__
            frame = frame.f_back
        call.watched = watched
        self._calls.append(call)
        return self._function(*args, **kwargs)


def test_every_axis_of_every_graded_function_is_covered(assignment):
    """Is each axis in AXES claimed by some check of its function, and is every claim an axis?"""
    module = load_assignment(assignment)
    functions = checked_functions(assignment)
    graded = {name for names in functions.values() for name in names}
    assert graded == set(module.AXES), "AXES must list exactly the functions the checks take"
    for check, names in functions.items():
        allowed = {axis.name for name in names for axis in module.AXES[name]}
        claimed = set(module.COVERAGE.get(check, {}))
        assert claimed <= allowed, f"{check} claims axes its functions lack: {claimed - allowed}"
    for name, axes in module.AXES.items():
        categories = {axis.category for axis in axes}
        assert {"size extremes", "arguments unchanged"} <= categories, name
        covered = {
            axis
            for check, names in functions.items()
            if name in names
            for axis in module.COVERAGE.get(check, {})
        }
        missing = [axis.name for axis in axes if axis.name not in covered]
        assert not missing, f"{assignment}: no check covers {name}'s axes {missing}"


@pytest.fixture(scope="module")
def references():
    return {}


# Draws per check: a claim must hold for every learner's inputs, not for a lucky draw. (Axes
# once missed in 3 to 47 draws of 100: ties among drawn integers, a gap a random mask left, a
# random order that came out sorted. A check whose window could equal S let a known mistake pass
# in one draw of 64.)
DRAWS = 8


def test_each_check_reaches_the_axes_it_claims(assignment, references):
    """Run each check on the reference with DRAWS generators: does every draw make a call that
    reaches every axis the check claims?"""
    module = load_assignment(assignment)
    if assignment not in references:
        references[assignment] = AssignmentSpec(assignment).detector.reference
    reference = references[assignment]
    for check, names in checked_functions(assignment).items():
        axes = {axis.name: axis for name in names for axis in module.AXES[name]}
        for draw in range(DRAWS):
            calls = {name: [] for name in names}
            rng = np.random.default_rng([zlib.crc32(f"{assignment} {check}".encode()), draw])
            with quiet(stdout=True):
                module.CHECKS[check](
                    rng, *(Recorder(reference[name], calls[name]) for name in names)
                )
            for axis_name in module.COVERAGE.get(check, {}):
                axis = axes[axis_name]
                owners = [name for name in names if axis in module.AXES[name]]
                reached = any(_reaches(axis, call) for name in owners for call in calls[name])
                assert reached, (
                    f"{assignment}: check {check!r} does not reach axis {axis_name!r} in draw "
                    f"{draw}: make the check reach it in every draw"
                )
            unwatched = [name for name in names for call in calls[name] if not call.watched]
            assert not unwatched, f"{check}: calls of {unwatched} bypass call_numpy_only"


def _reaches(axis, call) -> bool:
    try:
        with np.errstate(all="ignore"):
            return bool(axis.reached(call))
    except (AttributeError, TypeError, ValueError, IndexError, KeyError):
        return False
