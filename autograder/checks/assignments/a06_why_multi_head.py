"""Assignment 06-why-multi-head: hidden checks against torch.

Parts: sinusoidal positional encodings (checked against the formula of Vaswani et al., computed
here with plain loops), multi-head self-attention (against torch.nn.MultiheadAttention), layer
normalisation (against F.layer_norm) and a post-norm Transformer encoder layer (against
torch.nn.TransformerEncoderLayer). The encoder-layer check hands the learner's layer a correct
attention and a correct layer norm of its own, each checking the arguments it is given, so a
wrong attention (part 2) or layer_norm (part 3a) costs only its own part's points.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from .. import stress
from ..oracle import (
    call_learner,
    check_array,
    check_count,
    distinct_sizes,
    head_sizes,
    numpy,
    quiet,
    random_parameters,
    require_error,
    tensor,
)
from ..stress import LONG, Axis


def _params(module):
    return {name: numpy(parameter).copy() for name, parameter in module.named_parameters()}


def _reference_self_attention(
    x, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias
):
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


def _reference_layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=-1, keepdims=True) + eps) * weight + bias


def _stand_ins(params, num_heads, eps):
    """Correct `attention` and `norm` for the learner's encoder layer; each checks that it gets the
    layer's heads, weights and eps (by position or keyword) and says which argument is wrong.
    Returns (attention, norm, used): `used` lists the calls by name."""
    used, expected_heads, expected_eps = [], num_heads, eps

    def same(value, key):
        return isinstance(value, np.ndarray) and np.array_equal(value, params[key])

    def attention(x, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias):
        used.append("attention")
        if num_heads != expected_heads:
            raise AssertionError(
                f"attention was called with num_heads={num_heads}, but this layer has "
                f"{expected_heads} heads"
            )
        weights = [in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias]
        for value, name in zip(
            weights, ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
        ):
            if not same(value, f"self_attn.{name}"):
                raise AssertionError(
                    f"attention's argument {name.replace('.', '_')} must be "
                    f"params['self_attn.{name}']"
                )
        return _reference_self_attention(np.asarray(x, dtype=np.float64), num_heads, *weights)

    def norm(x, weight, bias, eps=1e-5):
        name = next((n for n in ("norm1", "norm2") if same(weight, f"{n}.weight")), None)
        if name is None:
            raise AssertionError(
                "norm was called with a weight that is neither params['norm1.weight'] nor "
                "params['norm2.weight']"
            )
        used.append(name)
        if not same(bias, f"{name}.bias"):
            raise AssertionError(
                f"the layer norm with weight params['{name}.weight'] needs bias "
                f"params['{name}.bias']"
            )
        if eps != expected_eps:
            raise AssertionError(
                f"{name} was called with eps={eps}, but the layer's eps is {expected_eps}: pass "
                "eps on"
            )
        return _reference_layer_norm(np.asarray(x, dtype=np.float64), weight, bias, eps)

    return attention, norm, used


def _vaswani_encoding(L, E):
    """PE(pos, 2i) = sin(pos / 10000^(2i/E)), PE(pos, 2i+1) = cos(pos / 10000^(2i/E)), one entry at
    a time."""
    table = np.zeros((L, E))
    for pos in range(L):
        for i in range(E // 2):
            angle = pos / 10000 ** (2 * i / E)
            table[pos, 2 * i] = math.sin(angle)
            table[pos, 2 * i + 1] = math.cos(angle)
    return table


def check_positional_encoding(rng, sinusoidal_positional_encoding):
    """Three even widths for one length; one position (L = 1); the narrowest table (E = 2); a wide
    one (E >= 64); and more positions than any table a learner might build in advance (5001 to
    6000: PyTorch's tutorial keeps 5000)."""
    L = int(rng.integers(5, 60))
    widths = [E for E in range(4, 80, 2) if E != L]  # E even, and different from L
    cases = [(L, int(E)) for E in sorted(rng.choice(widths, size=3, replace=False))]
    cases += [(1, 6), (L, 2), (L, int(rng.integers(LONG // 2, LONG)) * 2)]
    cases.append((int(rng.integers(5001, 6001)), 6))
    for length, width in cases:
        what = f"sinusoidal_positional_encoding({length}, {width})"
        expected = _vaswani_encoding(length, width)
        check_array(
            what, call_learner(what, sinusoidal_positional_encoding, length, width), expected
        )


def check_self_attention(rng, multi_head_self_attention):
    """Scores at x1 and in the thousands (x30); then one head (h = 1), heads of width one
    (h = E), N = 1, L = 1 and L of 64 or more."""
    sizes = head_sizes(rng, ["N", "L", "h", "d_k"], high=7)
    E = sizes["E"]
    cases = [(sizes, 1.0), (sizes, 30.0)]  # 30: scores in the thousands (a naive exp overflows)
    cases += [(dict(sizes, h=1, d_k=E), 1.0), (dict(sizes, h=E, d_k=1), 1.0)]
    cases += [(dict(sizes, N=1), 1.0), (dict(sizes, L=1), 1.0)]
    cases.append((dict(sizes, L=int(rng.integers(LONG, 2 * LONG))), 1.0))
    for case, scale in cases:
        N, L, E, h = case["N"], case["L"], case["E"], case["h"]
        module = torch.nn.MultiheadAttention(E, h, batch_first=True, dtype=torch.float64).eval()
        params = _params(random_parameters(module, rng, scale=0.5))
        x = scale * rng.normal(size=(N, L, E))
        with quiet(), torch.no_grad():
            expected = numpy(module(*(tensor(x),) * 3, need_weights=False)[0])
        what = f"multi_head_self_attention({scale:g} * x of shape {x.shape}, num_heads={h})"
        got = call_learner(
            what,
            multi_head_self_attention,
            x.copy(),
            h,
            params["in_proj_weight"].copy(),
            params["in_proj_bias"].copy(),
            params["out_proj.weight"].copy(),
            params["out_proj.bias"].copy(),
        )
        check_array(what, got, expected)


def check_layer_norm(rng, layer_norm):
    """Rows of very different spreads, two eps and the default; rows offset by 1e4 times their
    spread; constant rows; E = 1; inputs of rank 1, 2 and 4."""
    sizes = distinct_sizes(rng, ["N", "L", "E"], low=3)
    shape = (sizes["N"], sizes["L"], sizes["E"])
    weight, bias = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
    # Rows of very different spreads, some small enough that eps matters.
    x = rng.normal(size=shape) * 10.0 ** rng.uniform(
        -2.5, 0.5, size=shape[:-1] + (1,)
    ) + rng.normal(size=shape[:-1] + (1,))
    for eps in (1e-5, float(10.0 ** rng.uniform(-4, -2))):
        expected = numpy(
            F.layer_norm(tensor(x), (shape[-1],), tensor(weight), tensor(bias), eps=eps)
        )
        what = f"layer_norm(x of shape {shape}, eps={eps:.3g})"
        check_array(
            what,
            call_learner(what, layer_norm, x.copy(), weight.copy(), bias.copy(), eps=eps),
            expected,
        )
    expected = numpy(F.layer_norm(tensor(x), (shape[-1],), tensor(weight), tensor(bias)))
    what = "layer_norm with the default eps"
    check_array(
        what, call_learner(what, layer_norm, x.copy(), weight.copy(), bias.copy()), expected
    )
    # Rows with a large offset: a variance taken as E[x^2] - E[x]^2 loses its digits there.
    # The offsets are 1e4 times the rows' spread: the two-pass variance keeps 1e-12 of it.
    spread = 10.0 ** rng.uniform(-1, 1, size=shape[:-1] + (1,))
    offset = spread * 1e4 * rng.choice([-1.0, 1.0], size=shape[:-1] + (1,))
    y = offset + spread * rng.normal(size=shape)
    expected = numpy(F.layer_norm(tensor(y), (shape[-1],), tensor(weight), tensor(bias)))
    what = f"layer_norm(x of shape {shape} whose rows are offset by 1e4 times their spread)"
    check_array(
        what, call_learner(what, layer_norm, y.copy(), weight.copy(), bias.copy()), expected
    )
    # Constant rows (variance 0: the output is the bias) and one number per row (E = 1).
    y = np.repeat(rng.normal(size=shape[:-1] + (1,)), shape[-1], axis=-1)
    expected = numpy(F.layer_norm(tensor(y), (shape[-1],), tensor(weight), tensor(bias)))
    what = f"layer_norm(x of shape {shape} with constant rows)"
    check_array(
        what, call_learner(what, layer_norm, y.copy(), weight.copy(), bias.copy()), expected
    )
    one = rng.normal(size=shape[:-1] + (1,))
    w1, b1 = rng.normal(size=1), rng.normal(size=1)
    expected = numpy(F.layer_norm(tensor(one), (1,), tensor(w1), tensor(b1)))
    what = f"layer_norm(x of shape {one.shape}, E = 1)"
    check_array(what, call_learner(what, layer_norm, one.copy(), w1.copy(), b1.copy()), expected)
    # (..., E): 1-D, 2-D and 4-D inputs too.
    for other in [(sizes["E"],), (sizes["L"], sizes["E"]), (sizes["N"], 2, sizes["L"], sizes["E"])]:
        y = rng.normal(size=other) * 3.0 + rng.normal()
        expected = numpy(F.layer_norm(tensor(y), (sizes["E"],), tensor(weight), tensor(bias)))
        what = f"layer_norm(x of shape {other})"
        check_array(
            what, call_learner(what, layer_norm, y.copy(), weight.copy(), bias.copy()), expected
        )


def check_encoder_layer(rng, transformer_encoder_layer):
    """Two head counts for one width (h, then d_k: E = h * d_k), so a hard-coded count cannot
    pass, the second with another eps; then one head, N = 1, L = 1, a feed-forward width of 1,
    and L of 64 or more."""
    sizes = head_sizes(rng, ["N", "L", "h", "d_k", "F"], high=7)
    long = int(rng.integers(LONG, 2 * LONG))
    cases = [
        (sizes, sizes["h"], None),
        (sizes, sizes["d_k"], float(10.0 ** rng.uniform(-3, -1.5))),
        (sizes, 1, None),
        (dict(sizes, N=1), sizes["h"], None),
        (dict(sizes, L=1), sizes["h"], None),
        (dict(sizes, F=1), sizes["h"], None),
        (dict(sizes, L=long), sizes["h"], None),
    ]
    for case, num_heads, eps in cases:
        _check_encoder_layer(rng, transformer_encoder_layer, case, num_heads, eps)


def _check_encoder_layer(rng, transformer_encoder_layer, sizes, num_heads, eps):
    N, L, E = sizes["N"], sizes["L"], sizes["E"]
    layer = torch.nn.TransformerEncoderLayer(
        E,
        num_heads,
        dim_feedforward=sizes["F"],
        dropout=0.0,
        batch_first=True,
        layer_norm_eps=1e-5 if eps is None else eps,
        dtype=torch.float64,
    )
    params = _params(random_parameters(layer.eval(), rng, scale=0.5))
    # A small input: the sums the layer normalises have small spread, so eps matters.
    x = rng.normal(scale=0.05, size=(N, L, E))
    with quiet(), torch.no_grad():
        expected = numpy(layer(tensor(x)))
    attention, norm, used = _stand_ins(params, num_heads, 1e-5 if eps is None else eps)
    keywords = {} if eps is None else {"eps": eps}
    what = (
        f"transformer_encoder_layer(x of shape {x.shape}, params, num_heads={num_heads}, "
        "attention, "
        + ("" if eps is None else f"eps={eps:.3g}, ")
        + f"norm=norm) with dim_feedforward={sizes['F']}"
    )
    got = call_learner(
        what,
        transformer_encoder_layer,
        x.copy(),
        {k: v.copy() for k, v in params.items()},
        num_heads,
        attention,
        norm=norm,
        **keywords,
    )
    if "attention" not in used:
        raise AssertionError(f"{what} never called the `attention` function it was given")
    if not {"norm1", "norm2"} <= set(used):
        raise AssertionError(
            f"{what} must call the `norm` it is given for both layer norms; it called {used}"
        )
    check_array(what, got, expected)


# ---------------------------------------------------------------- part 4: the analysis question


def _torch_parameters(E, num_heads, dim_feedforward, **options):
    """The oracle: numel() added up over the parameters of a real nn.TransformerEncoderLayer,
    built on meta tensors (float8, one byte a number, so that even 10**19 parameters have a
    storage size torch can compute); None when PyTorch refuses the layer (num_heads does not
    divide E)."""
    try:
        with quiet():
            layer = torch.nn.TransformerEncoderLayer(
                E,
                num_heads,
                dim_feedforward,
                batch_first=True,
                device="meta",
                dtype=torch.float8_e4m3fn,
                **options,
            )
    except AssertionError:  # embed_dim must be divisible by num_heads
        return None
    return sum(parameter.numel() for parameter in layer.parameters())


def _check_parameters(encoder_layer_parameters, E, num_heads, dim_feedforward, **options):
    what = (
        f"encoder_layer_parameters(E={E}, num_heads={num_heads}, dim_feedforward={dim_feedforward}"
    )
    what += "".join(f", {name}={value}" for name, value in options.items()) + ")"
    expected = _torch_parameters(E, num_heads, dim_feedforward, **options)
    arguments = (E, num_heads, dim_feedforward)
    if expected is None:
        require_error(
            what,
            encoder_layer_parameters,
            *arguments,
            why=f"num_heads={num_heads} does not divide E={E}, and PyTorch refuses such a layer",
            naming=(("E", E), ("num_heads", num_heads)),
            **options,
        )
        return
    check_count(what, call_learner(what, encoder_layer_parameters, *arguments, **options), expected)


OPTIONS = [{}, {"bias": False}, {"norm_first": True}, {"bias": False, "norm_first": True}]


def check_encoder_layer_parameters(rng, encoder_layer_parameters):
    """Each of bias and norm_first on and off, at sizes all different; h = 1, h = E, E = 1,
    dim_feedforward = 1; E and dim_feedforward of 64 or more; counts beyond 2**53 (odd widths of
    about 67 million) and beyond 2**63 (widths of about a billion); and a ValueError naming E and
    num_heads when num_heads does not divide E."""
    sizes = head_sizes(rng, ["h", "d_k", "F"], low=2, high=12)
    h, d_k, E, F = (sizes[name] for name in ("h", "d_k", "E", "F"))
    cases = [(E, h, F, options) for options in OPTIONS]
    cases += [(d_k, 1, F, {}), (h, h, F, {"bias": False}), (1, 1, F, {}), (E, h, 1, {})]
    cases.append((h * int(rng.integers(LONG, 2 * LONG)), h, int(rng.integers(LONG, 4 * LONG)), {}))
    heads = stress.odd(rng, 3, 9)
    wide = (
        heads * stress.odd(rng, 2**26 // heads, 2**27 // heads),
        heads,
        stress.odd(rng, 2**26, 2**27),
    )
    cases += [(*wide, {}), (*wide, {"bias": False})]
    huge = int(rng.integers(1_100_000_000, 1_300_000_000))
    cases.append((huge, 1, 2 * huge + int(rng.integers(1, 1000)), {}))
    cases += [(E + 1, h, F, {}), (E + 1, h, F, {"bias": False, "norm_first": True})]
    for E_case, h_case, F_case, options in cases:
        _check_parameters(encoder_layer_parameters, E_case, h_case, F_case, **options)


CHECKS = {
    "positional-encoding": check_positional_encoding,
    "self-attention": check_self_attention,
    "layer-norm": check_layer_norm,
    "encoder-layer": check_encoder_layer,
    "encoder-layer-parameters": check_encoder_layer_parameters,
}


def _layer_norm_offset(x) -> bool:
    """Rows whose mean is at least 1e3 times their spread (a one-pass variance loses digits)."""
    x = np.asarray(x, dtype=np.float64)
    spread = np.std(x, axis=-1)
    return bool(np.any(np.abs(np.mean(x, axis=-1)) > 1e3 * np.where(spread > 0, spread, np.inf)))


AXES = {
    "sinusoidal_positional_encoding": stress.axes(
        Axis("length", "more than 5000 positions", lambda c: c.L > 5000),
        Axis("size extremes", "L = 1", lambda c: c.L == 1),
        Axis("size extremes", "E = 2", lambda c: c.E == 2),
        Axis("size extremes", "E of 64 or more", lambda c: c.E >= LONG),
    ),
    "multi_head_self_attention": stress.axes(
        Axis("length", "L of 64 or more", lambda c: c.x.shape[1] >= LONG),
        Axis("magnitude", "scores in the thousands", lambda c: stress.large(c.x, 20.0)),
        Axis("size extremes", "h = 1", lambda c: c.num_heads == 1),
        Axis("size extremes", "h = E", lambda c: c.num_heads == c.x.shape[-1]),
        Axis("size extremes", "N = 1", lambda c: c.x.shape[0] == 1),
        Axis("size extremes", "L = 1", lambda c: c.x.shape[1] == 1),
    ),
    "layer_norm": stress.axes(
        Axis(
            "magnitude", "rows offset by 1e4 times their spread", lambda c: _layer_norm_offset(c.x)
        ),
        Axis("degenerate geometry", "constant rows", lambda c: np.any(np.ptp(c.x, axis=-1) == 0)),
        Axis("size extremes", "E = 1", lambda c: c.x.shape[-1] == 1),
        Axis("size extremes", "rank 1", lambda c: np.ndim(c.x) == 1),
        Axis("size extremes", "rank 4", lambda c: np.ndim(c.x) == 4),
        Axis("size extremes", "another eps", lambda c: c.eps != 1e-5),
    ),
    "transformer_encoder_layer": stress.axes(
        Axis("length", "L of 64 or more", lambda c: c.x.shape[1] >= LONG),
        Axis("size extremes", "h = 1", lambda c: c.num_heads == 1),
        Axis("size extremes", "N = 1", lambda c: c.x.shape[0] == 1),
        Axis("size extremes", "L = 1", lambda c: c.x.shape[1] == 1),
        Axis("size extremes", "dim_feedforward = 1", lambda c: len(c.params["linear1.bias"]) == 1),
        Axis("size extremes", "another eps", lambda c: c.eps != 1e-5),
    ),
    "encoder_layer_parameters": stress.axes(
        Axis(
            "length",
            "E and dim_feedforward of 64 or more",
            lambda c: min(c.E, c.dim_feedforward) >= LONG,
        ),
        Axis("magnitude", "a count beyond 2**53 (floats round it)", lambda c: _count(c) > 2**53),
        Axis("magnitude", "a count beyond 2**63 (int64 wraps)", lambda c: _count(c) >= 2**63),
        Axis("size extremes", "h = 1", lambda c: c.num_heads == 1),
        Axis("size extremes", "h = E", lambda c: c.num_heads == c.E > 1),
        Axis("size extremes", "E = 1", lambda c: c.E == 1),
        Axis("size extremes", "dim_feedforward = 1", lambda c: c.dim_feedforward == 1),
        Axis("size extremes", "bias=False", lambda c: not c.bias),
        Axis("size extremes", "norm_first=True", lambda c: c.norm_first),
        Axis(
            "size extremes", "bias=False and norm_first=True", lambda c: c.norm_first and not c.bias
        ),
        Axis(
            "size extremes",
            "num_heads does not divide E: a ValueError",
            lambda c: c.E % c.num_heads,
        ),
    ),
}


def _count(call) -> int:
    options = {"bias": call.bias, "norm_first": call.norm_first}
    return _torch_parameters(call.E, call.num_heads, call.dim_feedforward, **options) or 0


COVERAGE = {
    "positional-encoding": {
        "more than 5000 positions": "L = 5001..6000, E = 6",
        "L = 1": "(1, 6)",
        "E = 2": "(L, 2)",
        "E of 64 or more": "E = 64..126",
        **stress.EVERY_CALL,
    },
    "self-attention": {
        "L of 64 or more": "L = 64..127",
        "scores in the thousands": "x scaled by 30",
        "h = 1": "one head",
        "h = E": "heads of width 1",
        "N = 1": "one sequence",
        "L = 1": "one position",
        **stress.EVERY_CALL,
    },
    "layer-norm": {
        "rows offset by 1e4 times their spread": "offsets of +-1e4 spreads, spreads 0.1..10",
        "constant rows": "every row constant",
        "E = 1": "one number per row",
        "rank 1": "x (E,)",
        "rank 4": "x (N, 2, L, E)",
        "another eps": "eps 1e-4..1e-2",
        **stress.EVERY_CALL,
    },
    "encoder-layer": {
        "L of 64 or more": "L = 64..127",
        "h = 1": "one head",
        "N = 1": "one sequence",
        "L = 1": "one position",
        "dim_feedforward = 1": "a feed-forward width of 1",
        "another eps": "eps 1e-3..3e-2",
        **stress.EVERY_CALL,
    },
    "encoder-layer-parameters": {
        "E and dim_feedforward of 64 or more": "E = h * (64..127), dim_feedforward = 64..255",
        "a count beyond 2**53 (floats round it)": "odd E and dim_feedforward of 2**26..2**27",
        "a count beyond 2**63 (int64 wraps)": "E = 1.1..1.3 billion, dim_feedforward about 2E",
        "h = 1": "E = d_k, one head",
        "h = E": "heads of width 1, without biases",
        "E = 1": "E = 1, one head",
        "dim_feedforward = 1": "a feed-forward width of 1",
        "bias=False": "each of bias and norm_first on and off",
        "norm_first=True": "the same",
        "bias=False and norm_first=True": "the same",
        "num_heads does not divide E: a ValueError": "E + 1 heads' widths, E and h named",
        **stress.EVERY_CALL,
    },
}
