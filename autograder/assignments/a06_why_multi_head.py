"""Assignment 06-why-multi-head: hidden checks against torch, and known-wrong variants.

Parts: sinusoidal positional encodings (checked against the formula of Vaswani et al., computed
here with plain loops), multi-head self-attention (against torch.nn.MultiheadAttention), layer
normalisation (against F.layer_norm) and a post-norm Transformer encoder layer (against
torch.nn.TransformerEncoderLayer). The encoder-layer check hands the learner's layer a correct
attention function of its own, so a wrong attention in part 2 costs only part 2's points.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from . import Mistake
from ..oracle import call_numpy_only, check_array, distinct_sizes, numpy, quiet, tensor

ASSIGNMENT = "06-why-multi-head"


def _head_sizes(rng, names, low=2, high=7):
    """Sizes for `names` (which include "h" and "d_k") and E = h * d_k, all pairwise different."""
    while True:
        sizes = distinct_sizes(rng, names, low=low, high=high)
        sizes["E"] = sizes["h"] * sizes["d_k"]
        if len(set(sizes.values())) == len(sizes):
            return sizes


def _randomise(module, rng, scale=0.5):
    """Overwrite every parameter of a torch module (biases and norm weights too) with rng draws."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(tensor(rng.normal(scale=scale, size=tuple(parameter.shape))))
    return module


def _params(module):
    return {name: numpy(parameter).copy() for name, parameter in module.named_parameters()}


def _reference_self_attention(x, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias):
    """A correct numpy multi-head self-attention, handed to the learner's encoder layer."""
    N, L, E = x.shape
    d_k = E // num_heads
    q, k, v = np.split(x @ in_proj_weight.T + in_proj_bias, 3, axis=-1)
    q, k, v = (t.reshape(N, L, num_heads, d_k).transpose(0, 2, 1, 3) for t in (q, k, v))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d_k)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    heads = (weights @ v).transpose(0, 2, 1, 3).reshape(N, L, E)
    return heads @ out_proj_weight.T + out_proj_bias


def _vaswani_encoding(L, E):
    """PE(pos, 2i) = sin(pos / 10000^(2i/E)), PE(pos, 2i+1) = cos(pos / 10000^(2i/E)), one entry at a time."""
    table = np.zeros((L, E))
    for pos in range(L):
        for i in range(E // 2):
            angle = pos / 10000 ** (2 * i / E)
            table[pos, 2 * i] = math.sin(angle)
            table[pos, 2 * i + 1] = math.cos(angle)
    return table


def check_positional_encoding(rng, sinusoidal_positional_encoding):
    L = int(rng.integers(5, 60))
    widths = [E for E in range(4, 80, 2) if E != L]  # E even, and different from L
    for E in sorted(int(E) for E in rng.choice(widths, size=3, replace=False)):
        got = call_numpy_only(sinusoidal_positional_encoding, L, E)
        check_array(f"sinusoidal_positional_encoding({L}, {E})", got, _vaswani_encoding(L, E))


def check_self_attention(rng, multi_head_self_attention):
    sizes = _head_sizes(rng, ["N", "L", "h", "d_k"])
    N, L, E, h = sizes["N"], sizes["L"], sizes["E"], sizes["h"]
    module = torch.nn.MultiheadAttention(E, h, batch_first=True, dtype=torch.float64).eval()
    params = _params(_randomise(module, rng))
    x = rng.normal(size=(N, L, E))
    with quiet(), torch.no_grad():
        expected = numpy(module(tensor(x), tensor(x), tensor(x), need_weights=False)[0])
    got = call_numpy_only(
        multi_head_self_attention, x.copy(), h,
        params["in_proj_weight"], params["in_proj_bias"], params["out_proj.weight"], params["out_proj.bias"],
    )
    check_array(f"multi_head_self_attention(x of shape {x.shape}, num_heads={h})", got, expected)


def check_layer_norm(rng, layer_norm):
    sizes = distinct_sizes(rng, ["N", "L", "E"], low=3)
    shape = (sizes["N"], sizes["L"], sizes["E"])
    weight, bias = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
    # Rows of very different spreads, some small enough that eps matters.
    x = rng.normal(size=shape) * 10.0 ** rng.uniform(-2.5, 0.5, size=shape[:-1] + (1,)) + rng.normal(size=shape[:-1] + (1,))
    for eps in (1e-5, float(10.0 ** rng.uniform(-4, -2))):
        expected = numpy(F.layer_norm(tensor(x), (shape[-1],), tensor(weight), tensor(bias), eps=eps))
        got = call_numpy_only(layer_norm, x.copy(), weight.copy(), bias.copy(), eps=eps)
        check_array(f"layer_norm(x of shape {shape}, eps={eps:.3g})", got, expected)
    expected = numpy(F.layer_norm(tensor(x), (shape[-1],), tensor(weight), tensor(bias)))
    check_array("layer_norm with the default eps", call_numpy_only(layer_norm, x.copy(), weight.copy(), bias.copy()), expected)


def check_encoder_layer(rng, transformer_encoder_layer):
    sizes = _head_sizes(rng, ["N", "L", "h", "d_k", "F"])
    N, L, E, h = sizes["N"], sizes["L"], sizes["E"], sizes["h"]
    calls = []

    def attention(*arguments):
        calls.append(len(arguments))
        return _reference_self_attention(*arguments)

    for eps in (None, float(10.0 ** rng.uniform(-3, -1.5))):
        layer = torch.nn.TransformerEncoderLayer(
            E, h, dim_feedforward=sizes["F"], dropout=0.0, batch_first=True,
            layer_norm_eps=1e-5 if eps is None else eps, dtype=torch.float64,
        )
        params = _params(_randomise(layer.eval(), rng))
        # A small input: the sums the layer normalises have small spread, so eps matters.
        x = rng.normal(scale=0.05, size=(N, L, E))
        with quiet(), torch.no_grad():
            expected = numpy(layer(tensor(x)))
        calls.clear()
        keywords = {} if eps is None else {"eps": eps}
        got = call_numpy_only(transformer_encoder_layer, x.copy(), params, h, attention, **keywords)
        assert calls, "transformer_encoder_layer never called the `attention` function it was given"
        check_array(
            f"transformer_encoder_layer(x of shape {x.shape}, num_heads={h}, dim_feedforward={sizes['F']}"
            + ("" if eps is None else f", eps={eps:.3g}") + ")",
            got, expected,
        )


CHECKS = {
    "positional-encoding": check_positional_encoding,
    "self-attention": check_self_attention,
    "layer-norm": check_layer_norm,
    "encoder-layer": check_encoder_layer,
}

MISTAKES = [
    Mistake(
        name="sin and cos swapped (cos on even columns)",
        cell="positional-encoding",
        source="""
def sinusoidal_positional_encoding(L, E):
    positions = np.arange(L)[:, None]
    rates = 1.0 / 10000 ** (np.arange(0, E, 2) / E)
    table = np.zeros((L, E))
    table[:, 0::2] = np.cos(positions * rates)
    table[:, 1::2] = np.sin(positions * rates)
    return table
""",
        fails=frozenset({"test-positional-encoding"}),
    ),
    Mistake(
        name="exponent j/E with the column index j instead of 2i/E",
        cell="positional-encoding",
        source="""
def sinusoidal_positional_encoding(L, E):
    positions = np.arange(L)[:, None]
    columns = np.arange(E)[None, :]
    angles = positions / 10000 ** (columns / E)
    return np.where(columns % 2 == 0, np.sin(angles), np.cos(angles))
""",
        fails=frozenset({"test-positional-encoding"}),
    ),
    Mistake(
        name="scores scaled by sqrt(E) instead of sqrt(d_k)",
        cell="multi-head-self-attention",
        source="""
def multi_head_self_attention(x, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias):
    N, L, E = x.shape
    d_k = E // num_heads
    q, k, v = np.split(x @ in_proj_weight.T + in_proj_bias, 3, axis=-1)
    q, k, v = (t.reshape(N, L, num_heads, d_k).transpose(0, 2, 1, 3) for t in (q, k, v))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(E)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = weights / weights.sum(axis=-1, keepdims=True)
    heads = (weights @ v).transpose(0, 2, 1, 3).reshape(N, L, E)
    return heads @ out_proj_weight.T + out_proj_bias
""",
        fails=frozenset({"test-self-attention"}),
    ),
    Mistake(
        name="heads split by reshaping to (N, h, L, d_k) without a transpose",
        cell="multi-head-self-attention",
        source="""
def multi_head_self_attention(x, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias):
    N, L, E = x.shape
    d_k = E // num_heads
    q, k, v = np.split(x @ in_proj_weight.T + in_proj_bias, 3, axis=-1)
    q, k, v = (t.reshape(N, num_heads, L, d_k) for t in (q, k, v))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d_k)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = weights / weights.sum(axis=-1, keepdims=True)
    heads = (weights @ v).reshape(N, L, E)
    return heads @ out_proj_weight.T + out_proj_bias
""",
        fails=frozenset({"test-self-attention"}),
    ),
    Mistake(
        name="layer norm with the unbiased variance (ddof=1)",
        cell="layer-norm",
        source="""
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    variance = x.var(axis=-1, ddof=1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * weight + bias
""",
        fails=frozenset({"test-layer-norm", "test-encoder-layer"}),
    ),
    Mistake(
        name="layer norm over the sequence axis instead of the feature axis",
        cell="layer-norm",
        source="""
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(axis=-2, keepdims=True)
    variance = x.var(axis=-2, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * weight + bias
""",
        fails=frozenset({"test-layer-norm", "test-encoder-layer"}),
    ),
    Mistake(
        name="layer norm with eps added outside the square root",
        cell="layer-norm",
        source="""
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    return (x - mean) / (x.std(axis=-1, keepdims=True) + eps) * weight + bias
""",
        fails=frozenset({"test-layer-norm", "test-encoder-layer"}),
    ),
    Mistake(
        name="encoder layer without the residual connection around self-attention",
        cell="encoder-layer",
        source="""
def transformer_encoder_layer(x, params, num_heads, attention, eps=1e-5):
    p = params
    a = attention(x, num_heads, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"],
                  p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"])
    h = layer_norm(a, p["norm1.weight"], p["norm1.bias"], eps)
    f = np.maximum(h @ p["linear1.weight"].T + p["linear1.bias"], 0.0) @ p["linear2.weight"].T + p["linear2.bias"]
    return layer_norm(h + f, p["norm2.weight"], p["norm2.bias"], eps)
""",
        fails=frozenset({"test-encoder-layer"}),
    ),
    Mistake(
        name="pre-norm encoder layer (norm_first=True) instead of post-norm",
        cell="encoder-layer",
        source="""
def transformer_encoder_layer(x, params, num_heads, attention, eps=1e-5):
    p = params
    n = layer_norm(x, p["norm1.weight"], p["norm1.bias"], eps)
    h = x + attention(n, num_heads, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"],
                      p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"])
    n = layer_norm(h, p["norm2.weight"], p["norm2.bias"], eps)
    f = np.maximum(n @ p["linear1.weight"].T + p["linear1.bias"], 0.0) @ p["linear2.weight"].T + p["linear2.bias"]
    return h + f
""",
        fails=frozenset({"test-encoder-layer"}),
    ),
    Mistake(
        name="encoder layer that ignores its eps argument",
        cell="encoder-layer",
        source="""
def transformer_encoder_layer(x, params, num_heads, attention, eps=1e-5):
    p = params
    a = attention(x, num_heads, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"],
                  p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"])
    h = layer_norm(x + a, p["norm1.weight"], p["norm1.bias"])
    f = np.maximum(h @ p["linear1.weight"].T + p["linear1.bias"], 0.0) @ p["linear2.weight"].T + p["linear2.bias"]
    return layer_norm(h + f, p["norm2.weight"], p["norm2.bias"])
""",
        fails=frozenset({"test-encoder-layer"}),
    ),
]
