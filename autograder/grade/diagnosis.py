"""Name a learner's likely mistake by comparing their answers with the known-wrong variants.

Each assignment's MISTAKES (autograder/checks/assignments/) are trusted code: when a test fails, the
calls the test made to the learner's function (in the sandbox) are replayed here on the wrong
variants of that function's cell and on the reference. A mistake is named when the learner's
outcomes (outputs, or the exception raised and its message) equal the wrong variant's on every replayed
call and differ from the reference's on at least one. The mechanism is generic over MISTAKES, so every chapter's variants become detectors.
"""

import numpy as np

from autograder.checks.notebook_helpers import ATOL, RTOL


def same(got, expected) -> bool:
    """Equal within the course's tolerances, structure and shapes included."""
    if isinstance(expected, np.ndarray) or isinstance(got, np.ndarray):
        if type(got) is not np.ndarray or not isinstance(expected, np.ndarray) or got.shape != expected.shape:
            return False
        if got.dtype == np.bool_ or expected.dtype == np.bool_:
            return got.dtype == expected.dtype and bool(np.array_equal(got, expected))
        if got.dtype.kind not in "biuf" or expected.dtype.kind not in "biuf":
            return False
        with np.errstate(all="ignore"):
            return bool(np.allclose(got, expected, atol=ATOL, rtol=RTOL, equal_nan=True))
    if isinstance(expected, (tuple, list)):
        return isinstance(got, (tuple, list)) and len(got) == len(expected) and all(map(same, got, expected))
    if isinstance(expected, dict):
        return isinstance(got, dict) and got.keys() == expected.keys() and all(same(got[k], expected[k]) for k in expected)
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
    """(True, result), or (False, "Type: message") when the function raised, as the grader records it."""
    from autograder.grade.notebook import quietly

    try:
        with quietly(), np.errstate(all="ignore"):
            return True, function(*_copy(call.args), **_copy(call.kwargs))
    except Exception as error:
        return False, f"{type(error).__name__}: {str(error)[:500]}"


def _same_outcome(call, ok, value) -> bool:
    """The learner's call and a replay agree: equal results, or the same exception and message."""
    if call.ok:
        return ok and same(call.result, value)
    return not ok and getattr(call, "raised", None) == value


def _mentions_learner(value) -> bool:
    if getattr(value, "sandbox_function_name", None):
        return True
    if isinstance(value, (list, tuple)):
        return any(map(_mentions_learner, value))
    if isinstance(value, dict):
        return any(map(_mentions_learner, value.values()))
    return False


def _uses_other_answers(spec, cell: str) -> bool:
    """Does the reference answer of `cell` call functions of other answer cells? Then an error the
    learner's version raises may come from those, and is no evidence about this cell."""
    import ast

    others = set().union(*(names for grade_id, names in spec.answer_names.items() if grade_id != cell))
    try:
        loaded = {node.id for node in ast.walk(ast.parse(spec.answers.get(cell, ""))) if isinstance(node, ast.Name)}
    except SyntaxError:
        return True
    return bool(loaded & others)


def likely_mistakes(spec, test_id: str, calls: list) -> list:
    """Names of the known mistakes that the learner's answers in this failed test match."""
    found = []
    for mistake in spec.mistakes:
        if test_id not in mistake.fails:
            continue
        names = spec.answer_names.get(mistake.cell, set())
        errors_count = not _uses_other_answers(spec, mistake.cell)
        relevant = [call for call in calls if (call.ok or (errors_count and getattr(call, "raised", None)))
                    and call.name in names and not _mentions_learner(call.args) and not _mentions_learner(call.kwargs)]
        if not relevant:
            continue
        wrong, reference = spec.mistake_namespace(mistake), spec.reference
        matches, differs = True, False
        for call in relevant:
            if not _same_outcome(call, *_run(wrong[call.name], call)):
                matches = False
                break
            differs = differs or not _same_outcome(call, *_run(reference[call.name], call))
        if matches and differs:
            found.append(mistake.name)
    return found
