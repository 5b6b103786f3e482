"""What the hidden tests in the solution notebooks call.

A hidden test cell ends with, for example::

    ### BEGIN HIDDEN TESTS
    from autograder.checks.hidden import hidden_check
    hidden_check("04-scaling-softmax-masks", "softmax", softmax)
    ### END HIDDEN TESTS

The check itself lives once, in ``autograder/checks/assignments/``; its inputs come from the grading
secret, the student id, the assignment id and a digest of the submission's own code.

When a check fails, the learner reads one paragraph: that it was a hidden check, the call that
failed with the shapes (never the values) of its arguments, the error in one sentence of context,
and the notebook globals their function reads, if any. The same text appears in an nbgrader
kernel (real functions) and in the course's grader (proxies into the sandbox, which answer
``data_globals()`` by running the helper cell's ``notebook_globals_read`` there, and name only
globals that the notebook's own text shows the function reads: grade/learner_session.py).
"""

import contextvars
import inspect
from dataclasses import dataclass, field

import numpy as np

from autograder.checks.assignments import load_assignment
from autograder.checks.notebook_helpers import globals_note
from autograder.checks.secret import (
    create_grading_secret,
    current_student_id,
    current_submission_digest,
    rng_for,
)
from autograder.course import notebook_name

# True while a hidden check runs: what the learner's code says then may show the hidden inputs.
HIDDEN_CHECK_RUNNING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "hidden_check_running", default=False
)

MAX_CALL_TEXT = 300


def hidden_check(assignment: str, check: str, *functions) -> None:
    """Run one hidden check of `assignment` on the learner's functions; raise AssertionError on
    failure.

    The student is the grading command's (STUDENT_ID, in its worker), else $MHA_STUDENT_ID, else
    the folder of nbgrader's autograde kernel (autograder/checks/secret.py)."""
    # Run by the instructor outside the grading command (nbgrader autograde, Jupyter), the first
    # hidden check creates the secret; the grading command creates it itself, and says so.
    create_grading_secret()
    module = load_assignment(assignment)
    digest = current_submission_digest(notebook_name(assignment))
    rng = rng_for(assignment, current_student_id(), check, submission=digest)
    log = CallLog()
    token = HIDDEN_CHECK_RUNNING.set(True)
    try:
        module.CHECKS[check](rng, *(Recorded(function, log) for function in functions))
    except Exception as error:  # every failure becomes one readable message
        raise AssertionError(feedback(check, error, log, functions)) from None
    finally:
        HIDDEN_CHECK_RUNNING.reset(token)


@dataclass
class CallLog:
    calls: list = field(default_factory=list)  # descriptions, shapes only, in call order
    raised: list = field(default_factory=list)  # errors the learner's code raised on hidden inputs


class Recorded:
    """A learner's function that notes each call (name and argument shapes) before making it.

    Every other attribute is the function's own (``__globals__`` for call_numpy_only,
    ``sandbox_function_name`` for the grader's proxies), so checks use it as they would the
    function."""

    def __init__(self, function, log: CallLog):
        self._function, self._log = function, log
        self.__wrapped__ = function  # inspect.signature reads the learner's parameter names

    def __getattr__(self, name):
        return getattr(self._function, name)

    def __call__(self, *args, **kwargs):
        self._log.calls.append(describe_call(self._function, args, kwargs))
        try:
            return self._function(*args, **kwargs)
        except Exception as error:
            if not getattr(error, "course_message", False):  # the grader's own sentence is shown
                self._log.raised.append(error)  # its text may hold the hidden inputs: never shown
            raise


def _name(function) -> str:
    return getattr(function, "__name__", None) or "your function"


def describe_value(value) -> str:
    """What a learner may see of a hidden input: shapes, dtypes and sizes, never array values."""
    if isinstance(value, np.ndarray):
        shape = "(" + ", ".join(map(str, value.shape)) + ("," if value.ndim == 1 else "") + ")"
        return f"{shape} {value.dtype}"
    if value is None or isinstance(value, (bool, int, float, str, np.integer)):
        return repr(value if not isinstance(value, np.integer) else int(value))
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    if callable(value):
        return _name(value)
    return type(value).__name__


def describe_call(function, args, kwargs) -> str:
    """`name(param shape, ...)`, with the parameter names when the function's signature is known."""
    try:
        if getattr(function, "watches_its_arguments", False):  # the grader's proxy: (*args, **kw)
            raise ValueError("no parameter names to show (a proxy)")
        signature = inspect.signature(function)
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values()):
            raise ValueError("no parameter names to show (a proxy, or *args)")
        bound = signature.bind(*args, **kwargs).arguments
        parts = [
            f"{key} {describe_value(value)}"
            if isinstance(value, np.ndarray)
            else f"{key}={describe_value(value)}"
            for key, value in bound.items()
        ]
    except (TypeError, ValueError):  # a proxy, or arguments that do not fit: positions then
        parts = [describe_value(value) for value in args]
        parts += [f"{key}={describe_value(value)}" for key, value in kwargs.items()]
    text = f"{_name(function)}({', '.join(parts)})"
    return text if len(text) <= MAX_CALL_TEXT else text[: MAX_CALL_TEXT - 4] + "...)"


def explain(error: BaseException) -> str:
    """One sentence of context for a raw exception from a learner's function."""
    text = str(error)
    kind = type(error).__name__
    if "NoneType" in text:
        return (
            "a value was None where an array was expected: an optional argument whose default "
            "is None was used without handling None, or a function forgot to `return`."
        )
    if "does not have enough dimensions (has 0" in text:
        return (
            "a matrix product got a value with no axes, usually None: an optional argument whose "
            "default is None (such as h0=None) was used without handling None."
        )
    if kind == "AxisError":
        return (
            "an axis the array does not have: arrays of other ranks were passed, so count axes "
            "from the end (-1, -2) or take them from the arguments."
        )
    if isinstance(error, IndexError):
        return (
            "an index went past the end of an axis: usually a size or loop bound that does not "
            "come from the arguments, or an index along the wrong axis."
        )
    if isinstance(error, ValueError) and any(
        word in text for word in ("shape", "broadcast", "matmul", "align")
    ):
        return (
            "two arrays' shapes do not fit together (in a product or a broadcast): check which "
            "axis "
            "is which, whether a weight needs a transpose, and that sizes come from the arguments."
        )
    if isinstance(error, ValueError):
        return "a numpy function refused an input: a shape, axis or value it cannot take."
    if isinstance(error, TypeError):
        return (
            "a value of an unexpected type, or a call with the wrong arguments: compare your "
            "signature, and what you return, with the docstring."
        )
    if isinstance(error, (AttributeError, KeyError)):
        return (
            "a value is not the kind of object the code expects (a list or tuple where an "
            "array was meant?)."
        )
    if isinstance(error, NameError):
        return (
            "a name the function uses is not defined when it runs on its own: define it "
            "inside the function."
        )
    if isinstance(error, ZeroDivisionError):
        return "a division by zero: a size or norm that can be 0 on these inputs."
    if isinstance(error, (RecursionError, MemoryError)):
        return "the function recursed or allocated without bound on these inputs."
    return ""


def _globals_sentence(functions, already: str) -> str:
    notes = [note for note in map(globals_note, functions) if note and note not in already]
    return ". ".join(notes) + "." if notes else ""


LEARNER_TEXT_HIDDEN = "its message is not shown: it may hold the hidden inputs"


def _without_learner_text(text: str, log: CallLog) -> str:
    """A check's message with any text the learner's code raised (quoted by the check) taken out."""
    for raised in log.raised:
        quoted = str(raised).strip()
        if len(quoted) >= 3:
            text = text.replace(quoted, f"[{LEARNER_TEXT_HIDDEN}]")
    return text


def feedback(check: str, error: BaseException, log: CallLog, functions) -> str:
    """The paragraph a learner reads when hidden check `check` fails."""
    parts = [
        f"Hidden check '{check}' failed (inputs drawn at grading time, with other sizes than the "
        "visible tests)."
    ]
    learner_raised = any(error is raised for raised in log.raised)
    if isinstance(error, AssertionError) and not learner_raised:
        text = _without_learner_text(str(error).strip(), log) or "a check failed"
        parts.append(text if text.endswith((".", "!", "?")) else text + ".")
        if log.calls:
            parts.append(f"Last call: {log.calls[-1]}.")
    else:
        where = f"{log.calls[-1]} raised" if log.calls else "It raised"
        if learner_raised:  # the learner's own text could echo the hidden inputs back to them
            parts.append(f"{where} {type(error).__name__} ({LEARNER_TEXT_HIDDEN}).")
        else:
            text = str(error).strip()
            if len(text) > 200:
                text = text[:200].rsplit(" ", 1)[0] + " ..."
            parts.append(f"{where} {type(error).__name__}: {text}".rstrip(": ") + ".")
        parts.append(explain(error).capitalize()[:1] + explain(error)[1:])
    parts.append(_globals_sentence(functions, " ".join(parts)))
    return " ".join(part for part in parts if part)
