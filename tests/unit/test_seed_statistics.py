"""The book's statistics (book/seed_statistics.py) against values worked out by hand."""

import sys

import numpy as np
import pytest

from autograder import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "book"))
import seed_statistics as stats  # noqa: E402

pytestmark = pytest.mark.unit


def test_wilson_interval_of_half_matches_the_formula():
    """Is 5 of 10 given Wilson's textbook interval, (0.2366, 0.7634)?"""
    low, high = stats.wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)


def test_wilson_interval_stays_inside_zero_and_one():
    """Do 0 of 10 and 10 of 10 give intervals that touch 0 and 1 and never cross them?"""
    assert stats.wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert stats.wilson_interval(10, 10)[1] == pytest.approx(1.0, abs=1e-12)


def test_bootstrap_of_a_constant_is_that_constant():
    """Does resampling seeds that all scored 0.7 give the interval (0.7, 0.7)?"""
    assert stats.bootstrap_mean_interval([0.7] * 8) == pytest.approx((0.7, 0.7))


def test_paired_bootstrap_keeps_pairs_together():
    """Does a constant per-seed difference give a zero-width interval, even when the two
    settings vary a lot from seed to seed (an unpaired interval would be wide)?"""
    a = np.array([0.1, 0.9, 0.4, 0.6, 0.2])
    mean, low, high = stats.paired_bootstrap_difference(a + 0.05, a)
    assert (mean, low, high) == pytest.approx((0.05, 0.05, 0.05))


def test_exact_mcnemar_counts_only_discordant_seeds():
    """Five seeds solved by b alone, and any number solved by both: p = 2 / 2**5."""
    a = [True, True, False, False, False, False, False]
    b = [True, True, True, True, True, True, True]
    assert stats.exact_mcnemar(a, b) == pytest.approx(2 / 32)
    assert stats.exact_mcnemar(a, a) == 1.0


def test_exact_mcnemar_is_symmetric_and_at_most_one():
    """Is the two-sided p-value the same either way round, and 1 when the split is even?"""
    a = [True, False, True, False]
    b = [False, True, False, True]
    assert stats.exact_mcnemar(a, b) == stats.exact_mcnemar(b, a) == 1.0


def test_holm_adjusts_step_down_and_keeps_order():
    """Holm on (0.01, 0.04, 0.03): 3 x 0.01, then max(0.03, 2 x 0.03), then max(0.06, 0.04)."""
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
