"""Assignment 03-self-attention: hidden checks against torch.

Chapter 3 uses UNSCALED scores Q K^T (chapter 4 adds the 1/sqrt(d_k)), so the oracle is
F.scaled_dot_product_attention(..., scale=1.0) on Q, K and V projected by torch. The projections
use the article's orientation Q = X W_Q with W_Q of shape (E, d_k); torch's F.linear stores the
transpose, so the oracle projects with F.linear(X, W_Q.T).
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from .. import stress
from ..oracle import (
    call_learner,
    call_numpy_only,
    check_array,
    check_count,
    distinct_sizes,
    numpy,
    quiet,
    tensor,
)
from ..stress import LONG, Axis


def _unpack(description, result, count):
    if not isinstance(result, (tuple, list)) or len(result) != count:
        raise AssertionError(
            f"{description}: expected a tuple of {count} arrays, got {type(result).__name__}"
            + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
        )
    return result


def _weights(rng, E, d_k, d_v):
    """W_Q, W_K (E, d_k) and W_V (E, d_v), in the article's orientation."""
    return rng.normal(size=(E, d_k)), rng.normal(size=(E, d_k)), rng.normal(size=(E, d_v))


def _project(X, W):
    """The oracle projection X W: torch's F.linear computes x A^T with A of shape (out, in)."""
    with quiet():
        return F.linear(tensor(X), tensor(W).T)


def _torch_attention(X_query, X_context, W_q, W_k, W_v):
    """Unscaled attention by torch: output from F.scaled_dot_product_attention(scale=1.0), weights
    by torch.softmax; any leading batch axes (none, one or two)."""
    q, k, v = _project(X_query, W_q), _project(X_context, W_k), _project(X_context, W_v)
    with quiet():
        output = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        weights = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
    return numpy(output), numpy(weights)


def _batches(sizes):
    """Leading axes for each rank a docstring allows: none, (N,), and (N, M)."""
    return [(), (sizes["N"],), (sizes["N"], sizes["M"])]


def _cases(sizes):
    """(leading axes, scale, what to add to the call's description) of the attention checks: each
    rank at scale 0.5, then values large enough that a softmax without its max subtracted
    overflows."""
    large = ((sizes["N"],), 30.0, " (large values)")
    return [*((batch, 0.5, "") for batch in _batches(sizes)), large]


def _ones(sizes, names):
    """`sizes` with each of `names` set to 1 in turn: the size extremes."""
    return [dict(sizes, **{name: 1}) for name in names]


def check_qkv_projections(rng, qkv_projections):
    """X of rank 2, 3 and 4; W_q, W_k, W_v of three different widths, so none can stand in for
    another; then L, E, d_k, d_v and N at 1 in turn."""
    sizes = distinct_sizes(rng, ["N", "M", "L", "E", "d_k", "d_v"], high=11)
    cases = [(sizes, batch) for batch in _batches(sizes)]
    cases += [(case, (case["N"],)) for case in _ones(sizes, ("L", "E", "d_k", "d_v", "N"))]
    for case, batch in cases:
        L, E, d_k, d_v = (case[name] for name in ("L", "E", "d_k", "d_v"))
        X = rng.normal(size=(*batch, L, E))
        W_q, W_k, W_v = _weights(rng, E, d_k, d_v)
        call = f"qkv_projections(X {X.shape}, W_q {W_q.shape}, W_k {W_k.shape}, W_v {W_v.shape})"
        Q, K, V = _unpack(
            call, call_numpy_only(qkv_projections, X.copy(), W_q.copy(), W_k.copy(), W_v.copy()), 3
        )
        for name, got, W in [("Q", Q, W_q), ("K", K, W_k), ("V", V, W_v)]:
            check_array(f"{call}: {name} = X W_{name.lower()}", got, numpy(_project(X, W)))


def check_attention_scores(rng, attention_scores):
    """Q and K of rank 2, 3 and 4, with L != S; then L, S, d_k and N at 1 in turn, and S of 64 or
    more."""
    sizes = distinct_sizes(rng, ["N", "M", "L", "S", "d_k"], high=11)
    cases = [(sizes, batch) for batch in _batches(sizes)]
    cases += [(case, (case["N"],)) for case in _ones(sizes, ("L", "S", "d_k", "N"))]
    cases.append((dict(sizes, S=int(rng.integers(LONG, 2 * LONG))), ()))
    for case, batch in cases:
        L, S, d_k = case["L"], case["S"], case["d_k"]
        Q, K = rng.normal(size=(*batch, L, d_k)), rng.normal(size=(*batch, S, d_k))
        call = f"attention_scores(Q {Q.shape}, K {K.shape})"
        expected = numpy(tensor(Q) @ tensor(K).transpose(-1, -2))
        check_array(call, call_numpy_only(attention_scores, Q.copy(), K.copy()), expected)


def _stand_ins(X_query, X_context, W_q, W_k, W_v):
    """Correct `projections` and `scores` for the learner's self_attention and cross_attention, so
    that a part 1 bug costs part 1's points only. torch computes Q, K, V and the scores once; each
    stand-in checks that it is given those inputs (or X and the weights) and answers with torch's
    results, so its cost is bounded whatever shapes reach it.
    Returns (projections, scores, used)."""
    inputs = ((X_query, W_q), (X_context, W_k), (X_context, W_v))
    Q, K, V = (numpy(_project(X, W)) for X, W in inputs)
    with quiet():
        S = numpy(tensor(Q) @ tensor(K).transpose(-1, -2))
    given, used = {"W_q": W_q, "W_k": W_k, "W_v": W_v}, []

    def close(got, want):
        return (
            isinstance(got, np.ndarray)
            and got.shape == want.shape
            and np.allclose(got, want, rtol=1e-9, atol=1e-12)
        )

    def projections(X, W_q, W_k, W_v):
        used.append("projections")
        if not close(X, X_query):
            raise AssertionError("projections was called on something other than X")
        for name, weight in zip(given, (W_q, W_k, W_v)):
            if not (isinstance(weight, np.ndarray) and np.array_equal(weight, given[name])):
                raise AssertionError(f"projections' argument {name} must be self_attention's")
        return Q.copy(), K.copy(), V.copy()

    def scores(Q_given, K_given):
        used.append("scores")
        if not close(Q_given, Q):
            raise AssertionError(
                f"scores was called with something other than the queries Q {Q.shape} = X_query W_q"
            )
        if not close(K_given, K):
            raise AssertionError(
                f"scores was called with something other than the keys "
                f"K {K.shape} = X_context W_k (not their transpose: scores "
                "transposes K itself)"
            )
        return S.copy()

    for stand_in in (projections, scores):
        stand_in.sandbox_any_shape = True  # answers from Q, K, V and S: any shape may reach it
    return projections, scores, used


def _require_used(call, used, names):
    for name in names:
        if name not in used:
            raise AssertionError(f"{call} never called the `{name}` function it was given; use it")


def _described(function, inputs, weights, size, stand_ins):
    """How a failure names the call: the shape of each array, `size` ("" or " (large values)")
    after the inputs, then the stand-ins passed."""
    shapes = [f"{name} {array.shape}" for name, array in inputs.items()]
    shapes[-1] += size
    shapes += [f"{name} {W.shape}" for name, W in zip(("W_q", "W_k", "W_v"), weights)]
    return f"{function}({', '.join(shapes + stand_ins)})"


def _check_attention(description, result, expected_output, expected_weights):
    """Weights first: their message says more about a mistake than the output's does."""
    output, weights = _unpack(description, result, 2)
    check_array(f"{description}: weights", weights, expected_weights)
    check_array(f"{description}: output", output, expected_output)


def _attention_cases(rng, sizes, long_name):
    """_cases, then one query or key (L = 1 or S = 1), width-1 projections, and 64 or more
    positions along `long_name` ("L" or "S")."""
    cases = [(sizes, *case) for case in _cases(sizes)]
    batch = (sizes["N"],)
    ones = [name for name in ("L", "S", "d_k", "d_v") if name in sizes]
    cases += [(case, batch, 0.5, "") for case in _ones(sizes, ones)]
    long = dict(sizes, **{long_name: int(rng.integers(LONG, 2 * LONG))})
    cases.append((long, batch, 0.5, ""))
    return cases


def check_self_attention(rng, self_attention):
    """X of rank 2, 3 and 4, then inputs large enough that a softmax without its max subtracted
    overflows, L = 1, d_k = d_v = 1 and L of 64 or more. Q, K, V and the scores come from torch
    stand-ins, not the learner's part 1."""
    sizes = distinct_sizes(rng, ["N", "M", "L", "E", "d_k", "d_v"], high=11)
    for case, batch, scale, size in _attention_cases(rng, sizes, "L"):
        L, E, d_k, d_v = (case[name] for name in ("L", "E", "d_k", "d_v"))
        X = rng.normal(scale=scale, size=(*batch, L, E))
        weights = _weights(rng, E, d_k, d_v)
        call = _described("self_attention", {"X": X}, weights, size, ["projections", "scores"])
        projections, scores, used = _stand_ins(X, X, *weights)
        arguments = (X.copy(), *(W.copy() for W in weights))
        result = call_numpy_only(self_attention, *arguments, projections=projections, scores=scores)
        _require_used(call, used, ["projections", "scores"])
        _check_attention(call, result, *_torch_attention(X, X, *weights))


def check_cross_attention(rng, cross_attention):
    """Queries and context of rank 2, 3 and 4 with L != S, large values, L = 1, S = 1,
    d_k = d_v = 1 and S of 64 or more. The scores come from a torch stand-in, not the learner's
    attention_scores."""
    sizes = distinct_sizes(rng, ["N", "M", "L", "S", "E", "d_k", "d_v"], high=12)
    for case, batch, scale, size in _attention_cases(rng, sizes, "S"):
        L, S, E, d_k, d_v = (case[name] for name in ("L", "S", "E", "d_k", "d_v"))
        X_query = rng.normal(scale=scale, size=(*batch, L, E))
        X_context = rng.normal(scale=scale, size=(*batch, S, E))
        weights = _weights(rng, E, d_k, d_v)
        inputs = {"X_query": X_query, "X_context": X_context}
        call = _described("cross_attention", inputs, weights, size, ["scores"])
        _, scores, used = _stand_ins(X_query, X_context, *weights)
        arguments = (X_query.copy(), X_context.copy(), *(W.copy() for W in weights))
        result = call_numpy_only(cross_attention, *arguments, scores=scores)
        _require_used(call, used, ["scores"])
        _check_attention(call, result, *_torch_attention(X_query, X_context, *weights))


# ---------------------------------------------------------------- part 4: the analysis question

SIZES = ("N", "L", "S", "E", "d_k", "d_v")


def _torch_multiply_adds(N, L, S, E, d_k, d_v):
    """The oracle: the multiply-adds of the chapter's cross-attention, from PyTorch's FLOP counter
    (2 FLOPs per multiply-add), run on meta tensors (shapes without data; float16, whose 2 bytes
    let the (N, L, S) scores of 2**62 entries still have a storage size torch can compute)."""
    meta = dict(device="meta", dtype=torch.float16)
    X_query, X_context = torch.empty(N, L, E, **meta), torch.empty(N, S, E, **meta)
    W_q, W_k = torch.empty(E, d_k, **meta), torch.empty(E, d_k, **meta)
    W_v = torch.empty(E, d_v, **meta)
    with quiet(), FlopCounterMode(display=False) as counter:
        Q, K, V = X_query @ W_q, X_context @ W_k, X_context @ W_v
        torch.softmax(Q @ K.transpose(-2, -1), dim=-1) @ V
    return counter.get_total_flops() // 2


def _check_multiply_adds(attention_multiply_adds, sizes):
    what = "attention_multiply_adds(" + ", ".join(f"{n}={sizes[n]}" for n in SIZES) + ")"
    got = call_learner(what, attention_multiply_adds, *(sizes[name] for name in SIZES))
    check_count(what, got, _torch_multiply_adds(*(sizes[name] for name in SIZES)))


def check_attention_multiply_adds(rng, attention_multiply_adds):
    """Cross-attention with every size different, self-attention (S = L), each size at 1 and all
    at once, 64 to 4096 tokens, and counts beyond 2**53 (about 17 million tokens) and beyond
    2**63 (about 200 million)."""
    sizes = distinct_sizes(rng, list(SIZES), low=2, high=12)
    cases = [sizes, dict(sizes, S=sizes["L"])]
    cases += [dict(sizes, **{name: 1}) for name in SIZES] + [dict.fromkeys(SIZES, 1)]
    cases.append(dict(sizes, L=int(rng.integers(LONG, 4096)), S=int(rng.integers(LONG, 4096))))
    beyond_float = dict(
        N=stress.odd(rng, 3, 8), L=stress.odd(rng, 2**24, 2**25), S=stress.odd(rng, 2**24, 2**25)
    )
    beyond_float.update(
        E=stress.odd(rng, 65, 512), d_k=stress.odd(rng, 9, 64), d_v=stress.odd(rng, 9, 64)
    )
    beyond_int64 = dict(
        N=stress.odd(rng, 5, 8), L=stress.odd(rng, 2**27, 2**28), S=stress.odd(rng, 2**27, 2**28)
    )
    beyond_int64.update(
        E=stress.odd(rng, 65, 512), d_k=stress.odd(rng, 65, 128), d_v=stress.odd(rng, 65, 128)
    )
    for case in [*cases, beyond_float, beyond_int64]:
        _check_multiply_adds(attention_multiply_adds, case)


CHECKS = {
    "qkv-projections": check_qkv_projections,
    "attention-scores": check_attention_scores,
    "self-attention": check_self_attention,
    "cross-attention": check_cross_attention,
    "attention-multiply-adds": check_attention_multiply_adds,
}


def _unscaled(q, k):
    return stress.scores(q, k) * np.sqrt(np.shape(q)[-1])


def _scores_of(X_query, X_context, W_q, W_k):
    return _unscaled(np.asarray(X_query) @ W_q, np.asarray(X_context) @ W_k)


AXES = {
    "qkv_projections": stress.axes(
        Axis("size extremes", "X of rank 2", lambda c: np.ndim(c.X) == 2),
        Axis("size extremes", "X of rank 4", lambda c: np.ndim(c.X) == 4),
        Axis("size extremes", "L = 1", lambda c: c.X.shape[-2] == 1),
        Axis("size extremes", "E = 1", lambda c: c.X.shape[-1] == 1),
        Axis("size extremes", "d_k = 1", lambda c: c.W_q.shape[1] == 1),
        Axis("size extremes", "d_v = 1", lambda c: c.W_v.shape[1] == 1),
        Axis("size extremes", "N = 1", lambda c: np.ndim(c.X) == 3 and c.X.shape[0] == 1),
    ),
    "attention_scores": stress.axes(
        Axis("length", "S of 64 or more", lambda c: c.K.shape[-2] >= LONG),
        Axis("size extremes", "rank 2", lambda c: np.ndim(c.Q) == 2),
        Axis("size extremes", "rank 4", lambda c: np.ndim(c.Q) == 4),
        Axis("size extremes", "L = 1", lambda c: c.Q.shape[-2] == 1),
        Axis("size extremes", "S = 1", lambda c: c.K.shape[-2] == 1),
        Axis("size extremes", "d_k = 1", lambda c: c.Q.shape[-1] == 1),
        Axis("size extremes", "N = 1", lambda c: np.ndim(c.Q) == 3 and c.Q.shape[0] == 1),
    ),
    "self_attention": stress.axes(
        Axis("length", "L of 64 or more", lambda c: c.X.shape[-2] >= LONG),
        Axis(
            "magnitude",
            "scores in the thousands",
            lambda c: stress.large(_scores_of(c.X, c.X, c.W_q, c.W_k)),
        ),
        Axis("size extremes", "rank 2", lambda c: np.ndim(c.X) == 2),
        Axis("size extremes", "rank 4", lambda c: np.ndim(c.X) == 4),
        Axis("size extremes", "L = 1", lambda c: c.X.shape[-2] == 1),
        Axis("size extremes", "d_k = 1", lambda c: c.W_q.shape[1] == 1),
        Axis("size extremes", "d_v = 1", lambda c: c.W_v.shape[1] == 1),
    ),
    "cross_attention": stress.axes(
        Axis("length", "S of 64 or more", lambda c: c.X_context.shape[-2] >= LONG),
        Axis(
            "magnitude",
            "scores in the thousands",
            lambda c: stress.large(_scores_of(c.X_query, c.X_context, c.W_q, c.W_k)),
        ),
        Axis("size extremes", "rank 2", lambda c: np.ndim(c.X_query) == 2),
        Axis("size extremes", "rank 4", lambda c: np.ndim(c.X_query) == 4),
        Axis("size extremes", "L = 1", lambda c: c.X_query.shape[-2] == 1),
        Axis("size extremes", "S = 1", lambda c: c.X_context.shape[-2] == 1),
        Axis("size extremes", "d_k = 1", lambda c: c.W_q.shape[1] == 1),
        Axis("size extremes", "d_v = 1", lambda c: c.W_v.shape[1] == 1),
    ),
    "attention_multiply_adds": stress.axes(
        Axis("length", "L and S of 64 or more", lambda c: min(c.L, c.S) >= LONG),
        Axis("magnitude", "a count beyond 2**53 (floats round it)", lambda c: _count(c) > 2**53),
        Axis("magnitude", "a count beyond 2**63 (int64 wraps)", lambda c: _count(c) >= 2**63),
        Axis("size extremes", "self-attention: S = L", lambda c: c.S == c.L),
        Axis("size extremes", "every size 1", lambda c: all(c[n] == 1 for n in SIZES)),
        *(Axis("size extremes", f"{n} = 1", lambda c, n=n: c[n] == 1) for n in SIZES),
    ),
}


def _count(call) -> int:
    return _torch_multiply_adds(*(call[name] for name in SIZES))


COVERAGE = {
    "qkv-projections": {
        "X of rank 2": "X (L, E)",
        "X of rank 4": "X (N, M, L, E)",
        "L = 1": "each of L, E, d_k, d_v and N set to 1 in turn",
        "E = 1": "the same",
        "d_k = 1": "the same",
        "d_v = 1": "the same",
        "N = 1": "the same",
        **stress.EVERY_CALL,
    },
    "attention-scores": {
        "S of 64 or more": "S = 64..127",
        "rank 2": "Q (L, d_k)",
        "rank 4": "Q (N, M, L, d_k)",
        "L = 1": "each of L, S, d_k and N set to 1 in turn",
        "S = 1": "the same",
        "d_k = 1": "the same",
        "N = 1": "the same",
        **stress.EVERY_CALL,
    },
    "self-attention": {
        "L of 64 or more": "L = 64..127",
        "scores in the thousands": "X ~ N(0, 30)",
        "rank 2": "X (L, E)",
        "rank 4": "X (N, M, L, E)",
        "L = 1": "each of L, d_k and d_v set to 1 in turn",
        "d_k = 1": "the same",
        "d_v = 1": "the same",
        **stress.EVERY_CALL,
    },
    "cross-attention": {
        "S of 64 or more": "S = 64..127",
        "scores in the thousands": "inputs ~ N(0, 30)",
        "rank 2": "no batch axis",
        "rank 4": "(N, M) batch axes",
        "L = 1": "each of L, S, d_k and d_v set to 1 in turn",
        "S = 1": "the same",
        "d_k = 1": "the same",
        "d_v = 1": "the same",
        **stress.EVERY_CALL,
    },
    "attention-multiply-adds": {
        "L and S of 64 or more": "L, S = 64..4095",
        "a count beyond 2**53 (floats round it)": "L, S = 2**24..2**25, odd sizes",
        "a count beyond 2**63 (int64 wraps)": "L, S = 2**27..2**28, odd sizes",
        "self-attention: S = L": "S = L at sizes 2..12",
        "every size 1": "all six sizes 1",
        **{f"{name} = 1": "each size at 1 in turn" for name in SIZES},
        **stress.EVERY_CALL,
    },
}
