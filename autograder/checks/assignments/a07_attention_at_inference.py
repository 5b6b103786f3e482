"""Assignment 07-attention-at-inference: hidden checks against torch.

Oracles: ``torch.nn.attention.bias.causal_lower_right`` (through ``F.scaled_dot_product_attention``)
for the bottom-right causal mask; ``torch.nn.MultiheadAttention(batch_first=True)`` in eval mode,
float64, every parameter random, run once over the whole sequence with a causal mask, for the
decoding step; ``F.scaled_dot_product_attention(..., enable_gqa=True)`` and the explicit
``repeat_interleave`` form for grouped-query attention.

Long by design (over 300 lines): one module per exercise, as ``__init__.py`` explains.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right

from ..oracle import (
    call_learner,
    call_numpy_only,
    check_array,
    check_mask,
    describe,
    distinct_sizes,
    numpy,
    quiet,
    random_multihead_attention,
    tensor,
)

# Scales that put the scores in the thousands, where a naive exp overflows (exp(710) = inf).
# decoding: x scaled, so queries and keys both grow; scores ~ 40**2 * (0.6**2 E) / sqrt(d_k)
LARGE = 40.0
LARGE_Q = 1000.0  # grouped-query attention: q alone scaled


# ---------------------------------------------------------------- part 1: the bottom-right causal
# mask


def _torch_lower_right_mask(L, S):
    """The mask (True = may NOT attend) that torch's causal_lower_right(L, S) applies, read off its
    attention: with zero queries every allowed key gets the same weight, and V = identity returns
    those weights, so the forbidden keys are exactly the zero weights."""
    q = torch.zeros(1, L, 1, dtype=torch.float64)
    k = torch.zeros(1, S, 1, dtype=torch.float64)
    v = torch.eye(S, dtype=torch.float64)[None]  # (1, S, S)
    with quiet():
        weights = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(L, S))[0]
    return numpy(weights == 0)


def check_causal_mask_lower_right(rng, causal_mask_lower_right):
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k"])
    if sizes["L"] > sizes["S"]:  # L new queries at the end of S >= L keys
        sizes["L"], sizes["S"] = sizes["S"], sizes["L"]
    N, L, S, d_k = (sizes[name] for name in ("N", "L", "S", "d_k"))
    for rows, columns in [(L, S), (1, S), (S, S)]:  # a chunk; one decoding step; a square mask
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


def _one_step(rng, decode_step, scale=1.0):
    """A module, a prefix of t tokens with its cache, one new token, and the learner's answer."""
    sizes = _decode_sizes(rng)
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
    module, x, (_, cache_k, cache_v), what = _one_step(rng, decode_step)
    expected_k, expected_v = _torch_cache(module, x)  # every position, the new one last
    check_array(f"{what}: returned cache_k", cache_k, expected_k)
    check_array(f"{what}: returned cache_v", cache_v, expected_v)


def _expect_value_error(what, why, fn, *args):
    """The learner's fn must refuse these arguments (bad because `why`) with a ValueError."""
    try:
        call_numpy_only(fn, *args)
    except ValueError:
        return
    except Exception as error:  # another error type: the docstring promises ValueError
        raise AssertionError(
            f"{what} raised {type(error).__name__}, but {why}: the docstring asks for a ValueError"
        ) from None
    raise AssertionError(f"{what} returned a result, but {why}: it should raise ValueError")


def check_decode_step(rng, decode_step):
    for scale, note in [(1.0, ""), (LARGE, f", inputs x {LARGE:g} (scores in the thousands)")]:
        module, x, (output, _, _), what = _one_step(rng, decode_step, scale)
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
    _expect_value_error(
        f"decode_step(x_new {(N, 1, E)}, caches {(N, h, t, d_k)}, num_heads={h})",
        f"num_heads={h} does not divide E={E}",
        decode_step,
        rng.normal(size=(N, 1, E)),
        np.zeros((N, h, t, d_k)),
        np.zeros((N, h, t, d_k)),
        h,
        *weights,
    )


def check_decode_sequence(rng, decode_step):
    sizes = _decode_sizes(rng)
    N, T, h, d_k, E = (sizes[name] for name in ("N", "t", "h", "d_k", "E"))
    module = random_multihead_attention(rng, E, h)
    x = rng.normal(size=(N, T, E))
    expected = _torch_causal_pass(module, x)  # (N, T, E): one causal pass over the whole sequence
    cache_k = np.zeros((N, h, 0, d_k))
    cache_v = np.zeros((N, h, 0, d_k))
    for step in range(T):
        what = (
            f"decoding {T} tokens one at a time from empty caches, step {step} (caches of shape "
            f"{np.shape(cache_k)} before it; {describe(sizes)})"
        )
        result = call_learner(
            what, decode_step, x[:, step : step + 1].copy(), cache_k, cache_v, h, *_weights(module)
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


def check_gqa(rng, grouped_query_attention):
    sizes = _gqa_sizes(rng)
    N, L, S, d_k, g, h = (sizes[name] for name in ("N", "L", "S", "d_k", "g", "h"))
    q = rng.normal(size=(N, h, L, d_k))
    for groups in (g, 1, h):  # grouped, multi-query, multi-head
        k, v = rng.normal(size=(N, groups, S, d_k)), rng.normal(size=(N, groups, S, d_k))
        shapes = f"q {q.shape}, k and v {k.shape}"
        _compare_gqa(grouped_query_attention, q, k, v, f"grouped_query_attention({shapes})")
        _compare_gqa(
            grouped_query_attention,
            LARGE_Q * q,
            k,
            v,
            f"grouped_query_attention({shapes}), q x {LARGE_Q:g} (scores in the thousands)",
        )
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
        _expect_value_error(
            f"grouped_query_attention(q {q_bad.shape}, k and v {k_bad.shape})",
            f"g={g_bad} key/value heads do not divide h={h_bad} query heads",
            grouped_query_attention,
            q_bad,
            k_bad,
            v_bad,
        )


def check_gqa_masked(rng, grouped_query_attention):
    sizes = _gqa_sizes(rng)
    N, L, S, d_k, g, h = (sizes[name] for name in ("N", "L", "S", "d_k", "g", "h"))
    q = rng.normal(size=(N, h, L, d_k))
    k, v = rng.normal(size=(N, g, S, d_k)), rng.normal(size=(N, g, S, d_k))
    for shape in [(L, S), (N, h, L, S)]:
        boolean = rng.random(shape) < 0.4  # True = may NOT attend
        keep = rng.integers(0, S, size=shape[:-1])
        np.put_along_axis(boolean, keep[..., None], False, axis=-1)  # every row keeps one key
        shapes = f"q {q.shape}, k and v {k.shape}"
        _compare_gqa(
            grouped_query_attention,
            q,
            k,
            v,
            f"grouped_query_attention({shapes}, boolean mask {shape})",
            mask=boolean,
            sdpa_mask=~boolean,
        )
        additive = np.where(boolean, -np.inf, rng.normal(scale=2.0, size=shape))
        _compare_gqa(
            grouped_query_attention,
            q,
            k,
            v,
            f"grouped_query_attention({shapes}, float mask {shape})",
            mask=additive,
            sdpa_mask=additive,
        )


CHECKS = {
    "causal-mask-lower-right": check_causal_mask_lower_right,
    "decode-cache": check_decode_cache,
    "decode-step": check_decode_step,
    "decode-sequence": check_decode_sequence,
    "gqa": check_gqa,
    "gqa-masked": check_gqa_masked,
}
