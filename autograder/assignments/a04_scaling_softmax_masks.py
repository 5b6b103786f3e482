"""Assignment 04-scaling-softmax-masks: hidden checks against torch, and known-wrong variants."""

import numpy as np
import torch
import torch.nn.functional as F

from . import Mistake
from ..oracle import call_numpy_only, check_array, check_mask, distinct_sizes, numpy, quiet, tensor

ASSIGNMENT = "04-scaling-softmax-masks"


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
    x = rng.normal(scale=3.0, size=tuple(sizes.values()))
    for axis in range(-x.ndim, x.ndim):
        expected = numpy(torch.softmax(tensor(x), dim=axis))
        check_array(f"softmax(x of shape {x.shape}, axis={axis})", call_numpy_only(softmax, x.copy(), axis=axis), expected)


def check_softmax_stable(rng, softmax):
    sizes = distinct_sizes(rng, ["N", "L", "S"])
    x = rng.normal(size=tuple(sizes.values())) * 1e4
    x[0, 0, :] = 1e4  # a row of ties at the top of the range
    expected = numpy(torch.softmax(tensor(x), dim=-1))
    check_array("softmax(logits near ±1e4)", call_numpy_only(softmax, x.copy()), expected)


def check_attention(rng, scaled_dot_product_attention):
    Q, K, V = _qkv(rng, distinct_sizes(rng, ["N", "L", "S", "d_k", "d_v"]))
    output, weights = call_numpy_only(scaled_dot_product_attention, Q, K, V)
    expected_output, expected_weights = _torch_attention(Q, K, V)
    check_array("output", output, expected_output)
    check_array("weights", weights, expected_weights)


def check_attention_masked(rng, scaled_dot_product_attention):
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k", "d_v"])
    Q, K, V = _qkv(rng, sizes)
    for shape in [(sizes["L"], sizes["S"]), (sizes["N"], sizes["L"], sizes["S"])]:
        mask = _mask_with_free_rows(rng, shape)
        float_mask = np.where(mask, -np.inf, 0.0)
        expected_output, expected_weights = _torch_attention(Q, K, V, float_mask)
        output, weights = call_numpy_only(scaled_dot_product_attention, Q, K, V, mask=mask)
        check_array(f"output with a boolean mask of shape {shape}", output, expected_output)
        check_array(f"weights with a boolean mask of shape {shape}", weights, expected_weights)
        additive = rng.normal(size=shape)
        expected_output, expected_weights = _torch_attention(Q, K, V, additive)
        output, weights = call_numpy_only(scaled_dot_product_attention, Q, K, V, mask=additive)
        check_array(f"output with a float mask of shape {shape}", output, expected_output)
        check_array(f"weights with a float mask of shape {shape}", weights, expected_weights)


def check_causal_mask(rng, causal_mask):
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k", "d_v"])
    L, S = sizes["L"], sizes["S"]
    # The oracle: torch's own causal attention (top-left aligned) must equal attention under our mask.
    Q, K, V = _qkv(rng, sizes)
    with quiet():
        expected = numpy(F.scaled_dot_product_attention(tensor(Q), tensor(K), tensor(V), is_causal=True))
    mask = call_numpy_only(causal_mask, L, S)
    check_mask(f"causal_mask({L}, {S})", mask, np.triu(np.ones((L, S), dtype=bool), k=1))
    output, _ = _torch_attention(Q, K, V, np.where(mask, -np.inf, 0.0))
    check_array(f"attention under causal_mask({L}, {S})", output, expected)
    square = numpy(torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64))
    check_mask(f"causal_mask({L})", call_numpy_only(causal_mask, L), np.isinf(square))


def check_padding_mask(rng, padding_mask):
    sizes = distinct_sizes(rng, ["N", "S"], low=3)
    N, S = sizes["N"], sizes["S"]
    lengths = rng.integers(1, S + 1, size=N)
    lengths[0] = S  # one sequence with no padding at all
    # The oracle: torch's pad_sequence pads each sequence of ones with zeros up to S.
    ones = [torch.ones(int(length)) for length in lengths] + [torch.ones(S)]
    padded = torch.nn.utils.rnn.pad_sequence(ones, batch_first=True, padding_value=0.0)[:N]
    expected = numpy(padded == 0)
    check_mask(f"padding_mask({list(map(int, lengths))}, {S})", call_numpy_only(padding_mask, lengths.copy(), S), expected)


def check_to_sdpa_mask(rng, to_sdpa_mask):
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k", "d_v"])
    Q, K, V = _qkv(rng, sizes)
    mask = _mask_with_free_rows(rng, (sizes["N"], sizes["L"], sizes["S"]))
    converted = call_numpy_only(to_sdpa_mask, mask.copy())
    check_mask("to_sdpa_mask(mask)", converted, ~mask)
    # Feeding the converted mask to F.scaled_dot_product_attention must mask the same keys.
    with quiet():
        got = numpy(F.scaled_dot_product_attention(tensor(Q), tensor(K), tensor(V), attn_mask=tensor(converted)))
    expected, _ = _torch_attention(Q, K, V, np.where(mask, -np.inf, 0.0))
    check_array("F.scaled_dot_product_attention(..., attn_mask=to_sdpa_mask(mask))", got, expected)


CHECKS = {
    "softmax": check_softmax,
    "softmax-stable": check_softmax_stable,
    "attention": check_attention,
    "attention-masked": check_attention_masked,
    "causal-mask": check_causal_mask,
    "padding-mask": check_padding_mask,
    "to-sdpa-mask": check_to_sdpa_mask,
}

MISTAKES = [
    Mistake(
        name="softmax without subtracting the maximum (overflows)",
        cell="softmax",
        source="""
def softmax(x, axis=-1):
    exps = np.exp(x)
    return exps / exps.sum(axis=axis, keepdims=True)
""",
        fails=frozenset({"test-softmax-stable"}),
    ),
    Mistake(
        name="softmax over the last axis whatever `axis` says",
        cell="softmax",
        source="""
def softmax(x, axis=-1):
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
""",
        fails=frozenset({"test-softmax"}),
    ),
    Mistake(
        name="no scaling by sqrt(d_k)",
        cell="scaled-dot-product-attention",
        source="""
def scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ np.swapaxes(K, -1, -2)
    if mask is not None:
        scores = np.where(mask, -np.inf, scores) if mask.dtype == bool else scores + mask
    weights = softmax(scores, axis=-1)
    return weights @ V, weights
""",
        fails=frozenset({"test-attention", "test-attention-masked"}),
    ),
    Mistake(
        name="inverted boolean mask (True taken as may attend)",
        cell="scaled-dot-product-attention",
        source="""
def scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        scores = np.where(~mask, -np.inf, scores) if mask.dtype == bool else scores + mask
    weights = softmax(scores, axis=-1)
    return weights @ V, weights
""",
        fails=frozenset({"test-attention-masked"}),
    ),
    Mistake(
        name="causal mask that also hides the diagonal",
        cell="causal-mask",
        source="""
def causal_mask(L, S=None):
    S = L if S is None else S
    return np.triu(np.ones((L, S), dtype=bool), k=0)
""",
        fails=frozenset({"test-causal-mask"}),
    ),
    Mistake(
        name="padding mask off by one",
        cell="padding-mask",
        source="""
def padding_mask(lengths, S):
    return np.arange(S)[None, :] > np.asarray(lengths)[:, None]
""",
        fails=frozenset({"test-padding-mask"}),
    ),
    Mistake(
        name="converter that returns the mask unchanged",
        cell="to-sdpa-mask",
        source="""
def to_sdpa_mask(mask):
    return mask.copy()
""",
        fails=frozenset({"test-to-sdpa-mask"}),
    ),
]
