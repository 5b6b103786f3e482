"""Name a learner's likely mistake by comparing their answers with the known-wrong variants.

Each assignment's known mistakes (autograder/checks/mistakes/) are trusted code: when a test fails,
the calls the test made to the learner's function (in the sandbox) are replayed here on the wrong
variants of that function's cell and on the reference. A mistake is named when the learner's
outcomes (outputs, or the exception raised and its message) equal the wrong variant's on every
replayed call and differ from the reference's on at least one. The mechanism is generic over the
known mistakes, so every chapter's variants become detectors. Each assignment has one
MistakeDetector (held by its AssignmentSpec), which keeps the namespaces it has built.
"""

import ast

import numpy as np

from autograder.checks.mistakes import Mistake
from autograder.checks.notebook_helpers import ATOL, RTOL, watched_call
from autograder.checks.oracle import quiet
from autograder.grade.trusted import run_trusted


def same(got, expected) -> bool:
    """Equal within the course's tolerances, structure and shapes included."""
    if isinstance(expected, np.ndarray) or isinstance(got, np.ndarray):
        if (
            type(got) is not np.ndarray
            or not isinstance(expected, np.ndarray)
            or got.shape != expected.shape
        ):
            return False
        if got.dtype == np.bool_ or expected.dtype == np.bool_:
            return got.dtype == expected.dtype and bool(np.array_equal(got, expected))
        if got.dtype.kind not in "biuf" or expected.dtype.kind not in "biuf":
            return False
        with np.errstate(all="ignore"):
            return bool(np.allclose(got, expected, atol=ATOL, rtol=RTOL, equal_nan=True))
    if isinstance(expected, (tuple, list)):
        return (
            isinstance(got, (tuple, list))
            and len(got) == len(expected)
            and all(map(same, got, expected))
        )
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(same(got[k], expected[k]) for k in expected)
        )
    if isinstance(expected, (float, np.floating)) and isinstance(got, (int, float, np.number)):
        return bool(np.isclose(got, expected, atol=ATOL, rtol=RTOL, equal_nan=True))
    try:
        return bool(got == expected)
    except Exception:
        return False


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(item) for item in value)
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value


def _run(function, call):
    """(True, result, effects), or (False, "Type: message", None) when the function raised, as
    the grader records it; effects as the sandbox reports them (watched_call)."""
    try:
        with quiet(stdout=True), np.errstate(all="ignore"):
            result, changed, shared = watched_call(
                function, _copy(tuple(call.args)), _copy(dict(call.kwargs))
            )
        return True, result, (frozenset(changed), shared)
    except Exception as error:
        return False, f"{type(error).__name__}: {str(error)[:500]}", None


def _same_outcome(call, ok, value, effects) -> bool:
    """The learner's call and a replay agree: equal results and the same side effects, or the
    same exception and message."""
    if call.ok:
        return ok and same(call.result, value) and effects == call.effects
    return not ok and getattr(call, "raised", None) == value


def _mentions_learner(value) -> bool:
    if getattr(value, "sandbox_function_name", None):
        return True
    if isinstance(value, (list, tuple)):
        return any(map(_mentions_learner, value))
    if isinstance(value, dict):
        return any(map(_mentions_learner, value.values()))
    return False


def _calls_other_answers(source: str, cell: str, answer_names: dict) -> bool:
    """Does `source`, the reference answer of `cell`, use names defined by other answer cells?"""
    others = set().union(*(names for grade_id, names in answer_names.items() if grade_id != cell))
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True
    loaded = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return bool(loaded & others)


class MistakeDetector:
    """One assignment's mistake detector, with its caches: the course's answers run once, and
    once more with each known mistake in place (trusted code, run when first needed)."""

    def __init__(
        self, base: dict, answers: dict, answer_names: dict, mistakes: tuple[Mistake, ...]
    ):
        self.base = base  # the names of the course's read-only cells
        self.answers = answers  # answer cell id -> the course's source
        self.answer_names = answer_names  # answer cell id -> the names it defines
        self.mistakes = mistakes
        self._reference = None
        self._mistake_namespaces = {}
        # answer cell -> does its reference call functions of other answer cells?
        self.calls_other_answers = {
            cell: _calls_other_answers(source, cell, answer_names)
            for cell, source in answers.items()
        }

    def _answers_namespace(self, mistake=None) -> dict:
        """The read-only cells' names plus the course's answers run afresh, with the mistake's
        cell replaced by its wrong source: functions in the other cells then call the wrong
        variant, as they would in the learner's notebook."""
        namespace = dict(self.base)
        for grade_id, source in self.answers.items():
            if mistake is not None and grade_id == mistake.cell:
                run_trusted(mistake.source, namespace, mistake.name)
            else:
                run_trusted(source, namespace, grade_id)
        return namespace

    @property
    def reference(self) -> dict:
        """The course's own answers: the baseline of the mistake detectors."""
        if self._reference is None:
            self._reference = self._answers_namespace()
        return self._reference

    def mistake_namespace(self, mistake) -> dict:
        """The answers with one known mistake in place; keyed by the Mistake, not its name."""
        if mistake not in self._mistake_namespaces:
            self._mistake_namespaces[mistake] = self._answers_namespace(mistake)
        return self._mistake_namespaces[mistake]

    def not_contradicted(self, names, passed) -> tuple:
        """The mistakes of `names` that lose no test the learner `passed`: a mistake that would
        also fail a passed test is not theirs, however alike one test's calls look (an error
        message can match by chance)."""
        fails = {mistake.name: mistake.fails for mistake in self.mistakes}
        return tuple(name for name in names if not fails.get(name, frozenset()) & set(passed))

    def likely_mistakes(self, test_id: str, calls: list) -> list:
        """Names of the known mistakes that the learner's answers in this failed test match."""
        found = []
        # The reference's outcome of each call, replayed once whichever mistakes need it.
        reference_outcomes = {}
        for mistake in self.mistakes:
            if test_id not in mistake.fails:
                continue
            names = self.answer_names.get(mistake.cell, set())
            # When the answer calls other answers, an error the learner's version raises may come
            # from those, and is no evidence about this cell.
            errors_count = not self.calls_other_answers.get(mistake.cell, False)
            relevant = [
                call
                for call in calls
                if (call.ok or (errors_count and getattr(call, "raised", None)))
                and call.name in names
                and not _mentions_learner(call.args)
                and not _mentions_learner(call.kwargs)
            ]
            if not relevant:
                continue
            wrong, reference = self.mistake_namespace(mistake), self.reference
            matches, differs = True, False
            for call in relevant:
                if not _same_outcome(call, *_run(wrong[call.name], call)):
                    matches = False
                    break
                if not differs:
                    if id(call) not in reference_outcomes:
                        reference_outcomes[id(call)] = _run(reference[call.name], call)
                    differs = not _same_outcome(call, *reference_outcomes[id(call)])
            if matches and differs:
                found.append(mistake.name)
        return found
