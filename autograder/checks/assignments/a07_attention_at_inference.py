"""Assignment 07-attention-at-inference: hidden checks against torch.

Oracles: ``torch.nn.attention.bias.causal_lower_right`` (through ``F.scaled_dot_product_attention``)
for the bottom-right causal mask; ``torch.nn.MultiheadAttention(batch_first=True)`` in eval mode,
float64, every parameter random, run once over the whole sequence with a causal mask, for the
decoding step; ``F.scaled_dot_product_attention(..., enable_gqa=True)`` and the explicit
``repeat_interleave`` form for grouped-query attention; ``F.scaled_dot_product_attention`` for
tiled attention (whose boolean masks the course's convention flips: in SDPA, True = may attend),
and tracemalloc, in the learner's process, for the memory that tiled attention holds at once.

Long by design (over 300 lines): one module per exercise, as ``__init__.py`` explains.
"""

import tracemalloc

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right

from .. import stress
from ..oracle import (
    call_learner,
    check_array,
    check_count,
    check_mask,
    describe,
    distinct_sizes,
    mask_over_the_top,
    numpy,
    quiet,
    random_multihead_attention,
    require_error,
    tensor,
)
from ..stress import LARGE_SCORES, LONG, Axis

# Scales that put the scores in the thousands, where a naive exp overflows (exp(710) = inf).
# decoding: x scaled, so queries and keys both grow; scores ~ 40**2 * (0.6**2 E) / sqrt(d_k)
LARGE = 40.0
LARGE_Q = 1000.0  # grouped-query attention: q alone scaled


# ---------------------------------------------------------------- part 1: the bottom-right causal
# mask


def _torch_lower_right_mask(L, S):
    """The mask (True = may NOT attend) that torch's causal_lower_right(L, S) applies, read off its
    attention: with zero queries every allowed key gets the same weight, and V = identity returns
    those weights, so the forbidden keys are exactly the zero weights. In float32, half float64's
    time for the same zeros: an allowed weight, 1 / (allowed keys), is far from underflowing."""
    q = torch.zeros(1, L, 1, dtype=torch.float32)
    k = torch.zeros(1, S, 1, dtype=torch.float32)
    v = torch.eye(S, dtype=torch.float32)[None]  # (1, S, S)
    with quiet():
        weights = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(L, S))[0]
    return numpy(weights == 0)


def check_causal_mask_lower_right(rng, causal_mask_lower_right):
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k"])
    if sizes["L"] > sizes["S"]:  # L new queries at the end of S >= L keys
        sizes["L"], sizes["S"] = sizes["S"], sizes["L"]
    N, L, S, d_k = (sizes[name] for name in ("N", "L", "S", "d_k"))
    big = int(rng.integers(1025, 1400))
    # a chunk; one decoding step; a square mask; one of one; past any table built in advance
    for rows, columns in [(L, S), (1, S), (S, S), (1, 1), (big - S, big)]:
        mask = call_learner(
            f"causal_mask_lower_right({rows}, {columns})", causal_mask_lower_right, rows, columns
        )
        expected = _torch_lower_right_mask(rows, columns)
        check_mask(f"causal_mask_lower_right({rows}, {columns})", mask, expected)
    # Attention under the learner's mask equals attention under torch's causal_lower_right.
    mask = call_learner(f"causal_mask_lower_right({L}, {S})", causal_mask_lower_right, L, S)
    q, k, v = (tensor(rng.normal(size=(N, length, d_k))) for length in (L, S, S))
    with quiet():
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(L, S))
        # SDPA's boolean mask means "may attend": the course's mask is flipped on its way in.
        got = F.scaled_dot_product_attention(q, k, v, attn_mask=~tensor(mask))
    check_array(
        f"attention under ~causal_mask_lower_right({L}, {S}) ({describe(sizes)})",
        numpy(got),
        numpy(expected),
    )


# ---------------------------------------------------------------- part 2: a decoding step with a KV
# cache


def _weights(module):
    """The module's parameters as the numpy arguments of decode_step, after num_heads."""
    return [
        numpy(p).copy()
        for p in (
            module.in_proj_weight,
            module.in_proj_bias,
            module.out_proj.weight,
            module.out_proj.bias,
        )
    ]


def _torch_cache(module, x):
    """Keys and values of every position of x (N, T, E), split into heads: two (N, h, T, d_k)
    arrays."""
    N, T, E = x.shape
    h = module.num_heads
    _, W_k, W_v = module.in_proj_weight.chunk(3)
    _, b_k, b_v = module.in_proj_bias.chunk(3)
    xt = tensor(x)
    with torch.no_grad():
        keys, values = (
            F.linear(xt, W, b).view(N, T, h, E // h).transpose(1, 2)
            for W, b in ((W_k, b_k), (W_v, b_v))
        )
    return numpy(keys), numpy(values)


def _torch_causal_pass(module, x):
    """nn.MultiheadAttention over the whole sequence x (N, T, E) with a causal mask: (N, T, E)."""
    T = x.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)  # True = may NOT attend
    xt = tensor(x)
    with quiet(), torch.no_grad():
        output, _ = module(xt, xt, xt, attn_mask=causal, need_weights=False)
    return numpy(output)


def _decode_sizes(rng):
    """N, t (cached tokens), h, d_k, with E = h * d_k: all pairwise different, and from S = t +
    1."""
    while True:
        sizes = distinct_sizes(rng, ["N", "t", "h", "d_k"])
        sizes["E"] = sizes["h"] * sizes["d_k"]
        keys = sizes["t"] + 1  # S: the earlier tokens and the new one
        if len(set(sizes.values()) | {keys}) == len(sizes) + 1:
            return sizes


def _extremes(rng, sizes):
    """The size extremes of a decoding step: one head (h = 1, E = d_k), heads of width one (h = E),
    one sequence, an empty cache, and a cache of 64 tokens or more."""
    long = int(rng.integers(LONG, 2 * LONG))
    return [
        dict(sizes, h=1, E=sizes["d_k"]),
        dict(sizes, d_k=1, E=sizes["h"]),
        dict(sizes, N=1),
        dict(sizes, t=0),
        dict(sizes, t=long),
    ]


def _one_step(rng, decode_step, scale=1.0, sizes=None):
    """A module, a prefix of t tokens with its cache, one new token, and the learner's answer."""
    sizes = sizes or _decode_sizes(rng)
    N, t, h, E = (sizes[name] for name in ("N", "t", "h", "E"))
    module = random_multihead_attention(rng, E, h)
    x = scale * rng.normal(size=(N, t + 1, E))  # the prefix and the new token
    cache_k, cache_v = _torch_cache(module, x[:, :t])
    what = (
        f"decode_step(x_new {(N, 1, E)}, caches {cache_k.shape}, num_heads={h}) ({describe(sizes)})"
    )
    result = call_learner(
        what, decode_step, x[:, t:].copy(), cache_k, cache_v, h, *_weights(module)
    )
    if not isinstance(result, tuple) or len(result) != 3:
        raise AssertionError(
            f"{what}: expected a triple (output, cache_k, cache_v), got {type(result).__name__}"
        )
    return module, x, result, what


def check_decode_cache(rng, decode_step):
    """General sizes; h = 1, h = E, N = 1, an empty cache and a cache of 64 or more tokens."""
    sizes = _decode_sizes(rng)
    for case in [sizes, *_extremes(rng, sizes)]:
        module, x, (_, cache_k, cache_v), what = _one_step(rng, decode_step, sizes=case)
        expected_k, expected_v = _torch_cache(module, x)  # every position, the new one last
        check_array(f"{what}: returned cache_k", cache_k, expected_k)
        check_array(f"{what}: returned cache_v", cache_v, expected_v)


def check_decode_step(rng, decode_step):
    """Inputs x1 and x40 (scores in the thousands), the size extremes of _extremes, and a
    num_heads that does not divide E (ValueError)."""
    sizes = _decode_sizes(rng)
    cases = [(sizes, 1.0), (sizes, LARGE), *((case, 1.0) for case in _extremes(rng, sizes))]
    for case, scale in cases:
        note = "" if scale == 1.0 else f", inputs x {scale:g} (scores in the thousands)"
        module, x, (output, _, _), what = _one_step(rng, decode_step, scale, case)
        expected = _torch_causal_pass(module, x)[:, -1:]  # the new token's output
        check_array(f"{what}{note}: output", output, expected)
    # num_heads that does not divide E: nn.MultiheadAttention refuses such a layer too.
    sizes = _decode_sizes(rng)
    N, t, h, d_k = (sizes[name] for name in ("N", "t", "h", "d_k"))
    E = h * d_k + int(rng.integers(1, h))
    with quiet():
        try:
            torch.nn.MultiheadAttention(E, h)
        except AssertionError:
            pass
        else:  # pragma: no cover - torch's behaviour, not the learner's
            raise RuntimeError(f"nn.MultiheadAttention accepted E={E}, num_heads={h}")
    weights = [rng.normal(size=shape) for shape in ((3 * E, E), (3 * E,), (E, E), (E,))]
    require_error(
        f"decode_step(x_new {(N, 1, E)}, caches {(N, h, t, d_k)}, num_heads={h})",
        decode_step,
        rng.normal(size=(N, 1, E)),
        np.zeros((N, h, t, d_k)),
        np.zeros((N, h, t, d_k)),
        h,
        *weights,
        why=f"num_heads={h} does not divide E={E}",
    )


def check_decode_sequence(rng, decode_step):
    """65 or more tokens decoded one at a time from empty caches at general sizes (the last step
    reads a cache of 64 or more), then a shorter run with one head (so that no number of heads
    read from elsewhere can pass both)."""
    sizes = _decode_sizes(rng)
    long = dict(sizes, t=int(rng.integers(LONG + 1, LONG + 17)))
    for case in (long, dict(sizes, h=1, E=sizes["d_k"])):
        _decode_run(rng, decode_step, case)


def _decode_run(rng, decode_step, sizes):
    N, T, h, d_k, E = (sizes[name] for name in ("N", "t", "h", "d_k", "E"))
    module = random_multihead_attention(rng, E, h)
    x = rng.normal(size=(N, T, E))
    expected = _torch_causal_pass(module, x)  # (N, T, E): one causal pass over the whole sequence
    cache_k = np.zeros((N, h, 0, d_k))
    cache_v = np.zeros((N, h, 0, d_k))
    weights = _weights(module)
    for step in range(T):
        what = (
            f"decoding {T} tokens one at a time from empty caches, step {step} (caches of shape "
            f"{np.shape(cache_k)} before it; {describe(sizes)})"
        )
        result = call_learner(
            what, decode_step, x[:, step : step + 1].copy(), cache_k, cache_v, h, *weights
        )
        if not isinstance(result, tuple) or len(result) != 3:
            raise AssertionError(
                f"{what}: expected a triple (output, cache_k, cache_v), got {type(result).__name__}"
            )
        output, cache_k, cache_v = result
        check_array(
            f"{what}: output vs position {step} of one causal pass of nn.MultiheadAttention",
            output,
            expected[:, step : step + 1],
        )


# ---------------------------------------------------------------- part 3: grouped-query attention


def _gqa_sizes(rng):
    """N, L, S, d_k, g and h = g * r (r >= 2, g >= 2, so that tile and repeat_interleave differ)."""
    while True:
        sizes = distinct_sizes(rng, ["N", "L", "S", "d_k", "g", "r"], high=9)
        if sizes["g"] > 4 or sizes["r"] > 4:
            continue
        sizes["h"] = sizes["g"] * sizes["r"]
        named = {name: sizes[name] for name in ("N", "L", "S", "d_k", "g", "h")}
        if len(set(named.values())) == len(named):
            return named


def _torch_gqa(q, k, v, attn_mask=None):
    """The oracles: (enable_gqa=True, explicit repeat_interleave); attn_mask in SDPA's meaning."""
    h, g = q.shape[1], k.shape[1]
    qt, kt, vt = tensor(q), tensor(k), tensor(v)
    mask = None if attn_mask is None else tensor(attn_mask)
    with quiet():
        grouped = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=mask, enable_gqa=True)
        explicit = F.scaled_dot_product_attention(
            qt,
            kt.repeat_interleave(h // g, dim=1),
            vt.repeat_interleave(h // g, dim=1),
            attn_mask=mask,
        )
    return numpy(grouped), numpy(explicit)


def _compare_gqa(fn, q, k, v, what, mask=None, sdpa_mask=None):
    grouped, explicit = _torch_gqa(q, k, v, sdpa_mask)
    arguments = (q.copy(), k.copy(), v.copy()) + (() if mask is None else (mask.copy(),))
    got = call_learner(what, fn, *arguments)
    check_array(f"{what} vs F.scaled_dot_product_attention(..., enable_gqa=True)", got, grouped)
    check_array(f"{what} vs k, v repeat_interleave'd to h heads", got, explicit)


def _gqa_inputs(rng, sizes, groups=None):
    N, L, S, d_k, h = (sizes[name] for name in ("N", "L", "S", "d_k", "h"))
    g = sizes["g"] if groups is None else groups
    q = rng.normal(size=(N, h, L, d_k))
    return q, rng.normal(size=(N, g, S, d_k)), rng.normal(size=(N, g, S, d_k))


def check_gqa(rng, grouped_query_attention):
    """g = g, 1 and h, each also with q x 1000; one head (h = g = 1), L = 1, S = 1, d_k = 1 and
    S of 64 or more; g that does not divide h (ValueError)."""
    sizes = _gqa_sizes(rng)
    N, L, S, d_k, g, h = (sizes[name] for name in ("N", "L", "S", "d_k", "g", "h"))
    for groups in (g, 1, h):  # grouped, multi-query, multi-head
        q, k, v = _gqa_inputs(rng, sizes, groups)
        shapes = f"q {q.shape}, k and v {k.shape}"
        _compare_gqa(grouped_query_attention, q, k, v, f"grouped_query_attention({shapes})")
        _compare_gqa(
            grouped_query_attention,
            LARGE_Q * q,
            k,
            v,
            f"grouped_query_attention({shapes}), q x {LARGE_Q:g} (scores in the thousands)",
        )
    extremes = [dict(sizes, h=1, g=1), dict(sizes, L=1), dict(sizes, S=1), dict(sizes, d_k=1)]
    extremes.append(dict(sizes, S=int(rng.integers(LONG, 2 * LONG))))
    for case in extremes:
        q, k, v = _gqa_inputs(rng, case)
        shapes = f"q {q.shape}, k and v {k.shape}"
        _compare_gqa(grouped_query_attention, q, k, v, f"grouped_query_attention({shapes})")
    # g that does not divide h: more query heads than key/value heads, and fewer (h // g = 0).
    g_bad = int(rng.integers(3, 6))
    for h_bad in (
        g_bad * int(rng.integers(1, 3)) + int(rng.integers(1, g_bad)),
        int(rng.integers(1, g_bad)),
    ):
        q_bad = rng.normal(size=(N, h_bad, L, d_k))
        k_bad, v_bad = rng.normal(size=(2, N, g_bad, S, d_k))
        with quiet():
            try:
                F.scaled_dot_product_attention(
                    tensor(q_bad), tensor(k_bad), tensor(v_bad), enable_gqa=True
                )
            except RuntimeError:
                pass
            else:  # pragma: no cover - torch's behaviour, not the learner's
                raise RuntimeError(f"scaled_dot_product_attention accepted h={h_bad}, g={g_bad}")
        require_error(
            f"grouped_query_attention(q {q_bad.shape}, k and v {k_bad.shape})",
            grouped_query_attention,
            q_bad,
            k_bad,
            v_bad,
            why=f"g={g_bad} key/value heads do not divide h={h_bad} query heads",
        )


def _random_mask(rng, shape):
    boolean = rng.random(shape) < 0.4  # True = may NOT attend
    keep = rng.integers(0, shape[-1], size=shape[:-1])
    np.put_along_axis(boolean, keep[..., None], False, axis=-1)  # every row keeps one key
    return boolean


def _compare_masked(fn, q, k, v, boolean, additive, note=""):
    """Both kinds of mask: `boolean` (the course's convention) and the float mask `additive`."""
    shapes = f"q {q.shape}, k and v {k.shape}"
    for mask, sdpa_mask in [(boolean, ~boolean), (additive, additive)]:
        kind = "boolean" if mask.dtype == bool else f"{mask.dtype} float"
        what = f"grouped_query_attention({shapes}, {kind} mask {mask.shape}){note}"
        _compare_gqa(fn, q, k, v, what, mask=mask, sdpa_mask=sdpa_mask)


def check_gqa_masked(rng, grouped_query_attention):
    """Boolean and float masks (float64 and float32) of shape (L, S) and (N, h, L, S); q x 1000
    under masks that hide each row's largest score, over S of 64 or more keys too."""
    sizes = _gqa_sizes(rng)
    N, L, S, h = (sizes[name] for name in ("N", "L", "S", "h"))
    q, k, v = _gqa_inputs(rng, sizes)
    for shape in [(L, S), (N, h, L, S)]:
        boolean = _random_mask(rng, shape)
        additive = np.where(boolean, -np.inf, rng.normal(scale=2.0, size=shape))
        _compare_masked(grouped_query_attention, q, k, v, boolean, additive)
        float32 = additive.astype(np.float32)
        what = f"grouped_query_attention(q {q.shape}, k and v {k.shape}, float32 mask {shape})"
        # torch adds the float32 mask as float64, as numpy's scores + mask does
        _compare_gqa(grouped_query_attention, q, k, v, what, float32, float32.astype(np.float64))
    for q, k, v, boolean, additive in _masked_over_the_top(rng, sizes, _gqa_inputs):
        note = f", q x {LARGE_SCORES:g} and the largest scores masked"
        _compare_masked(grouped_query_attention, q, k, v, boolean, additive, note)


def _masked_over_the_top(rng, sizes, inputs):
    """For the drawn sizes and again with 64 or more keys: `inputs(rng, sizes)` with q x
    LARGE_SCORES, and boolean and float masks, of shape (L, S) and of the scores' shape, that hide
    each row's largest score: (q, k, v, boolean, additive) each time."""
    for case in (sizes, dict(sizes, S=int(rng.integers(LONG, 2 * LONG)))):
        q, k, v = inputs(rng, case)
        q = LARGE_SCORES * q
        score = stress.scores(q, k)
        for shape in [(case["L"], case["S"]), score.shape]:
            boolean = mask_over_the_top(rng, score, shape)
            additive = np.where(boolean, -np.inf, rng.normal(loc=500.0, scale=100.0, size=shape))
            yield q, k, v, boolean, additive


# ---------------------------------------------------------------- part 4: tiled attention

MEMORY_SHARE = 8  # tiled attention may hold at most this fraction (1/8) of one (..., L, S) matrix


def _torch_attention(q, k, v, mask=None):
    """F.scaled_dot_product_attention of numpy arrays; `mask` in the course's convention (True = may
    NOT attend), flipped for SDPA, or float (given to torch as float64, as numpy adds it)."""
    if mask is not None:
        mask = ~mask if mask.dtype == np.bool_ else mask.astype(np.float64)
    with quiet():
        output = F.scaled_dot_product_attention(
            tensor(q), tensor(k), tensor(v), attn_mask=None if mask is None else tensor(mask)
        )
    return numpy(output)


def _tiled_call(q, k, v, mask, block, note=""):
    shown = "None" if mask is None else f"{mask.dtype} {mask.shape}"
    return (
        f"tiled_attention(q {q.shape}, k {k.shape}, v {v.shape}, mask {shown}, block={block})"
        + (f", {note}" if note else "")
    )


def _compare_tiled(fn, q, k, v, mask, block, note=""):
    what = _tiled_call(q, k, v, mask, block, note)
    arguments = (q.copy(), k.copy(), v.copy(), None if mask is None else mask.copy(), block)
    got = call_learner(what, fn, *arguments)
    check_array(f"{what} vs F.scaled_dot_product_attention", got, _torch_attention(q, k, v, mask))


def _tiled_sizes(rng):
    """N, h, L, S, d_k, d_v pairwise different, and a block of 2 or more that divides neither L
    nor S (L and S drawn again until one exists)."""
    while True:
        sizes = distinct_sizes(rng, ["N", "h", "L", "S", "d_k", "d_v"], high=11)
        L, S = sizes["L"], sizes["S"]
        blocks = [b for b in range(2, S) if L % b and S % b]  # b < S: a key after the block
        if blocks:
            sizes["block"] = int(rng.choice(blocks))
            return sizes


def _tiled_inputs(rng, sizes, leading=None):
    L, S, d_k, d_v = (sizes[name] for name in ("L", "S", "d_k", "d_v"))
    leading = (sizes["N"], sizes["h"]) if leading is None else leading
    return (
        rng.normal(size=(*leading, L, d_k)),
        rng.normal(size=(*leading, S, d_k)),
        rng.normal(size=(*leading, S, d_v)),
    )


def check_tiled(rng, tiled_attention):
    """No mask: a block dividing neither L nor S, block 1, a block larger than L and S, one that
    divides S; ranks 2 to 4; L = 1, S = 1; S of 64 or more; q x 1000 (scores in the thousands)."""
    sizes = _tiled_sizes(rng)
    L, S, block = sizes["L"], sizes["S"], sizes["block"]
    q, k, v = _tiled_inputs(rng, sizes)
    for b in (block, 1, max(L, S) + int(rng.integers(1, 5)), S):
        _compare_tiled(tiled_attention, q, k, v, None, b, describe(sizes))
    for leading in ((), (sizes["N"],)):
        _compare_tiled(tiled_attention, *_tiled_inputs(rng, sizes, leading), None, block)
    cases = [
        (dict(sizes, L=1), "one query"),
        (dict(sizes, S=1), "one key"),
        (dict(sizes, S=int(rng.integers(LONG, 2 * LONG))), "64 or more keys"),
    ]
    for case, note in cases:
        _compare_tiled(tiled_attention, *_tiled_inputs(rng, case), None, block, note)
    q, k, v = _tiled_inputs(rng, sizes)
    note = f"q x {LARGE_SCORES:g} (scores in the thousands)"
    _compare_tiled(tiled_attention, LARGE_SCORES * q, k, v, None, block, note)


def _leading_keys_masked(rng, shape, block):
    """A boolean mask of `shape` (True = may NOT attend) that hides the first `block` keys from
    every query (a whole tile, read while a query has seen nothing yet) and some others at random,
    and leaves one key after them free in every row."""
    mask = rng.random(shape) < 0.3
    mask[..., :block] = True
    free = rng.integers(block, shape[-1], size=shape[:-1])
    np.put_along_axis(mask, free[..., None], False, axis=-1)
    return mask


def check_tiled_masked(rng, tiled_attention):
    """Boolean and float masks (float64 and float32) of shape (L, S) and (N, h, L, S) that hide
    whole tiles, the first one of every row among them; q x 1000 under masks hiding each row's
    largest score, over 64 or more keys too."""
    sizes = _tiled_sizes(rng)
    N, h, L, S, block = (sizes[name] for name in ("N", "h", "L", "S", "block"))
    q, k, v = _tiled_inputs(rng, sizes)
    for shape in [(L, S), (N, h, L, S)]:
        boolean = _leading_keys_masked(rng, shape, block)
        additive = np.where(boolean, -np.inf, rng.normal(scale=2.0, size=shape))
        for mask in (boolean, additive, additive.astype(np.float32)):
            _compare_tiled(tiled_attention, q, k, v, mask, block, "whole tiles masked")
    note = f"q x {LARGE_SCORES:g} and the largest scores masked"
    for q, k, v, boolean, additive in _masked_over_the_top(rng, sizes, _tiled_inputs):
        for mask in (boolean, additive):
            _compare_tiled(tiled_attention, q, k, v, mask, block, note)


def _peak_bytes(function, what, *args) -> int:
    """The most memory (bytes) that function(*args) held at once, as tracemalloc counts numpy's and
    Python's allocations, through call_numpy_only: in the course's grader, measured in the sandbox
    where the learner's function runs (call_measuring_memory); else (nbgrader, the learner's own
    kernel) here."""
    measured = getattr(function, "call_measuring_memory", None)
    if callable(measured):
        try:
            _, peak = measured(*args)
        except AssertionError:
            raise
        except Exception as error:  # the learner's bug, as call_learner reports it
            raise AssertionError(f"{what}: your function raised {type(error).__name__}: {error}")
    else:
        already = tracemalloc.is_tracing()
        if not already:
            tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        try:
            call_learner(what, function, *args)
            peak = tracemalloc.get_traced_memory()[1] - before if tracemalloc.is_tracing() else None
        finally:
            if not already:
                tracemalloc.stop()
    if peak is None:
        raise AssertionError(f"{what}: its memory could not be measured (tracemalloc was stopped)")
    return peak


def check_tiled_memory(rng, tiled_attention):
    """L and S of 1000 to 1500, a block of 96 to 128: the call may hold at most an eighth of one
    (N, L, S) float64 matrix of scores at once (arguments copied by the check included)."""
    sizes = dict(
        N=int(rng.integers(1, 3)),
        L=int(rng.integers(1000, 1500)),
        S=int(rng.integers(1000, 1500)),
        d_k=int(rng.integers(2, 6)),
        d_v=int(rng.integers(2, 6)),
    )
    N, L, S, block = sizes["N"], sizes["L"], sizes["S"], int(rng.integers(96, 129))
    q, k, v = _tiled_inputs(rng, sizes, leading=(N,))
    # No mask: an (L, S) mask would itself be as large as the share allowed.
    what = _tiled_call(q, k, v, None, block, describe(sizes))
    peak = _peak_bytes(tiled_attention, what, q, k, v, None, block)
    allowed = N * L * S * 8 / MEMORY_SHARE
    if peak > allowed:
        raise AssertionError(
            f"{what}: it held {peak / 1e6:.1f} MB at once, more than an eighth of the "
            f"{N * L * S * 8 / 1e6:.1f} MB of one (N, L, S) matrix of scores; read the queries "
            "and the keys one block at a time, and keep only each tile's scores"
        )


# ---------------------------------------------------------------- part 5: the analysis question

DTYPES = stress.FLOAT_DTYPES


def _torch_cache_bytes(num_layers, N, S, num_heads, num_groups, d_k, dtype, window=None):
    """The oracle: element_size() * numel() added up over the keys and values that each of
    num_layers grouped-query attention layers caches for N sequences of S positions (only the last
    `window` of them with a rolling cache), made by real nn.Linear projections on the meta device
    (shapes without data, so that any size costs nothing) and passed, with the last position's
    queries, to F.scaled_dot_product_attention(..., enable_gqa=True); None when PyTorch refuses
    them (the groups do not divide the heads). The layers are alike, so one is built and counted
    num_layers times (meta tensors run through Python: a layer costs milliseconds)."""
    meta = dict(device="meta", dtype=getattr(torch, dtype))
    E = num_heads * d_k
    x = torch.empty(N, S, E, **meta)
    to_q = torch.nn.Linear(E, E, bias=False, **meta)
    to_k, to_v = (torch.nn.Linear(E, num_groups * d_k, bias=False, **meta) for _ in "kv")
    q = to_q(x[:, -1:]).view(N, 1, num_heads, d_k).transpose(1, 2)  # (N, h, 1, d_k)
    k, v = (
        to_kv(x).view(N, S, num_groups, d_k).transpose(1, 2)[:, :, -(window or S) :].clone()
        for to_kv in (to_k, to_v)
    )  # (N, g, min(S, window), d_k): what the cache keeps
    try:
        F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    except RuntimeError:  # the number of key/value heads must divide the number of heads
        return None
    return num_layers * (k.element_size() * k.numel() + v.element_size() * v.numel())


def _check_cache_bytes(
    kv_cache_bytes, num_layers, N, S, num_heads, num_groups, d_k, dtype, **options
):
    arguments = (num_layers, N, S, num_heads, num_groups, d_k, dtype)
    what = (
        "kv_cache_bytes(num_layers={}, N={}, S={}, num_heads={}, num_groups={}, d_k={}, dtype={!r}"
    )
    what = what.format(*arguments) + "".join(f", {k}={v}" for k, v in options.items()) + ")"
    expected = _torch_cache_bytes(*arguments, **options)
    if expected is None:
        require_error(
            what,
            kv_cache_bytes,
            *arguments,
            why=f"num_groups={num_groups} does not divide num_heads={num_heads}, and PyTorch "
            "refuses such keys and values",
            naming=(("num_heads", num_heads), ("num_groups", num_groups)),
            **options,
        )
        return
    check_count(what, call_learner(what, kv_cache_bytes, *arguments, **options), expected)


def check_kv_cache_bytes(rng, kv_cache_bytes):
    """Sizes all different with 1 < g < h, and g = 1 and g = h; each of N, S, d_k, h and the layers
    at 1; 64 or more positions; a rolling cache that is full (window < S), not yet full
    (window > S) and of one position; every dtype; more than 2**53 bytes (odd sizes) and 2**63
    bytes or more; and a ValueError naming num_heads and num_groups when g does not divide h."""
    sizes = distinct_sizes(rng, ["layers", "N", "S", "g", "d_k"], low=2, high=9)
    layers, N, S, g, d_k = (sizes[name] for name in ("layers", "N", "S", "g", "d_k"))
    h = g * int(rng.integers(2, 4))  # 1 < g < h
    long = int(rng.integers(LONG, 2 * LONG))
    cases = [
        (layers, N, S, h, g, d_k, {}),
        (layers, N, S, h, 1, d_k, {}),  # multi-query attention
        (layers, N, S, h, h, d_k, {}),  # multi-head attention
        (1, N, S, h, g, d_k, {}),
        (layers, 1, S, h, g, d_k, {}),
        (layers, N, 1, h, g, d_k, {}),
        (layers, N, S, h, g, 1, {}),
        (layers, N, S, 1, 1, d_k, {}),
        (layers, N, long, h, g, d_k, {"window": int(rng.integers(2, S + 1))}),  # full
        # Not yet full: window > S, where min(S, window) and window differ (window = S is both).
        (layers, N, S, h, g, d_k, {"window": S + int(rng.integers(1, LONG))}),
        (layers, N, long, h, g, d_k, {"window": 1}),
        (layers, N, long, h, g, d_k, {"window": None}),
    ]
    for index, (*case, options) in enumerate(cases):
        _check_cache_bytes(kv_cache_bytes, *case, DTYPES[index % len(DTYPES)], **options)
    # About 10**16 bytes, every factor odd: a float's spacing there shows.
    # The odd part of the count, layers * N * positions * g * d_k, passes 2**53 with or without the
    # window.
    heads = stress.odd(rng, 3, 6)
    S_wide = stress.odd(rng, 2**26 + 2**25, 2**27)
    wide = (
        stress.odd(rng, 5, 10),
        stress.odd(rng, 5, 10),
        S_wide,
        3 * heads,
        heads,
        stress.odd(rng, 2**21, 2**22),
    )
    _check_cache_bytes(kv_cache_bytes, *wide, "bfloat16")
    _check_cache_bytes(
        kv_cache_bytes, *wide, "float16", window=stress.odd(rng, 2**26, 2**26 + 2**25)
    )
    # 2**64 bytes or more in all, each layer's tensors under PyTorch's 2**63 bytes: int64 wraps.
    huge = (int(rng.integers(9, 17)), 1, 2**40 + stress.odd(rng, 1, 2**20), 2, 1, 2**17)
    _check_cache_bytes(kv_cache_bytes, *huge, "float64")
    _check_cache_bytes(kv_cache_bytes, layers, N, S, h + 1, g, d_k, "float32")  # g does not divide
    _check_cache_bytes(kv_cache_bytes, layers, N, S, h, h + 1, d_k, "float16", window=S)


CHECKS = {
    "causal-mask-lower-right": check_causal_mask_lower_right,
    "decode-cache": check_decode_cache,
    "decode-step": check_decode_step,
    "decode-sequence": check_decode_sequence,
    "gqa": check_gqa,
    "gqa-masked": check_gqa_masked,
    "tiled": check_tiled,
    "tiled-masked": check_tiled_masked,
    "tiled-memory": check_tiled_memory,
    "kv-cache-bytes": check_kv_cache_bytes,
}


def _decode_scores(call):
    """The scores of the new token's query against the cached keys (N, h, 1, t)."""
    N, _, E = call.x_new.shape
    h = call.num_heads
    q = call.x_new @ call.in_proj_weight[:E].T + call.in_proj_bias[:E]
    return stress.scores(q.reshape(N, 1, h, E // h).transpose(0, 2, 1, 3), call.cache_k)


def _gqa_scores(call):
    return stress.scores(call.q, call.k)


def _tiled_scores(call):
    return stress.scores(call.q, call.k)


def _hidden(call) -> np.ndarray:
    """Where the mask hides a key (True or -inf), broadcast to (..., L, S)."""
    mask = np.asarray(call.mask)
    hidden = mask if mask.dtype == np.bool_ else np.isneginf(mask)
    return np.broadcast_to(hidden, _tiled_scores(call).shape)


def _a_tile_all_masked(call) -> bool:
    """Does the mask hide a whole (block, block) tile, for some leading index?"""
    hidden, b = _hidden(call), call.block
    L, S = hidden.shape[-2:]
    return any(
        np.any(np.all(hidden[..., i : i + b, j : j + b], axis=(-1, -2)))
        for i in range(0, L, b)
        for j in range(0, S, b)
    )


AXES = {
    "causal_mask_lower_right": stress.axes(
        Axis("length", "more than 1024 keys", lambda c: c.S > 1024),
        Axis("size extremes", "L = 1", lambda c: c.L == 1),
        Axis("size extremes", "L = S", lambda c: c.L == c.S),
        Axis("size extremes", "L = S = 1", lambda c: c.L == c.S == 1),
        Axis("size extremes", "1 < L < S", lambda c: 1 < c.L < c.S),
    ),
    "decode_step": stress.axes(
        Axis("length", "a cache of 64 or more", lambda c: c.cache_k.shape[2] >= LONG),
        Axis("magnitude", "scores in the thousands", lambda c: stress.large(_decode_scores(c))),
        Axis("size extremes", "an empty cache", lambda c: c.cache_k.shape[2] == 0),
        Axis("size extremes", "h = 1", lambda c: c.num_heads == 1),
        Axis("size extremes", "h = E", lambda c: c.num_heads == c.x_new.shape[-1]),
        Axis("size extremes", "N = 1", lambda c: c.x_new.shape[0] == 1),
        Axis("size extremes", "h not dividing E", lambda c: c.x_new.shape[-1] % c.num_heads),
    ),
    "grouped_query_attention": stress.axes(
        Axis("length", "S of 64 or more", lambda c: c.k.shape[2] >= LONG),
        *stress.attention_magnitude(_gqa_scores, lambda c: c.mask),
        Axis("size extremes", "g = 1", lambda c: c.k.shape[1] == 1),
        Axis("size extremes", "g = h", lambda c: c.k.shape[1] == c.q.shape[1] > 1),
        Axis("size extremes", "1 < g < h", lambda c: 1 < c.k.shape[1] < c.q.shape[1]),
        Axis("size extremes", "h = 1", lambda c: c.q.shape[1] == 1),
        Axis("size extremes", "L = 1", lambda c: c.q.shape[2] == 1),
        Axis("size extremes", "S = 1", lambda c: c.k.shape[2] == 1),
        Axis("size extremes", "d_k = 1", lambda c: c.q.shape[3] == 1),
        Axis("size extremes", "g not dividing h", lambda c: c.q.shape[1] % c.k.shape[1]),
        *stress.attention_mask_axes(lambda c: c.mask),
    ),
    "tiled_attention": stress.axes(
        Axis("length", "S of 64 or more", lambda c: c.k.shape[-2] >= LONG),
        Axis(
            "length",
            "L and S of 1000 or more, memory measured",
            lambda c: min(c.q.shape[-2], c.k.shape[-2]) >= 1000,
        ),
        *stress.attention_magnitude(_tiled_scores, lambda c: c.mask),
        Axis(
            "degenerate geometry",
            "a block dividing neither L nor S",
            lambda c: c.q.shape[-2] % c.block and c.k.shape[-2] % c.block,
        ),
        Axis("degenerate geometry", "a whole tile masked", _a_tile_all_masked),
        Axis("size extremes", "block = 1", lambda c: c.block == 1),
        Axis(
            "size extremes",
            "a block larger than L and S",
            lambda c: c.block > max(c.q.shape[-2], c.k.shape[-2]),
        ),
        Axis("size extremes", "L = 1", lambda c: c.q.shape[-2] == 1),
        Axis("size extremes", "S = 1", lambda c: c.k.shape[-2] == 1),
        Axis("size extremes", "no leading axis (L, d_k)", lambda c: c.q.ndim == 2),
        Axis("size extremes", "one leading axis (N, L, d_k)", lambda c: c.q.ndim == 3),
        *stress.attention_mask_axes(lambda c: c.mask),
    ),
    "kv_cache_bytes": stress.axes(
        Axis("length", "S of 64 or more", lambda c: c.S >= LONG),
        Axis(
            "magnitude",
            "more than 2**53 bytes (floats round them)",
            lambda c: (_torch_cache_bytes(**c) or 0) > 2**53,
        ),
        Axis(
            "magnitude",
            "2**63 bytes or more (int64 wraps)",
            lambda c: (_torch_cache_bytes(**c) or 0) >= 2**63,
        ),
        Axis("size extremes", "g = 1", lambda c: c.num_groups == 1 < c.num_heads),
        Axis("size extremes", "g = h", lambda c: c.num_groups == c.num_heads > 1),
        Axis("size extremes", "1 < g < h", lambda c: 1 < c.num_groups < c.num_heads),
        Axis("size extremes", "h = 1", lambda c: c.num_heads == 1),
        *(Axis("size extremes", f"{n} = 1", lambda c, n=n: c[n] == 1) for n in ("N", "S", "d_k")),
        Axis("size extremes", "one layer", lambda c: c.num_layers == 1),
        Axis(
            "size extremes",
            "a rolling cache that is full (window < S)",
            lambda c: c.window is not None and c.window < c.S,
        ),
        Axis(
            "size extremes",
            "a rolling cache not yet full (window > S)",
            lambda c: c.window is not None and c.window > c.S,
        ),
        Axis("size extremes", "window = 1", lambda c: c.window == 1),
        Axis(
            "size extremes",
            "g not dividing h: a ValueError",
            lambda c: c.num_heads % c.num_groups,
        ),
        *(Axis("dtype", dtype, lambda c, d=dtype: c.dtype == d) for dtype in DTYPES),
    ),
}

COVERAGE = {
    "causal-mask-lower-right": {
        "more than 1024 keys": "(S' - S, S') with S' in 1025..1399",
        "L = 1": "(1, S)",
        "L = S": "(S, S)",
        "L = S = 1": "(1, 1)",
        "1 < L < S": "(L, S) as drawn",
        **stress.EVERY_CALL,
    },
    "decode-cache": {
        "a cache of 64 or more": "t = 64..127 cached tokens",
        "an empty cache": "t = 0",
        "h = 1": "one head of width E",
        "h = E": "E heads of width 1",
        "N = 1": "one sequence",
        **stress.EVERY_CALL,
    },
    "decode-step": {
        "a cache of 64 or more": "t = 64..127 cached tokens",
        "scores in the thousands": "x scaled by 40",
        "an empty cache": "t = 0",
        "h = 1": "one head of width E",
        "h = E": "E heads of width 1",
        "N = 1": "one sequence",
        "h not dividing E": "E = h d_k + 1..h-1, ValueError expected",
        **stress.EVERY_CALL,
    },
    "decode-sequence": {
        "a cache of 64 or more": "65..80 tokens decoded from empty caches",
        "an empty cache": "the first step",
        "h = 1": "a second run with one head",
        **stress.EVERY_CALL,
    },
    "gqa": {
        "S of 64 or more": "S = 64..127",
        "scores x1000": "q x 1000 for g = g, 1, h",
        "g = 1": "multi-query",
        "g = h": "multi-head",
        "1 < g < h": "grouped, h = g r with g, r >= 2",
        "h = 1": "h = g = 1",
        "L = 1": "one query",
        "S = 1": "one key",
        "d_k = 1": "heads of width 1",
        "g not dividing h": "h = g r + 1..g-1 and h < g, ValueError expected",
        **stress.EVERY_CALL,
    },
    "gqa-masked": {
        "S of 64 or more": "S = 64..127 under masks, q x 1000",
        "scores x1000 under a boolean mask hiding the largest": (
            "boolean masks (L, S) and (N, h, L, S) over each row's largest score, q x 1000"
        ),
        "scores x1000 under a float mask hiding the largest": (
            "float masks with -inf there and N(500, 100) elsewhere"
        ),
        "1 < g < h": "grouped heads",
        "a mask of shape (L, S)": "random and top-hiding masks",
        "a mask of shape (N, h, L, S)": "random and top-hiding masks",
        "a boolean mask": "every row keeps one key",
        "a float64 mask": "-inf and N(0, 2) entries",
        "a float32 mask": "the same mask in float32",
        **stress.EVERY_CALL,
    },
    "tiled": {
        "S of 64 or more": "S = 64..127",
        "scores x1000": "q x 1000",
        "a block dividing neither L nor S": "drawn among those that exist",
        "block = 1": "one query and one key per tile",
        "a block larger than L and S": "max(L, S) + 1..4: one tile",
        "L = 1": "one query",
        "S = 1": "one key",
        "no leading axis (L, d_k)": "q (L, d_k)",
        "one leading axis (N, L, d_k)": "q (N, L, d_k)",
        **stress.EVERY_CALL,
    },
    "tiled-masked": {
        "S of 64 or more": "S = 64..127 under masks, q x 1000",
        "scores x1000 under a boolean mask hiding the largest": (
            "boolean masks (L, S) and (N, h, L, S) over each row's largest score, q x 1000"
        ),
        "scores x1000 under a float mask hiding the largest": (
            "float masks with -inf there and N(500, 100) elsewhere"
        ),
        "a block dividing neither L nor S": "drawn among those that exist",
        "a whole tile masked": "the first block of keys hidden from every query",
        "a mask of shape (L, S)": "masked tiles and top-hiding masks",
        "a mask of shape (N, h, L, S)": "masked tiles and top-hiding masks",
        "a boolean mask": "every row keeps a key after the first block",
        "a float64 mask": "-inf and N(0, 2) entries",
        "a float32 mask": "the same mask in float32",
        **stress.EVERY_CALL,
    },
    "tiled-memory": {
        "L and S of 1000 or more, memory measured": (
            "L, S = 1000..1499, block 96..128: at most an eighth of one (N, L, S) matrix"
        ),
        **stress.EVERY_CALL,
    },
    "kv-cache-bytes": {
        "S of 64 or more": "S = 64..127, with and without a window",
        "more than 2**53 bytes (floats round them)": "odd sizes, S near 2**27",
        "2**63 bytes or more (int64 wraps)": "9..16 layers of S = 2**40.., d_k = 2**17, float64",
        "g = 1": "multi-query attention",
        "g = h": "multi-head attention",
        "1 < g < h": "h = 2g or 3g",
        "h = 1": "one head, one group",
        "N = 1": "each of N, S and d_k at 1 in turn",
        "S = 1": "the same",
        "d_k = 1": "the same",
        "one layer": "num_layers = 1",
        "a rolling cache that is full (window < S)": "window = 2..9 for S = 64..127",
        "a rolling cache not yet full (window > S)": "window = S + 1..S + 63",
        "window = 1": "a cache of one position",
        "g not dividing h: a ValueError": "h + 1 heads, and h + 1 groups",
        **{dtype: "dtypes in turn" for dtype in DTYPES},
        **stress.EVERY_CALL,
    },
}
