# Test helpers for the visible tests. This cell is identical in every exercise of the course;
# its one source is autograder/checks/notebook_helpers.py, and a test keeps the copies in step.
import contextlib
import io
import sys
import warnings

import numpy as np

ATOL = 1e-10  # float64 answers must match PyTorch to within ATOL + RTOL * |expected|
RTOL = 1e-10


class _TorchForbidden:
    """Stands in for torch while a graded function runs: any use fails with a clear message."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attribute):
        raise AssertionError(
            f"graded functions must use numpy only, but this one used {self._name}.{attribute}"
        )

    def __call__(self, *args, **kwargs):
        raise AssertionError(
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


def call_numpy_only(function, *args, **kwargs):
    """Call a learner's function with torch out of reach; warnings and stderr are collected, not
    shown.

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
                result = function(*args, **kwargs)
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
    for warning in caught[:3]:
        print(f"note: {getattr(function, '__name__', 'your function')} warned: {warning.message}")
    return result


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
        )
    if not np.array_equal(got[~got_finite], expected[~expected_finite], equal_nan=True):
        raise AssertionError(f"{name}: the infinite or NaN entries differ from the expected ones")
    with np.errstate(all="ignore"):  # inf - inf where both are infinite: masked out just below
        error = np.where(expected_finite, np.abs(got - expected), 0.0)
    allowed = atol + rtol * np.abs(np.where(expected_finite, expected, 0.0))
    if np.any(error > allowed):
        index = tuple(int(i) for i in np.unravel_index(np.argmax(error - allowed), error.shape))
        raise AssertionError(
            f"{name}: values differ; largest difference {error[index]:.3g} at index {index} "
            f"(expected {expected[index]:.6g}, got {got[index]:.6g})"
        )


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
