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
