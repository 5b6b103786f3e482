"""The visible-test helpers give a learner a readable message for every wrong kind of answer,
keep torch out of graded functions, and keep honest warnings off stderr."""

import contextlib
import io

import numpy as np
import pytest
import torch

from autograder.checks.notebook_helpers import call_numpy_only, check_array, check_mask

EXPECTED = np.arange(6.0).reshape(2, 3)


@pytest.mark.parametrize(
    "answer, message",
    [
        (None, "got None. Did the function forget to `return`"),
        ([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], "expected a numpy.ndarray, got list"),
        (torch.zeros(2, 3), "expected a numpy.ndarray, got torch.Tensor"),
        (np.zeros((3, 2)), "expected shape (2, 3), got shape (3, 2)"),
        (np.arange(6).reshape(2, 3), "expected a floating-point array, got dtype int64"),
        (np.array([[0.0, 1.0, np.nan], [3.0, 4.0, 5.0]]), "at index (0, 2) expected 2.0, got nan"),
        (EXPECTED + np.eye(2, 3) * 1e-3, "largest difference 0.001 at index (0, 0)"),
        (np.ma.masked_array(EXPECTED), "expected a numpy.ndarray, got a MaskedArray"),
        (EXPECTED.astype(object), "expected a floating-point array, got dtype object"),
    ],
)
def test_check_array_explains_what_is_wrong(answer, message):
    with pytest.raises(AssertionError) as failure:
        check_array("answer", answer, EXPECTED)
    assert message in str(failure.value)
    assert str(failure.value).startswith("answer: ")


def test_check_array_accepts_a_correct_answer_within_tolerance():
    check_array("answer", EXPECTED + 1e-12, EXPECTED)
    check_array("answer", np.array([np.inf, -np.inf, 1.0]), np.array([np.inf, -np.inf, 1.0]))


def test_check_array_rejects_a_subclass_that_equals_everything():
    class EqualsAnything(np.ndarray):
        def __eq__(self, other):
            return True

    with pytest.raises(AssertionError, match="expected a numpy.ndarray, got"):
        check_array("answer", np.zeros((2, 3)).view(EqualsAnything), EXPECTED)


def test_check_mask_explains_what_is_wrong():
    expected = np.array([[False, True], [False, False]])
    with pytest.raises(AssertionError, match="expected dtype bool, got dtype float64"):
        check_mask("mask", expected.astype(float), expected)
    with pytest.raises(AssertionError, match=r"at index \(0, 1\) expected True, got False"):
        check_mask("mask", np.zeros((2, 2), dtype=bool), expected)


def _uses_torch(x):
    return torch.softmax(torch.from_numpy(x), dim=-1).numpy()


def _imports_torch(x):
    import torch as hidden_torch

    return hidden_torch.from_numpy(x).numpy()


@pytest.mark.parametrize("function", [_uses_torch, _imports_torch])
def test_graded_functions_may_not_use_torch(function):
    with pytest.raises((AssertionError, ImportError), match="numpy only|torch"):
        call_numpy_only(function, np.zeros(3))
    assert function(np.zeros(3)).shape == (3,), "torch must be restored after the call"


def test_warnings_and_stderr_of_honest_work_stay_off_stderr():
    def noisy(x):
        import sys
        import warnings

        warnings.warn("just so you know")
        print("debug output", file=sys.stderr)
        return np.exp(x)  # overflows: numpy would warn

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        result = call_numpy_only(noisy, np.array([1000.0]))
    assert np.isinf(result[0]) and stderr.getvalue() == ""


def _in_place_softmax(x, axis=-1):
    x -= x.max(axis=axis, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=axis, keepdims=True)
    return x


def test_a_changed_argument_is_named_in_one_sentence():
    """Does an answer that works in its argument fail, naming the argument, in one sentence?"""
    with pytest.raises(AssertionError) as failure:
        call_numpy_only(_in_place_softmax, np.ones((2, 3)))
    message = str(failure.value)
    assert message.startswith("_in_place_softmax changed its argument `x` in place")
    assert message.count(". ") == 0 and "\n" not in message


def test_the_same_array_on_two_calls_is_refused():
    """Does a memoised mask (the same array for equal arguments) fail, and a view of an argument
    pass?"""
    import functools

    @functools.lru_cache(maxsize=None)
    def causal_mask(L, S):
        return np.arange(S)[None, :] > np.arange(L)[:, None]

    with pytest.raises(AssertionError, match="returned the same array on two calls"):
        call_numpy_only(causal_mask, 3, 4)
    call_numpy_only(lambda x: x.reshape(-1), np.ones((2, 2)))  # a view of its argument is fine
    table = np.ones((600, 4))
    with pytest.raises(AssertionError, match="the same array"):
        call_numpy_only(lambda L: table[:L], 5)  # a slice of a global table


def test_the_second_call_is_made_once_per_function_and_its_answer_kept():
    """The check of shared results calls a function twice the first time it returns arrays only;
    later calls run it once and keep its answer, a cache refused on every call."""
    import functools

    calls = []

    def fresh(x):
        calls.append(x)
        return x + 1

    for _ in range(3):
        call_numpy_only(fresh, np.ones(2))
    assert len(calls) == 4  # 2 + 1 + 1
    calls.clear()
    call_numpy_only(lambda n: (calls.append(n), n)[1], 3)  # no array returned: nothing to compare
    assert len(calls) == 1

    @functools.lru_cache(maxsize=None)
    def cached(L):
        return np.arange(L)

    for L in (3, 4, 5):  # the cache misses on the first call of each L, then hits
        with pytest.raises(AssertionError, match="the same array"):
            call_numpy_only(cached, L)

    def redefined(x):  # a function defined again is a new function: it is checked afresh
        return x.copy()

    call_numpy_only(redefined, np.ones(2))
    table = np.ones((9, 2))

    def redefined(x):  # noqa: F811
        return table

    with pytest.raises(AssertionError, match="the same array"):
        call_numpy_only(redefined, np.ones(2))


def test_values_are_shown_with_the_digits_that_differ_and_dtypes_named():
    with pytest.raises(AssertionError) as failure:
        check_array("answer", np.float32([4.10033]), np.float64([4.1003300001]))
    message = str(failure.value)
    assert "expected 4.10033, got 4.1003299" in message
    assert "your answer is float32, the expected one float64" in message


_ASSERTING = {}  # a learner's `assert`, defined outside pytest's assertion rewriting
exec(
    "def split(x, num_heads):\n    assert x.shape[-1] % num_heads == 0, 'bad width'\n    return x",
    _ASSERTING,
)
_split_with_assert = _ASSERTING["split"]


def _split_naming_e(x, num_heads):
    raise ValueError(f"E={x.shape[-1]} does not split")


@pytest.mark.parametrize(
    "function, words",
    [
        (_split_with_assert, "raised AssertionError (bad width): the docstring asks for"),
        (_split_naming_e, "whose message does not name num_heads=4"),
        (lambda x, num_heads: x, "returned a result: it should raise ValueError"),
    ],
)
def test_require_error_says_what_was_expected_and_what_came(function, words):
    from autograder.checks.notebook_helpers import require_error

    with pytest.raises(AssertionError) as failure:
        require_error(
            "split(x, 4)", function, np.ones((2, 26)), 4, naming=(("E", 26), ("num_heads", 4))
        )
    assert words in str(failure.value)


def test_a_function_reading_a_notebook_global_is_told_even_when_it_passes(capsys):
    namespace = {"np": np, "h": 3}
    exec("def heads(x):\n    return x.reshape(x.shape[0], h, -1)\n", namespace)
    call_numpy_only(namespace["heads"], np.ones((2, 6)))
    assert "heads reads the notebook's global `h`" in capsys.readouterr().out
