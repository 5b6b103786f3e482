"""Assignment 03-self-attention: hidden checks against torch, and known-wrong variants.

Chapter 3 uses UNSCALED scores Q K^T (chapter 4 adds the 1/sqrt(d_k)), so the oracle is
F.scaled_dot_product_attention(..., scale=1.0) on Q, K and V projected by torch. The projections
use the article's orientation Q = X W_Q with W_Q of shape (E, d_k); torch's F.linear stores the
transpose, so the oracle projects with F.linear(X, W_Q.T).
"""

import numpy as np
import torch
import torch.nn.functional as F

from . import Mistake
from ..oracle import call_numpy_only, check_array, distinct_sizes, numpy, quiet, tensor

ASSIGNMENT = "03-self-attention"


def _call(description, function, *args):
    """Call a learner's function numpy-only; an exception becomes an AssertionError that says where."""
    try:
        return call_numpy_only(function, *args)
    except AssertionError:
        raise
    except Exception as error:  # a shape mismatch, a bad unpacking...: the check fails, with the reason
        raise AssertionError(f"{description} raised {type(error).__name__}: {error}") from error


def _unpack(description, result, count):
    if not isinstance(result, (tuple, list)) or len(result) != count:
        raise AssertionError(f"{description}: expected a tuple of {count} arrays, got {type(result).__name__}"
                             + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""))
    return result


def _weights(rng, E, d_k, d_v):
    """W_Q, W_K (E, d_k) and W_V (E, d_v), in the article's orientation."""
    return rng.normal(size=(E, d_k)), rng.normal(size=(E, d_k)), rng.normal(size=(E, d_v))


def _project(X, W):
    """The oracle projection X W: torch's F.linear computes x A^T with A of shape (out, in)."""
    with quiet():
        return F.linear(tensor(X), tensor(W).T)


def _torch_attention(X_query, X_context, W_q, W_k, W_v):
    """Unscaled attention by torch: output from F.scaled_dot_product_attention(scale=1.0), weights by softmax."""
    q, k, v = _project(X_query, W_q), _project(X_context, W_k), _project(X_context, W_v)
    with quiet():
        output = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        weights = torch.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1)
    return numpy(output), numpy(weights)


def check_qkv_projections(rng, qkv_projections):
    sizes = distinct_sizes(rng, ["N", "L", "E", "d_k", "d_v"])
    N, L, E, d_k, d_v = sizes.values()
    X = rng.normal(size=(N, L, E))
    W_q, W_k, W_v = _weights(rng, E, d_k, d_v)
    call = f"qkv_projections(X {X.shape}, W_q {W_q.shape}, W_k {W_k.shape}, W_v {W_v.shape})"
    Q, K, V = _unpack(call, _call(call, qkv_projections, X.copy(), W_q.copy(), W_k.copy(), W_v.copy()), 3)
    for name, got, W in [("Q", Q, W_q), ("K", K, W_k), ("V", V, W_v)]:
        check_array(f"{name} = X W_{name.lower()}", got, numpy(_project(X, W)))


def check_attention_scores(rng, attention_scores):
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k"])
    N, L, S, d_k = sizes.values()
    Q, K = rng.normal(size=(N, L, d_k)), rng.normal(size=(N, S, d_k))
    call = f"attention_scores(Q {Q.shape}, K {K.shape})"
    expected = numpy(torch.bmm(tensor(Q), tensor(K).transpose(1, 2)))
    check_array(call, _call(call, attention_scores, Q.copy(), K.copy()), expected)


def check_self_attention(rng, self_attention):
    sizes = distinct_sizes(rng, ["N", "L", "E", "d_k", "d_v"])
    N, L, E, d_k, d_v = sizes.values()
    X = rng.normal(scale=0.5, size=(N, L, E))
    W_q, W_k, W_v = _weights(rng, E, d_k, d_v)
    call = f"self_attention(X {X.shape}, W_q {W_q.shape}, W_k {W_k.shape}, W_v {W_v.shape})"
    output, weights = _unpack(call, _call(call, self_attention, X.copy(), W_q.copy(), W_k.copy(), W_v.copy()), 2)
    expected_output, expected_weights = _torch_attention(X, X, W_q, W_k, W_v)
    check_array(f"{call}: output", output, expected_output)
    check_array(f"{call}: weights", weights, expected_weights)


def check_cross_attention(rng, cross_attention):
    sizes = distinct_sizes(rng, ["N", "L", "S", "E", "d_k", "d_v"])
    N, L, S, E, d_k, d_v = sizes.values()
    X_query, X_context = rng.normal(scale=0.5, size=(N, L, E)), rng.normal(scale=0.5, size=(N, S, E))
    W_q, W_k, W_v = _weights(rng, E, d_k, d_v)
    call = (f"cross_attention(X_query {X_query.shape}, X_context {X_context.shape}, "
            f"W_q {W_q.shape}, W_k {W_k.shape}, W_v {W_v.shape})")
    arguments = (X_query.copy(), X_context.copy(), W_q.copy(), W_k.copy(), W_v.copy())
    output, weights = _unpack(call, _call(call, cross_attention, *arguments), 2)
    expected_output, expected_weights = _torch_attention(X_query, X_context, W_q, W_k, W_v)
    check_array(f"{call}: output", output, expected_output)
    check_array(f"{call}: weights", weights, expected_weights)


CHECKS = {
    "qkv-projections": check_qkv_projections,
    "attention-scores": check_attention_scores,
    "self-attention": check_self_attention,
    "cross-attention": check_cross_attention,
}

# The reference self_attention builds on qkv_projections and attention_scores, as a learner's
# naturally does; so a mistake in those helpers also costs the self-attention points (and, for the
# scores, the cross-attention points), and each Mistake below names every test it fails.
MISTAKES = [
    Mistake(
        name="projections in PyTorch's orientation, X W^T instead of X W",
        cell="qkv-projections",
        source="""
def qkv_projections(X, W_q, W_k, W_v):
    return X @ W_q.T, X @ W_k.T, X @ W_v.T
""",
        fails=frozenset({"test-qkv-projections", "test-self-attention"}),
    ),
    Mistake(
        name="values projected with W_k instead of W_v",
        cell="qkv-projections",
        source="""
def qkv_projections(X, W_q, W_k, W_v):
    return X @ W_q, X @ W_k, X @ W_k
""",
        fails=frozenset({"test-qkv-projections", "test-self-attention"}),
    ),
    Mistake(
        name="scores K Q^T instead of Q K^T",
        cell="attention-scores",
        source="""
def attention_scores(Q, K):
    return K @ np.swapaxes(Q, -1, -2)
""",
        fails=frozenset({"test-attention-scores", "test-self-attention", "test-cross-attention"}),
    ),
    Mistake(
        name="K.T on a batch, which reverses every axis",
        cell="attention-scores",
        source="""
def attention_scores(Q, K):
    return Q @ K.T
""",
        fails=frozenset({"test-attention-scores", "test-self-attention", "test-cross-attention"}),
    ),
    Mistake(
        name="softmax over the query axis instead of the key axis",
        cell="self-attention",
        source="""
def self_attention(X, W_q, W_k, W_v):
    Q, K, V = qkv_projections(X, W_q, W_k, W_v)
    weights = softmax(attention_scores(Q, K), axis=-2)
    return weights @ V, weights
""",
        fails=frozenset({"test-self-attention"}),
    ),
    Mistake(
        name="scores scaled by sqrt(d_k), which this chapter leaves to chapter 4",
        cell="self-attention",
        source="""
def self_attention(X, W_q, W_k, W_v):
    Q, K, V = qkv_projections(X, W_q, W_k, W_v)
    weights = softmax(attention_scores(Q, K) / np.sqrt(Q.shape[-1]), axis=-1)
    return weights @ V, weights
""",
        fails=frozenset({"test-self-attention"}),
    ),
    Mistake(
        name="cross-attention taking its keys from the query sequence",
        cell="cross-attention",
        source="""
def cross_attention(X_query, X_context, W_q, W_k, W_v):
    Q, K, V = X_query @ W_q, X_query @ W_k, X_context @ W_v
    weights = softmax(attention_scores(Q, K), axis=-1)
    return weights @ V, weights
""",
        fails=frozenset({"test-cross-attention"}),
    ),
    Mistake(
        name="cross-attention taking its queries from the context sequence",
        cell="cross-attention",
        source="""
def cross_attention(X_query, X_context, W_q, W_k, W_v):
    Q, K, V = X_context @ W_q, X_context @ W_k, X_context @ W_v
    weights = softmax(attention_scores(Q, K), axis=-1)
    return weights @ V, weights
""",
        fails=frozenset({"test-cross-attention"}),
    ),
]
