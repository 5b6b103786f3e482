"""Shared pieces of the hidden checks: random shapes, torch as the oracle, and quiet calls.

Every check uses N > 1 and sizes L, S, E, d_k (and any others) that all differ, so that a
transposed axis cannot pass by accident. Every computation is float64.
"""

import contextlib
import io
import warnings

import numpy as np
import torch

# Re-exported: the hidden checks compare arrays as the visible tests do.
from autograder.checks.notebook_helpers import (  # noqa: F401
    call_numpy_only,
    check_array,
    check_mask,
    require_array,
    require_error,
    require_same_entries,
)
from autograder.checks.stress import EXP_UNDERFLOW


def distinct_sizes(rng: np.random.Generator, names: list[str], low: int = 2, high: int = 9) -> dict:
    """Sizes for `names`, pairwise different, drawn from [low, high]; "N" is always at least 2."""
    values = rng.choice(np.arange(max(low, 2), high + 1), size=len(names), replace=False)
    return {name: int(value) for name, value in zip(names, values)}


def head_sizes(rng: np.random.Generator, names: list[str], low: int = 2, high: int = 9) -> dict:
    """Sizes for `names` (which include "h" and "d_k") and E = h * d_k, all pairwise different:
    drawn again until E differs from every other size."""
    while True:
        sizes = distinct_sizes(rng, names, low=low, high=high)
        sizes["E"] = sizes["h"] * sizes["d_k"]
        if len(set(sizes.values())) == len(sizes):
            return sizes


def describe(sizes: dict) -> str:
    """The sizes of a check's case, as a learner reads them in a failure message."""
    return ", ".join(f"{name}={value}" for name, value in sizes.items())


def tensor(array) -> torch.Tensor:
    """A float64 (or bool) torch tensor sharing no memory with `array`."""
    return torch.from_numpy(np.array(array, copy=True))


@contextlib.contextmanager
def quiet(stdout: bool = False):
    """Run oracle code without letting a torch warning reach stderr (nbgrader scores stderr as 0);
    with `stdout`, its prints are dropped too (the grader runs the course's cells this way)."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.redirect_stdout(io.StringIO()) if stdout else contextlib.nullcontext(),
    ):
        warnings.simplefilter("ignore")
        yield


def random_parameters(module: torch.nn.Module, rng: np.random.Generator, scale: float):
    """`module` with every parameter (biases and norm weights too, which torch starts at 0 or 1)
    overwritten by normal draws from `rng`."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(tensor(rng.normal(scale=scale, size=tuple(parameter.shape))))
    return module


def random_multihead_attention(rng: np.random.Generator, E: int, h: int, **options):
    """A float64 nn.MultiheadAttention(batch_first=True) in eval mode, every parameter random."""
    module = torch.nn.MultiheadAttention(E, h, batch_first=True, dtype=torch.float64, **options)
    return random_parameters(module, rng, scale=0.6).eval()


def numpy(result) -> np.ndarray:
    return result.detach().numpy() if isinstance(result, torch.Tensor) else np.asarray(result)


def call_learner(what: str, function, *args, **kwargs):
    """call_numpy_only, with an exception from the learner's code turned into a failed check that
    names the call (`what`) and the exception, in one sentence."""
    try:
        return call_numpy_only(function, *args, **kwargs)
    except AssertionError:
        raise
    except Exception as error:  # the learner's bug, reported as a failed check with its cause
        raise AssertionError(
            f"{what}: your function raised {type(error).__name__}: {error}"
        ) from error


def check_count(what: str, got, expected: int) -> None:
    """Assert that `got`, a count the learner worked out, is an integer (a Python int or a numpy
    integer; not a bool, and not a float, which holds every integer exactly only up to 2**53)
    equal to `expected`; the numbers are shown in full, with thousands separated."""
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
        raise AssertionError(
            f"{what}: expected an integer, got {type(got).__name__} {got!r} (count with "
            "integers: // where a division is exact, and no float in between)"
        )
    if got != expected:
        raise AssertionError(f"{what}: expected {expected:,}, got {int(got):,}")


# How far below a row's largest score mask_over_the_top hides keys: past EXP_UNDERFLOW, so that
# the keys left free weigh exactly 0 next to the largest.
TOP_MARGIN = EXP_UNDERFLOW + 55.0


def mask_over_the_top(rng: np.random.Generator, scores: np.ndarray, shape: tuple) -> np.ndarray:
    """A boolean mask of `shape` (True = may not attend; the trailing axes of `scores` (..., L,
    S)) that hides, in every row (of the first entry of any leading axes the mask does not have),
    the key with the largest score, every key within TOP_MARGIN of it, and some random others,
    and leaves one other key free: a random one of those further down, else the smallest.
    With large scores, a softmax that masks after normalising then divides 0 by 0 in every row
    whose scores spread wider than TOP_MARGIN, not only where the draw happens to leave a gap."""
    first = scores[(0,) * (scores.ndim - len(shape))]
    near_top = first > np.max(first, axis=-1, keepdims=True) - TOP_MARGIN  # the largest among them
    mask = (rng.random(shape) < 0.3) | near_top
    far = ~near_top
    # A random far key where the row has one (far keys outrank every near one), else the smallest
    # score (the largest itself only when the row has one key).
    priority = np.where(np.any(far, axis=-1, keepdims=True), rng.random(shape) + far, -first)
    np.put_along_axis(mask, np.argmax(priority, axis=-1)[..., None], False, axis=-1)
    return mask
