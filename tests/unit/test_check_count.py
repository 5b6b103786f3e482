"""autograder/checks/oracle.py's check_count: the comparison of the counts that the analysis
questions ask for (an exact integer, never a float or a bool), and what it tells the learner."""

import numpy as np
import pytest

from autograder.checks.oracle import check_count

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("got", [12, np.int64(12), np.int32(12), np.uint8(12)])
def test_an_equal_integer_of_any_kind_passes(got):
    check_count("count()", got, 12)


def test_a_count_beyond_int64_is_compared_exactly():
    """Python's ints do not wrap: 2**64 + 1 is not 2**64 + 2, and is printed in full."""
    check_count("count()", 2**64 + 1, 2**64 + 1)
    with pytest.raises(AssertionError, match="expected 18,446,744,073,709,551,617, got 18,446"):
        check_count("count()", 2**64 + 2, 2**64 + 1)


@pytest.mark.parametrize("got", [12.0, np.float64(12.0), True, "12", None, np.array(12)])
def test_anything_but_an_integer_is_refused_by_name(got):
    """A float equal to the count is refused too: past 2**53 a float cannot hold every count."""
    with pytest.raises(AssertionError, match=r"count\(\): expected an integer, got \w+"):
        check_count("count()", got, 12)


def test_a_wrong_count_names_both_numbers():
    with pytest.raises(AssertionError, match=r"^f\(N=2\): expected 1,292, got 1,291$"):
        check_count("f(N=2)", 1291, 1292)
