"""Stress axes: where a graded function's contract lets its inputs go, written down as code.

A hidden check that tries only friendly inputs passes answers that break just outside them: a
cache cut at 16 tokens, a mask applied after the softmax, a similarity of -1 for "not itself".
So each checks module (``assignments/a<NN>_<name>.py``) declares, next to its checks:

``AXES``
    graded function -> the axes its contract allows, each an :class:`Axis`: a category (one of
    CATEGORIES), a name, and ``reached(call)``, which says whether one call of the function, its
    arguments bound to the course's parameter names, goes along the axis.
``COVERAGE``
    hidden check -> {axis name: the inputs that cover it, in words}.

``tests/test_stress_axes.py`` holds every module to it: each axis of each graded function is
covered by a check of that function, and each check, run on the reference answer, makes a call
that reaches every axis it claims (so the table cannot say more than the code does). Every call
goes through ``call_numpy_only``, which checks that the arguments are left unchanged and that a
second call returns new arrays: the axis UNCHANGED, which every graded function has.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

CATEGORIES = (
    "length",  # longer than any small constant a learner might hard-code: 64 steps or more
    "magnitude",  # scores x1000 with and without masks; large offsets; exp overflow
    "degenerate geometry",  # ties, zero vectors, duplicate and opposite rows, k up to V - 1
    "size extremes",  # every size the docstring allows at its smallest and largest: 1, h = E...
    "dtype",  # every dtype the contract names
    "arguments unchanged",  # no argument changed, and no array shared between two calls' results
)

LONG = 64  # "long": at least this many steps, keys or positions
LARGE_SCORES = 1000.0  # scores this large: a softmax without its maximum subtracted overflows
OVERFLOW = 710.0  # np.exp overflows float64 above about 709.78
# The floating-point types that the analysis questions name (numpy has no bfloat16: by name).
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


class Call(dict):
    """One recorded call: its arguments by parameter name (defaults filled in), also readable as
    attributes (``call.x``), and ``watched``: whether it went through watched_call."""

    watched: bool = False

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class Axis:
    category: str
    name: str
    reached: Callable[[Call], bool]

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise ValueError(f"axis {self.name!r}: unknown category {self.category!r}")


UNCHANGED = Axis(
    "arguments unchanged",
    "arguments unchanged, a new array on every call",
    lambda call: call.watched,
)


# What every check's COVERAGE says of UNCHANGED: call_numpy_only watches every call.
EVERY_CALL = {UNCHANGED.name: "every call"}


def attention_magnitude(scores_of, mask_of) -> tuple[Axis, ...]:
    """The magnitude axes of an attention function: scores x1000, and scores x1000 under a
    boolean and under a float mask that hide the largest score. `scores_of(call)` gives the
    scores (..., L, S), `mask_of(call)` the mask as given (None, boolean or float)."""

    def hidden_top(call, is_kind):
        mask = mask_of(call)
        return is_kind(mask) and hides_the_top(scores_of(call), mask)

    return (
        Axis("magnitude", "scores x1000", lambda c: large(scores_of(c))),
        Axis(
            "magnitude",
            "scores x1000 under a boolean mask hiding the largest",
            lambda c: hidden_top(c, is_bool_mask),
        ),
        Axis(
            "magnitude",
            "scores x1000 under a float mask hiding the largest",
            lambda c: hidden_top(c, is_float_mask),
        ),
    )


def attention_mask_axes(mask_of) -> tuple[Axis, ...]:
    """The mask axes of an attention function that takes a mask of shape (L, S) or
    (N, h, L, S), boolean or float of either width. `mask_of(call)` gives the mask as given."""
    return (
        Axis("size extremes", "a mask of shape (L, S)", lambda c: np.ndim(mask_of(c)) == 2),
        Axis("size extremes", "a mask of shape (N, h, L, S)", lambda c: np.ndim(mask_of(c)) == 4),
        Axis("dtype", "a boolean mask", lambda c: is_bool_mask(mask_of(c))),
        Axis("dtype", "a float64 mask", lambda c: mask_of(c).dtype == np.float64),
        Axis("dtype", "a float32 mask", lambda c: mask_of(c).dtype == np.float32),
    )


def odd(rng: np.random.Generator, low: int, high: int) -> int:
    """An odd int from [low, high]: a count whose odd part passes 2**53 shows a float's rounding."""
    return int(rng.integers(low, high)) | 1


def axes(*declared: Axis) -> tuple[Axis, ...]:
    """A function's axes: the declared ones and UNCHANGED, which every graded function has."""
    return (*declared, UNCHANGED)


# ---------------------------------------------------------------- what the predicates measure


def array(value) -> np.ndarray:
    return np.asarray(value)


def size(value, axis: int) -> int:
    """The length of `value` along `axis` (0 when it has too few axes)."""
    shape = np.shape(value)
    return shape[axis] if -len(shape) <= axis < len(shape) else 0


def scores(q, k) -> np.ndarray:
    """Scaled dot-product scores q k^T / sqrt(d_k) of (..., L, d_k) and (..., S, d_k) arrays
    (a key axis of fewer heads is repeated in place, as grouped-query attention does)."""
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    if q.ndim == 4 and k.ndim == 4 and k.shape[1] != q.shape[1] and q.shape[1] % k.shape[1] == 0:
        k = np.repeat(k, q.shape[1] // k.shape[1], axis=1)
    return q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])


def large(values, at_least: float = LARGE_SCORES) -> bool:
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return finite.size > 0 and float(np.max(np.abs(finite))) >= at_least


# exp(-745) rounds to 0 in float64: keys this far below a row's largest score weigh nothing next
# to it, so a softmax that masks after normalising keeps 0 / 0 where that largest is hidden.
EXP_UNDERFLOW = 745.0


def hides_the_top(score: np.ndarray, mask) -> bool:
    """Does `mask` (True or -inf = may not attend; it broadcasts against `score`) hide, in some
    row, the key with the largest score, and every key less than EXP_UNDERFLOW below it?"""
    mask = np.asarray(mask)
    hidden = mask if mask.dtype == np.bool_ else np.isneginf(mask)
    hidden = np.broadcast_to(hidden, score.shape)
    allowed = np.where(hidden, -np.inf, score)
    top_hidden = np.take_along_axis(hidden, np.argmax(score, axis=-1)[..., None], axis=-1)[..., 0]
    gap = np.max(score, axis=-1) - np.max(allowed, axis=-1)
    return bool(np.any(top_hidden & (gap > EXP_UNDERFLOW)))


def is_float_mask(mask) -> bool:
    return mask is not None and np.asarray(mask).dtype.kind == "f"


def is_bool_mask(mask) -> bool:
    return mask is not None and np.asarray(mask).dtype == np.bool_
