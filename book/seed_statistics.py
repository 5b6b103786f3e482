"""The book's one statistical method for experiments repeated over seeds.

Chapters 6, 7 and 8 train the same small model from several random seeds and compare settings.
Every such comparison in the book uses the functions below, so that a reader meets one method:

- one setting, a proportion (how many seeds solved the task): `wilson_interval`, Wilson's score
  interval, which stays inside [0, 1] and behaves at 0 and n successes, where the normal
  approximation fails;
- one setting, a mean over seeds (accuracies bunched near 0 or 1, far from normal): a percentile
  bootstrap over seeds, `bootstrap_mean_interval`; no t interval, whose need to be cut at 0 or 1
  shows that it is mis-specified for such data;
- two settings trained from the same seeds (the same initial weights where the shapes allow,
  the same batches, the same test set): a *paired* comparison, never two separate intervals read
  for overlap (overlapping 95% intervals do not mean "no difference"):
  - `exact_mcnemar`: the exact two-sided McNemar test (a sign test on the seeds where exactly one
    of the two settings solved the task);
  - `paired_bootstrap_difference`: the mean per-seed difference of a score, with a percentile
    bootstrap interval that resamples seeds, keeping each seed's pair together;
- several comparisons on one page: `holm` adjusts their p-values (Holm 1979), so that the chance
  of any false "difference" among them stays at most the stated level.

Every resampling uses its own fixed seed, so an unchanged build prints the same numbers.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

RESAMPLES = 10_000
LEVEL = 0.95


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson's 95% score interval for a proportion successes / trials (Wilson 1927)."""
    p = successes / trials
    denominator = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denominator
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _percentile_interval(statistics: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(statistics, [tail, 1 - tail])
    return float(low), float(high)


def bootstrap_mean_interval(
    values: Sequence[float], resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of `values`, resampling the seeds."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    return _percentile_interval(values[picks].mean(axis=1), level)


def paired_bootstrap_difference(
    a: Sequence[float],
    b: Sequence[float],
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> tuple[float, float, float]:
    """(mean of a - b, low, high): a[i] and b[i] come from the same seed i; the percentile
    bootstrap resamples seeds, so each seed's two results stay together."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"paired results need two 1-D arrays of one length, got {a.shape}, {b.shape}"
        )
    differences = a - b
    low, high = bootstrap_mean_interval(differences, resamples, seed, level)
    return float(differences.mean()), low, high


def exact_mcnemar(a_solved: Sequence[bool], b_solved: Sequence[bool]) -> float:
    """Two-sided p-value of the exact McNemar test for paired successes: under "no difference",
    each seed where exactly one setting succeeded is as likely to favour either, so the count
    favouring `a` is Binomial(discordant, 1/2). 1.0 when no seed is discordant."""
    a_solved, b_solved = np.asarray(a_solved, dtype=bool), np.asarray(b_solved, dtype=bool)
    if a_solved.shape != b_solved.shape or a_solved.ndim != 1:
        raise ValueError("paired outcomes need two 1-D arrays of one length")
    only_a = int(np.sum(a_solved & ~b_solved))
    only_b = int(np.sum(~a_solved & b_solved))
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, k) for k in range(min(only_a, only_b) + 1))
    return min(1.0, 2 * tail / 2**discordant)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of several p-values (Holm 1979): compare each adjusted value
    with the level; the family-wise error rate stays at most that level."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, (m - rank) * p[index])
        adjusted[index] = min(1.0, running)
    return adjusted.tolist()
