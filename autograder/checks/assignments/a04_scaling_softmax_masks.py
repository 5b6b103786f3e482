"""Assignment 04-scaling-softmax-masks: hidden checks against torch."""

import numpy as np
import torch
import torch.nn.functional as F

from ..oracle import call_learner, check_array, check_mask, distinct_sizes, numpy, quiet, tensor


def _qkv(rng, sizes):
    N, L, S, d_k, d_v = (sizes[name] for name in ("N", "L", "S", "d_k", "d_v"))
    return rng.normal(size=(N, L, d_k)), rng.normal(size=(N, S, d_k)), rng.normal(size=(N, S, d_v))


def _mask_with_free_rows(rng, shape):
    """A random boolean mask (True = may not attend) in which every row keeps one allowed key."""
    mask = rng.random(shape) < 0.4
    keep = rng.integers(0, shape[-1], size=shape[:-1])
    np.put_along_axis(mask, keep[..., None], False, axis=-1)
    return mask


def _torch_attention(Q, K, V, float_mask=None):
    """The oracle: F.scaled_dot_product_attention for the output, torch.softmax for the weights."""
    q, k, v = tensor(Q), tensor(K), tensor(V)
    mask = None if float_mask is None else tensor(float_mask)
    with quiet():
        output = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        scores = q @ k.transpose(-2, -1) / np.sqrt(Q.shape[-1])
        weights = torch.softmax(scores if mask is None else scores + mask, dim=-1)
    return numpy(output), numpy(weights)


def check_softmax(rng, softmax):
    sizes = distinct_sizes(rng, ["N", "L", "S", "D"])
    full = tuple(sizes.values())
    # Every rank the docstring allows (1-D to 4-D), every axis, negative and non-negative.
    for shape in [full[-1:], full[-2:], full]:
        x = rng.normal(scale=3.0, size=shape)
        for axis in range(-x.ndim, x.ndim):
            expected = numpy(torch.softmax(tensor(x), dim=axis))
            what = f"softmax(x of shape {x.shape}, axis={axis})"
            check_array(what, call_learner(what, softmax, x.copy(), axis=axis), expected)
    # float32 stays float32, as with torch.softmax.
    x32 = rng.normal(scale=3.0, size=full[1:]).astype(np.float32)
    got = call_learner(
        f"softmax(float32 x of shape {x32.shape}, axis=1)", softmax, x32.copy(), axis=1
    )
    if isinstance(got, np.ndarray) and got.dtype != np.float32:
        raise AssertionError(
            f"softmax(float32 x of shape {x32.shape}): expected dtype float32, got {got.dtype}"
        )
    expected = numpy(torch.softmax(torch.from_numpy(x32.copy()), dim=1))
    check_array(
        f"softmax(float32 x of shape {x32.shape}, axis=1)", got, expected, atol=1e-6, rtol=1e-5
    )


def check_softmax_stable(rng, softmax):
    sizes = distinct_sizes(rng, ["N", "L", "S"])
    x = rng.normal(size=tuple(sizes.values())) * 1e4
    x[0, 0, :] = 1e4  # a row of ties at the top of the range
    expected = numpy(torch.softmax(tensor(x), dim=-1))
    check_array(
        "softmax(logits near ±1e4)",
        call_learner("softmax(logits near ±1e4)", softmax, x.copy()),
        expected,
    )


def _check_pair(what, result, expected_output, expected_weights, mask=None):
    """The weights first: their message says more about a mistake than the output's does."""
    if not isinstance(result, tuple) or len(result) != 2:
        raise AssertionError(
            f"{what}: expected a pair (output, weights), got {type(result).__name__}"
        )
    output, weights = result
    if (
        mask is not None
        and isinstance(weights, np.ndarray)
        and weights.shape == expected_weights.shape
    ):
        where = (
            tuple(
                int(i)
                for i in np.argwhere(np.broadcast_to(mask, weights.shape) & (weights != 0))[0]
            )
            if np.any(np.broadcast_to(mask, weights.shape) & (weights != 0))
            else None
        )
        if where is not None:
            raise AssertionError(
                f"weights {what}: non-zero where the mask is True, first at index {where}"
            )
    check_array(f"weights {what}", weights, expected_weights)
    check_array(f"output {what}", output, expected_output)


def check_attention(rng, scaled_dot_product_attention):
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k", "d_v"])
    Q, K, V = _qkv(rng, sizes)
    what = f"(Q {Q.shape}, K {K.shape}, V {V.shape})"
    result = call_learner(
        f"scaled_dot_product_attention{what}",
        scaled_dot_product_attention,
        Q.copy(),
        K.copy(),
        V.copy(),
    )
    _check_pair(what, result, *_torch_attention(Q, K, V))


def check_attention_masked(rng, scaled_dot_product_attention):
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k", "d_v"])
    Q, K, V = _qkv(rng, sizes)
    for shape in [(sizes["L"], sizes["S"]), (sizes["N"], sizes["L"], sizes["S"])]:
        mask = _mask_with_free_rows(rng, shape)
        result = call_learner(
            f"attention with a boolean mask of shape {shape}",
            scaled_dot_product_attention,
            Q.copy(),
            K.copy(),
            V.copy(),
            mask=mask.copy(),
        )
        expected = _torch_attention(Q, K, V, np.where(mask, -np.inf, 0.0))
        _check_pair(f"with a boolean mask of shape {shape}", result, *expected, mask=mask)
        additive = rng.normal(size=shape)
        result = call_learner(
            f"attention with a float mask of shape {shape}",
            scaled_dot_product_attention,
            Q.copy(),
            K.copy(),
            V.copy(),
            mask=additive.copy(),
        )
        _check_pair(
            f"with a float mask of shape {shape}", result, *_torch_attention(Q, K, V, additive)
        )


def check_causal_mask(rng, causal_mask):
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k", "d_v"])
    L, S = sizes["L"], sizes["S"]
    # The oracle: torch's own causal attention (top-left aligned) must equal attention under our
    # mask.
    Q, K, V = _qkv(rng, sizes)
    with quiet():
        expected = numpy(
            F.scaled_dot_product_attention(tensor(Q), tensor(K), tensor(V), is_causal=True)
        )
    mask = call_learner(f"causal_mask({L}, {S})", causal_mask, L, S)
    check_mask(f"causal_mask({L}, {S})", mask, np.triu(np.ones((L, S), dtype=bool), k=1))
    output, _ = _torch_attention(Q, K, V, np.where(mask, -np.inf, 0.0))
    check_array(f"attention under causal_mask({L}, {S})", output, expected)
    square = numpy(torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64))
    check_mask(
        f"causal_mask({L})", call_learner(f"causal_mask({L})", causal_mask, L), np.isinf(square)
    )


def check_padding_mask(rng, padding_mask):
    sizes = distinct_sizes(rng, ["N", "S"], low=3)
    N, S = sizes["N"], sizes["S"]
    # S beyond every length (the batch has room to spare), given as a list; then a numpy array
    # with one sequence that fills all S positions.
    short = rng.integers(1, S, size=N)
    full = rng.integers(1, S + 1, size=N)
    full[rng.integers(N)] = S
    for lengths, given in [(short, [int(n) for n in short]), (full, full.copy())]:
        # The oracle: torch's pad_sequence pads each sequence of ones with zeros up to S.
        ones = [torch.ones(int(length)) for length in lengths] + [torch.ones(S)]
        padded = torch.nn.utils.rnn.pad_sequence(ones, batch_first=True, padding_value=0.0)[:N]
        kind = "a list" if isinstance(given, list) else "an array"
        what = f"padding_mask({list(map(int, lengths))} as {kind}, S={S})"
        check_mask(what, call_learner(what, padding_mask, given, S), numpy(padded == 0))


def check_to_sdpa_mask(rng, to_sdpa_mask):
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k", "d_v"])
    N, L, S = sizes["N"], sizes["L"], sizes["S"]
    Q, K, V = _qkv(rng, sizes)
    for shape in [(L, S), (N, L, S)]:
        mask = _mask_with_free_rows(rng, shape)
        converted = call_learner(
            f"to_sdpa_mask(boolean mask of shape {shape})", to_sdpa_mask, mask.copy()
        )
        check_mask(f"to_sdpa_mask(boolean mask of shape {shape})", converted, ~mask)
        # Feeding the converted mask to F.scaled_dot_product_attention must mask the same keys.
        with quiet():
            got = numpy(
                F.scaled_dot_product_attention(
                    tensor(Q), tensor(K), tensor(V), attn_mask=tensor(converted)
                )
            )
        expected, _ = _torch_attention(Q, K, V, np.where(mask, -np.inf, 0.0))
        check_array(
            f"F.scaled_dot_product_attention(..., attn_mask=to_sdpa_mask(mask of shape {shape}))",
            got,
            expected,
        )
        # A float mask is added to the scores in both conventions: it comes back unchanged.
        additive = np.where(_mask_with_free_rows(rng, shape), -np.inf, rng.normal(size=shape))
        what = f"to_sdpa_mask(float mask of shape {shape})"
        check_array(what, call_learner(what, to_sdpa_mask, additive.copy()), additive)


CHECKS = {
    "softmax": check_softmax,
    "softmax-stable": check_softmax_stable,
    "attention": check_attention,
    "attention-masked": check_attention_masked,
    "causal-mask": check_causal_mask,
    "padding-mask": check_padding_mask,
    "to-sdpa-mask": check_to_sdpa_mask,
}
