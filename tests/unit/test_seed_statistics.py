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


def test_compare_paired_counts_and_adjusts_a_family():
    """Does compare_paired count solved and discordant seeds, apply Holm over the family, and
    widen each bootstrap interval to the family's Bonferroni level?"""
    a = np.array([1.0, 1.0, 1.0, 0.5, 1.0, 0.2])
    b = np.array([0.1, 0.2, 1.0, 1.0, 0.3, 0.1])
    c = a[::-1].copy()
    family = stats.compare_paired({"a-b": (a, b), "a-c": (a, c)}, bar=0.99)
    first = family[0]
    assert first.name == "a-b" and first.solved == (4, 2) and first.only == (3, 1)
    raw = [stats.exact_mcnemar(a >= 0.99, b >= 0.99), stats.exact_mcnemar(a >= 0.99, c >= 0.99)]
    assert [row.p_value for row in family] == pytest.approx(raw)
    assert [row.p_holm for row in family] == pytest.approx(stats.holm(raw))
    wide = stats.paired_bootstrap_difference(a, b, level=1 - 0.05 / 2)
    assert (first.difference, first.low, first.high) == pytest.approx(wide)
    narrow = stats.paired_bootstrap_difference(a, b)
    assert first.low <= narrow[1] and first.high >= narrow[2]


def test_compare_paired_of_one_comparison_is_unadjusted():
    """With a family of one, is the Holm-adjusted p-value the raw one and the interval at 95%?"""
    a, b = [0.2, 0.9, 1.0, 1.0], [0.1, 0.1, 0.2, 1.0]
    (row,) = stats.compare_paired({"only": (a, b)}, bar=0.99)
    raw = stats.exact_mcnemar(np.array(a) >= 0.99, np.array(b) >= 0.99)
    assert row.p_holm == row.p_value == raw
    unadjusted = stats.paired_bootstrap_difference(a, b)
    assert (row.difference, row.low, row.high) == pytest.approx(unadjusted)


def test_comparison_table_has_one_line_per_row_and_fits_80_columns():
    """Does the table give a header and one line per comparison, none wider than 80 columns?"""
    a, b = [1.0, 1.0, 0.5, 0.2], [0.1, 1.0, 0.5, 0.1]
    rows = stats.compare_paired({"a much longer name - b": (a, b), "b - a": (b, a)}, bar=0.99)
    lines = stats.comparison_table(rows).splitlines()
    assert len(lines) == 3 and lines[1].startswith("a much longer name - b")
    assert max(len(line) for line in lines) <= 80
