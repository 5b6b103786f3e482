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
  of any false "difference" among them stays at most the stated level;
- all of it at once: `compare_paired` takes a family of paired comparisons and returns, for each,
  the exact McNemar p-value before and after Holm's adjustment over the family, and the paired
  bootstrap interval of the mean difference at the level 1 - (1 - LEVEL) / m (Bonferroni), so
  that the m intervals hold together with probability at least LEVEL.

Every resampling uses its own fixed seed, so an unchanged build prints the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

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


@dataclass(frozen=True)
class PairedComparison:
    """Setting a against setting b, trained from the same seeds (one score per seed each)."""

    name: str
    solved: tuple[int, int]  # seeds whose score reached the bar, for a and for b
    only: tuple[int, int]  # seeds that a alone solved, and that b alone solved
    p_value: float  # exact McNemar test on solved / not solved, two-sided
    p_holm: float  # the same after Holm's adjustment over the family
    difference: float  # mean over seeds of score_a - score_b
    low: float  # percentile-bootstrap interval of the difference, resampling seeds in pairs, at
    high: float  # the level that makes the family's intervals hold together (see compare_paired)


def compare_paired(
    pairs: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    bar: float,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[PairedComparison]:
    """The book's paired analysis of a family of m comparisons, {name: (scores_a, scores_b)},
    where scores_a[i] and scores_b[i] come from seed i. A seed solves when its score is at least
    `bar`. Each comparison gets the exact McNemar p-value, Holm-adjusted over the family, and a
    paired bootstrap interval of the mean difference at level 1 - (1 - level) / m, so that the
    chance that any of the m intervals misses its difference is at most 1 - level."""
    names = list(pairs)
    each_level = 1 - (1 - level) / len(names)
    raw, rows = [], []
    for name in names:
        a, b = (np.asarray(scores, dtype=np.float64) for scores in pairs[name])
        a_solved, b_solved = a >= bar, b >= bar
        raw.append(exact_mcnemar(a_solved, b_solved))
        difference, low, high = paired_bootstrap_difference(a, b, resamples, seed, each_level)
        rows.append(
            (
                (int(a_solved.sum()), int(b_solved.sum())),
                (int(np.sum(a_solved & ~b_solved)), int(np.sum(~a_solved & b_solved))),
                difference,
                low,
                high,
            )
        )
    return [
        PairedComparison(name, solved, only, p, p_adjusted, difference, low, high)
        for name, (solved, only, difference, low, high), p, p_adjusted in zip(
            names, rows, raw, holm(raw)
        )
    ]


def comparison_table(rows: Sequence[PairedComparison]) -> str:
    """The rows of compare_paired as a plain-text table under 80 columns: solved runs of a and b,
    seeds that only a and only b solved, the McNemar p-value before and after Holm, and the mean
    difference a - b with its (simultaneous) interval."""
    lines = [
        f"{'a - b':<26}{'solved':>7}{'only':>7}{'p':>7}{'Holm':>7}{'a - b':>7}  interval",
    ]
    for row in rows:
        lines.append(
            f"{row.name:<26}{row.solved[0]:>4},{row.solved[1]:>2}{row.only[0]:>4},{row.only[1]:>2}"
            f"{row.p_value:>7.3f}{row.p_holm:>7.3f}{row.difference:>7.3f}"
            f"  [{row.low:.2f}, {row.high:.2f}]"
        )
    return "\n".join(lines)
