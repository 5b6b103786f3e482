# Test helpers for the visible tests. This cell is identical in every exercise of the course;
# its one source is autograder/checks/notebook_helpers.py, and a test keeps the copies in step.
import contextlib
import io
import re
import sys
import warnings
import weakref

import numpy as np

ATOL = 1e-10  # float64 answers must match PyTorch to within ATOL + RTOL * |expected|
RTOL = 1e-10


class _TorchForbidden:
    """Stands in for torch while a graded function runs: any use fails with a clear message."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attribute):
        raise course_error(
            f"graded functions must use numpy only, but this one used {self._name}.{attribute}"
        )

    def __call__(self, *args, **kwargs):
        raise course_error(
            f"graded functions must use numpy only, but this one called {self._name}"
        )


def _is_torch(value):
    name = getattr(value, "__name__", "") if isinstance(value, type(np)) else ""
    module = getattr(value, "__module__", None) or ""
    return (
        name == "torch"
        or name.startswith("torch.")
        or module == "torch"
        or module.startswith("torch.")
    )


def notebook_globals_read(function):
    """Names of the notebook's data globals (arrays, numbers) that `function` reads, directly or
    through the notebook's other functions: a function should take sizes from its arguments."""
    import dis
    import types

    namespace = getattr(function, "__globals__", None)
    if not isinstance(getattr(function, "__code__", None), types.CodeType) or not isinstance(
        namespace, dict
    ):
        return []
    found, seen, codes = set(), {function}, [function.__code__]
    while codes:
        code = codes.pop()
        codes.extend(
            constant for constant in code.co_consts if isinstance(constant, types.CodeType)
        )
        for instruction in dis.get_instructions(code):
            if (
                instruction.opname not in ("LOAD_GLOBAL", "LOAD_NAME")
                or instruction.argval not in namespace
            ):
                continue
            value = namespace[instruction.argval]
            if isinstance(value, (int, float, np.ndarray, np.number)) and not isinstance(
                value, bool
            ):
                found.add(instruction.argval)
            elif (
                isinstance(value, types.FunctionType)
                and value not in seen
                and value.__globals__ is namespace
            ):
                seen.add(value)
                codes.append(value.__code__)
    return sorted(found)


def globals_note(function):
    """'f reads the notebook's global `E`; take sizes and data from the arguments', or ''."""
    try:  # the course's grader passes a stand-in that asks the learner's process itself
        asked = getattr(function, "data_globals", None)
        names = asked() if callable(asked) else notebook_globals_read(function)
    except Exception:
        return ""
    if not names:
        return ""
    noun = "global" if len(names) == 1 else "globals"
    listed = ", ".join(f"`{name}`" for name in names)
    name = getattr(function, "__name__", "your function")
    return f"{name} reads the notebook's {noun} {listed}; take sizes and data from the arguments"


def _copied(value, depth=0):
    """`value` with every array, list, tuple and dict in it copied (anything else as it is)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if depth < 20 and type(value) in (list, tuple):
        return type(value)(_copied(item, depth + 1) for item in value)
    if depth < 20 and type(value) is dict:
        return {key: _copied(item, depth + 1) for key, item in value.items()}
    return value


def _unchanged(before, after, depth=0):
    """Is `after` what `before` (a _copied snapshot) was: same types, shapes, dtypes and bytes?"""
    if isinstance(before, np.ndarray):
        return (
            type(after) is type(before)
            and after.shape == before.shape
            and after.dtype == before.dtype
            and after.tobytes() == before.tobytes()
        )
    if depth < 20 and type(before) in (list, tuple):
        return (
            type(after) is type(before)
            and len(after) == len(before)
            and all(_unchanged(b, a, depth + 1) for b, a in zip(before, after))
        )
    if depth < 20 and type(before) is dict:
        return (
            type(after) is dict
            and after.keys() == before.keys()
            and all(_unchanged(before[key], after[key], depth + 1) for key in before)
        )
    return True


def _arrays(value, depth=0):
    """The numpy arrays in `value` (itself, or inside lists, tuples and dicts)."""
    if isinstance(value, np.ndarray):
        yield value
    elif depth < 20 and type(value) in (list, tuple, dict):
        for item in value.values() if type(value) is dict else value:
            yield from _arrays(item, depth + 1)


# function -> whether two calls with equal arguments returned arrays that share memory, seen on
# its first call that returned arrays: a cache or a global array shows on any call, so the later
# calls reuse the answer and run the function once.
_SHARES_RESULTS = weakref.WeakKeyDictionary()


def watched_call(function, args, kwargs):
    """Call function(*args, **kwargs) and watch it: (its result, the positions and keywords of
    the arguments it changed, whether a second call on fresh copies of the same arguments returns
    arrays that share memory with the first call's: a cached or global array).

    The second call is made the first time the function returns arrays; later calls reuse what it
    showed. The grader's sandbox calls the learner's functions through this too, so that both
    checks hold there as in the notebook."""
    before = _copied((args, kwargs))
    result = function(*args, **kwargs)
    changed = [index for index, value in enumerate(args) if not _unchanged(before[0][index], value)]
    changed += [key for key, value in kwargs.items() if not _unchanged(before[1][key], value)]
    if changed or next(_arrays(result), None) is None:
        return result, changed, False
    try:
        return result, changed, _SHARES_RESULTS[function]
    except (KeyError, TypeError):  # not seen yet, or a callable that takes no weak reference
        pass
    try:
        again = function(*_copied(before[0]), **_copied(before[1]))
    except Exception:  # the first call's result is the one graded
        return result, changed, False
    shared = any(np.may_share_memory(a, b) for a in _arrays(result) for b in _arrays(again))
    with contextlib.suppress(TypeError):
        _SHARES_RESULTS[function] = shared
    return result, changed, shared


def _parameter(function, key):
    """The name of `function`'s argument at position or keyword `key`, as its signature says."""
    if isinstance(key, str):
        return key
    import inspect

    names = getattr(function, "parameter_names", None)  # the grader's stand-in names its own
    try:
        names = [
            p.name
            for p in inspect.signature(function).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ] or names
    except (TypeError, ValueError):
        pass
    return names[key] if names and 0 <= key < len(names) else f"number {key + 1}"


def side_effect_problem(function, changed, shared):
    """One sentence on what watched_call saw, or '' when the call left no trace."""
    name = getattr(function, "__name__", None) or "your function"
    if changed:
        listed = " and ".join(f"`{_parameter(function, key)}`" for key in changed)
        noun = "argument" if len(changed) == 1 else "arguments"
        return (
            f"{name} changed its {noun} {listed} in place: a graded function must leave its "
            "arguments as they were, so compute into new arrays (x = x - m, not x -= m)"
        )
    if shared:
        return (
            f"{name} returned the same array on two calls with equal arguments (a cached or "
            "global array): return a new array on every call, or a caller who changes one "
            "result changes the other"
        )
    return ""


def course_error(message):
    """An AssertionError that the course's helpers raise (not the learner's own `assert`)."""
    error = AssertionError(message)
    error.course_message = True
    return error


_NOTED_GLOBALS = set()


def call_numpy_only(function, *args, **kwargs):
    """Call a learner's function with torch out of reach; warnings and stderr are collected, not
    shown. The call must leave its arguments unchanged and return a new array each time
    (watched_call); a function that reads notebook globals is told so, once, even when it passes.

    Warnings are printed to stdout after the call, so they inform without costing points
    (nbgrader scores a test cell 0 when anything reaches stderr).
    """
    namespace = getattr(function, "__globals__", {})
    hidden = {key: value for key, value in namespace.items() if _is_torch(value)}
    saved_torch_module = sys.modules.get("torch")
    stderr = io.StringIO()
    try:
        for key in hidden:
            namespace[key] = _TorchForbidden(key)
        sys.modules["torch"] = None  # makes `import torch` inside the function fail
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(stderr):
            warnings.simplefilter("always")
            with np.errstate(all="ignore"):
                if getattr(function, "watches_its_arguments", False):  # the sandbox watches
                    result, changed, shared = function(*args, **kwargs), [], False
                else:
                    result, changed, shared = watched_call(function, args, kwargs)
    except AssertionError:
        raise
    except Exception as error:  # say so when the failure may come from a notebook global
        note = globals_note(function)
        if note and error.args and isinstance(error.args[0], str):
            error.args = (f"{error.args[0]} ({note})", *error.args[1:])
        raise
    finally:
        namespace.update(hidden)
        if saved_torch_module is None:
            sys.modules.pop("torch", None)
        else:
            sys.modules["torch"] = saved_torch_module
    problem = side_effect_problem(function, changed, shared)
    if problem:
        raise course_error(problem)
    for warning in caught[:3]:
        print(f"note: {getattr(function, '__name__', 'your function')} warned: {warning.message}")
    name = getattr(function, "__name__", None)
    if name not in _NOTED_GLOBALS:
        _NOTED_GLOBALS.add(name)
        note = globals_note(function)
        if note:
            print(f"note: {note} (the hidden tests run it where they are not defined).")
    return result


def require_error(what, function, *args, kind=ValueError, why="", naming=(), **kwargs):
    """Assert that `function(*args, **kwargs)` raises `kind` (its docstring asks for it, because
    `why`), whose message names each value of `naming`, a tuple of (name, value) pairs."""
    reason = f", but {why}" if why else ""
    try:
        call_numpy_only(function, *args, **kwargs)
    except kind as error:
        text = str(error)
        for label, value in naming:
            if not re.search(rf"(?<![\d.]){re.escape(str(value))}(?!\d|\.\d)", text):
                raise course_error(
                    f"{what} raised {kind.__name__}({text!r}), whose message does not name "
                    f"{label}={value}"
                ) from None
        return
    except Exception as error:  # the learner's own exception of another kind
        if getattr(error, "course_message", False):
            raise
        hint = " (an `assert` raises AssertionError: write `raise ValueError(...)`)"
        text = (str(error).strip().splitlines() or [""])[0]
        raise course_error(
            f"{what} raised {type(error).__name__} ({text}){reason}: the docstring asks for "
            f"{kind.__name__}" + (hint if isinstance(error, AssertionError) else "")
        ) from None
    raise course_error(f"{what} returned a result{reason}: it should raise {kind.__name__}")


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"a {type(value).__name__} of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__module__}.{type(value).__qualname__}".replace("builtins.", "")


def require_array(name, got):
    """Assert that `got` is a plain numpy array: not None (a forgotten `return`), nor a list, a
    tensor or an ndarray subclass."""
    if got is None:
        raise AssertionError(f"{name}: got None. Did the function forget to `return` its result?")
    if type(got) is not np.ndarray:
        raise AssertionError(f"{name}: expected a numpy.ndarray, got {_describe(got)}")


def check_array(name, got, expected, *, atol=ATOL, rtol=RTOL):
    """Assert that `got` is a plain float numpy array equal to `expected`; say clearly what
    differs."""
    expected = np.asarray(expected)
    require_array(name, got)
    if got.shape != expected.shape:
        raise AssertionError(f"{name}: expected shape {expected.shape}, got shape {got.shape}")
    if got.dtype.kind != "f":
        raise AssertionError(f"{name}: expected a floating-point array, got dtype {got.dtype}")
    expected_finite = np.isfinite(expected)
    got_finite = np.isfinite(got)
    if not np.array_equal(got_finite, expected_finite):
        index = tuple(int(i) for i in np.argwhere(got_finite != expected_finite)[0])
        raise AssertionError(
            f"{name}: at index {index} expected {float(expected[index])}, got {float(got[index])} "
            f"({int(np.sum(~got_finite))} NaN or infinite values in the answer)"
            + _dtypes(got, expected)
        )
    if not np.array_equal(got[~got_finite], expected[~expected_finite], equal_nan=True):
        raise AssertionError(f"{name}: the infinite or NaN entries differ from the expected ones")
    with np.errstate(all="ignore"):  # inf - inf where both are infinite: masked out just below
        error = np.where(expected_finite, np.abs(got - expected), 0.0)
    allowed = atol + rtol * np.abs(np.where(expected_finite, expected, 0.0))
    if np.any(error > allowed):
        index = tuple(int(i) for i in np.unravel_index(np.argmax(error - allowed), error.shape))
        shown_expected, shown_got = _told_apart(float(expected[index]), float(got[index]))
        raise AssertionError(
            f"{name}: values differ; largest difference {error[index]:.3g} at index {index} "
            f"(expected {shown_expected}, got {shown_got}){_dtypes(got, expected)}"
        )


def _told_apart(expected, got):
    """The two numbers with just enough significant digits (6 to 17) to tell them apart."""
    for digits in range(6, 18):
        shown = f"{expected:.{digits}g}", f"{got:.{digits}g}"
        if shown[0] != shown[1]:
            break
    return shown


def _dtypes(got, expected):
    """'; your answer is float32, the expected one float64' when the dtypes differ, else ''."""
    if got.dtype == expected.dtype:
        return ""
    return f"; your answer is {got.dtype}, the expected one {expected.dtype}"


def check_mask(name, got, expected):
    """Assert that `got` is a boolean numpy array equal to `expected`."""
    expected = np.asarray(expected)
    require_array(name, got)
    if got.dtype != np.bool_:
        raise AssertionError(f"{name}: expected dtype bool, got dtype {got.dtype}")
    require_same_entries(name, got, expected)


def require_same_entries(name, got, expected, unit=""):
    """Assert that the arrays `got` and `expected` have the same shape and exactly the same
    entries; name the first that differs (`unit` goes before its values, e.g. "id ")."""
    if got.shape != expected.shape:
        raise AssertionError(f"{name}: expected shape {expected.shape}, got shape {got.shape}")
    if not np.array_equal(got, expected):
        index = tuple(int(i) for i in np.argwhere(got != expected)[0])
        raise AssertionError(
            f"{name}: at index {index} expected {unit}{expected[index].item()}, "
            f"got {got[index].item()}"
        )
