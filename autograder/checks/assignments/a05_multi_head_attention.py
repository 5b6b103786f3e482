"""Assignment 05-multi-head-attention: hidden checks against torch.

The oracle is ``torch.nn.MultiheadAttention(E, num_heads, bias=..., kdim=..., vdim=...,
batch_first=True)`` in eval mode, float64, with every parameter (biases included) drawn at random
from the check's rng.

Long by design (over 300 lines): one module per exercise, as ``__init__.py`` explains.
"""

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from .. import stress
from ..oracle import (
    call_learner,
    check_array,
    check_count,
    describe,
    distinct_sizes,
    head_sizes,
    mask_over_the_top,
    numpy,
    quiet,
    random_multihead_attention,
    require_error,
    tensor,
)
from ..stress import LARGE_SCORES, LONG, Axis

# ---------------------------------------------------------------- inputs


# The sizes of every case (oracle.head_sizes adds E = h * d_k, and all of them differ).
MHA_SIZES = ["N", "L", "S", "h", "d_k"]


def _arguments(module):
    """The module's parameters as the numpy arguments of multi_head_attention (None where torch has
    None)."""

    def as_numpy(parameter):
        return None if parameter is None else numpy(parameter).copy()

    return {
        "num_heads": module.num_heads,
        "in_proj_weight": as_numpy(module.in_proj_weight),
        "in_proj_bias": as_numpy(module.in_proj_bias),
        "out_proj_weight": as_numpy(module.out_proj.weight),
        "out_proj_bias": as_numpy(module.out_proj.bias),
        "q_proj_weight": as_numpy(module.q_proj_weight),
        "k_proj_weight": as_numpy(module.k_proj_weight),
        "v_proj_weight": as_numpy(module.v_proj_weight),
    }


def _bool_masks(rng, N, h, L, S):
    """Random boolean masks (True = may not attend): key_padding_mask (N, S), attn_mask (L, S) and
    (N*h, L, S), such that every (batch, head, query) row keeps at least one allowed key."""
    free = rng.integers(0, S, size=N)  # key free_n is never masked in batch n
    padding = rng.random((N, S)) < 0.35
    padding[np.arange(N), free] = False
    mask_2d = rng.random((L, S)) < 0.35
    mask_2d[:, free] = False
    mask_3d = rng.random((N, h, L, S)) < 0.4
    mask_3d[np.arange(N), :, :, free] = False
    return padding, mask_2d, mask_3d.reshape(N * h, L, S)


def _float_mask(rng, boolean):
    """A float mask to add to the scores: -inf where `boolean` is True, random finite values
    elsewhere."""
    return np.where(boolean, -np.inf, rng.normal(scale=1.5, size=boolean.shape))


# ---------------------------------------------------------------- oracle and comparison


def _torch_mha(module, query, key, value, **options):
    """nn.MultiheadAttention's (output, weights or None), with any torch warning kept off stderr."""
    q = tensor(query)
    k = q if key is query else tensor(key)
    v = k if value is key else tensor(value)
    options = {
        name: tensor(option) if isinstance(option, np.ndarray) else option
        for name, option in options.items()
    }
    with quiet():
        output, weights = module(q, k, v, **options)
    return numpy(output), None if weights is None else numpy(weights)


def _compare(fn, module, inputs, what, **options):
    """The learner's fn against torch's module on inputs = (query, key, value)."""
    query, key, value = inputs
    expected_output, expected_weights = _torch_mha(module, query, key, value, **options)
    arguments = _arguments(module)
    positional = [
        arguments.pop(name)
        for name in (
            "num_heads",
            "in_proj_weight",
            "in_proj_bias",
            "out_proj_weight",
            "out_proj_bias",
        )
    ]
    copies = {
        name: option.copy() if isinstance(option, np.ndarray) else option
        for name, option in options.items()
    }
    try:
        result = call_learner(
            what, fn, query.copy(), key.copy(), value.copy(), *positional, **arguments, **copies
        )
    except AssertionError as failure:
        raise AssertionError(f"{failure}{_hint(failure, module, options)}") from failure.__cause__
    if not isinstance(result, tuple) or len(result) != 2:
        raise AssertionError(
            f"{what}: expected a pair (attn_output, attn_weights), got {type(result).__name__}"
        )
    output, weights = result
    # The weights first: a wrong scale, axis or mask shows there more plainly than in the output.
    if expected_weights is None:
        if weights is not None:
            raise AssertionError(
                f"{what}: with need_weights=False attn_weights must be None, got "
                f"{type(weights).__name__}"
            )
    else:
        check_array(f"{what}: attn_weights", weights, expected_weights)
    check_array(f"{what}: attn_output", output, expected_output)


def _hint(failure, module, options) -> str:
    """One sentence on the likely cause of an exception raised by the learner's function."""
    cause = failure.__cause__
    if module.in_proj_weight is None and isinstance(cause, (TypeError, AttributeError)):
        return (
            " (with kdim or vdim different from E, in_proj_weight is None: project with "
            "q_proj_weight,"
            " k_proj_weight and v_proj_weight)"
        )
    if (
        options.get("key_padding_mask") is not None
        and isinstance(cause, ValueError)
        and "broadcast" in str(cause)
    ):
        return " (key_padding_mask is (N, S): it must meet the scores (N, h, L, S) as (N, 1, 1, S))"
    return ""


# ---------------------------------------------------------------- checks


def _head_extremes(rng, sizes):
    """General sizes, then one head (h = 1), heads of width one (h = E), N = 1, L = 1 and a
    sequence of 64 or more."""
    E = sizes["E"]
    return [
        sizes,
        dict(sizes, h=1, d_k=E),
        dict(sizes, h=E, d_k=1),
        dict(sizes, N=1),
        dict(sizes, L=1),
        dict(sizes, L=int(rng.integers(LONG, 2 * LONG))),
    ]


def check_split_heads(rng, split_heads):
    """The general case and _head_extremes; E not a multiple of num_heads: a ValueError whose
    message names E and num_heads."""
    sizes = head_sizes(rng, MHA_SIZES)
    for case in _head_extremes(rng, sizes):
        N, L, h, d_k, E = (case[name] for name in ("N", "L", "h", "d_k", "E"))
        x = rng.normal(size=(N, L, E))
        # The oracle is torch's own layout inside F.multi_head_attention_forward (sequence first):
        # q.view(L, N * h, d_k).transpose(0, 1) gives (N * h, L, d_k), batch-major, head-minor.
        expected = numpy(
            tensor(x).transpose(0, 1).reshape(L, N * h, d_k).transpose(0, 1).reshape(N, h, L, d_k)
        )
        what = f"split_heads(x of shape {x.shape}, num_heads={h})"
        got = call_learner(what, split_heads, x.copy(), h)
        if isinstance(got, np.ndarray) and got.shape == expected.shape:
            check_array(
                f"{what}[0, {h - 1}] must be features {(h - 1) * d_k}..{h * d_k - 1} of sequence 0",
                got[0, h - 1],
                x[0, :, (h - 1) * d_k :],
            )
        check_array(what, got, expected)
    # E not a multiple of num_heads: a ValueError whose message names E and num_heads. The width
    # is above every size drawn, so numpy's own reshape message ("cannot reshape ... into shape
    # (N, L, h, w)") cannot name it.
    N, L, h, E = (sizes[name] for name in ("N", "L", "h", "E"))
    width = next(w for w in range(max(E + 1, 10), 4 * E + 10) if w % h and str(h) not in str(w))
    require_error(
        f"split_heads(x of shape {(N, L, width)}, num_heads={h})",
        split_heads,
        rng.normal(size=(N, L, width)),
        h,
        why=f"E={width} is not a multiple of num_heads={h}",
        naming=(("E", width), ("num_heads", h)),
    )


def check_merge_heads(rng, merge_heads):
    """The general case and _head_extremes."""
    sizes = head_sizes(rng, MHA_SIZES)
    for case in _head_extremes(rng, sizes):
        N, L, h, d_k, E = (case[name] for name in ("N", "L", "h", "d_k", "E"))
        heads = rng.normal(size=(N, h, L, d_k))
        # torch: attn_output.transpose(0, 1).reshape(L * N, E) on the (N * h, L, d_k) outputs.
        merged = (
            tensor(heads).reshape(N * h, L, d_k).transpose(0, 1).reshape(L, N, E).transpose(0, 1)
        )
        what = f"merge_heads(x of shape {heads.shape})"
        check_array(what, call_learner(what, merge_heads, heads.copy()), numpy(merged))


def check_pack_in_proj(rng, pack_in_proj):
    """The general case, one head (h = 1) and heads of width one (h = E); then the general case at
    another width E, so that no sizes left in notebook globals match every call."""
    sizes = head_sizes(rng, MHA_SIZES)
    other = head_sizes(rng, MHA_SIZES)
    while other["E"] == sizes["E"]:
        other = head_sizes(rng, MHA_SIZES)
    for case in _head_extremes(rng, sizes)[:3] + [other]:
        _check_packing(pack_in_proj, rng, case)


def _check_packing(pack_in_proj, rng, sizes):
    N, L, h, d_k, E = (sizes[name] for name in ("N", "L", "h", "d_k", "E"))
    X = rng.normal(size=(N, L, E))
    W_Q, W_K, W_V = (rng.normal(scale=0.5, size=(h, E, d_k)) for _ in range(3))
    what = f"pack_in_proj(W_Q, W_K, W_V of shape {W_Q.shape})"
    packed = call_learner(what, pack_in_proj, W_Q.copy(), W_K.copy(), W_V.copy())
    if type(packed) is not np.ndarray or packed.shape != (3 * E, E):
        shape = getattr(packed, "shape", None)
        raise AssertionError(
            f"{what}: expected an array of shape {(3 * E, E)} (3E, E), got "
            f"{type(packed).__name__} of shape {shape}"
        )
    # Expected: each head attends with the article's Q_i = X W_Q[i], ...; heads concatenated.
    x = tensor(X)
    with quiet():
        heads = [
            F.scaled_dot_product_attention(
                x @ tensor(W_Q[i]), x @ tensor(W_K[i]), x @ tensor(W_V[i])
            )
            for i in range(h)
        ]
    expected = numpy(torch.cat(heads, dim=-1))
    # Got: nn.MultiheadAttention with the packed weights, no bias and an identity output projection.
    module = torch.nn.MultiheadAttention(
        E, h, bias=False, batch_first=True, dtype=torch.float64
    ).eval()
    with torch.no_grad():
        module.in_proj_weight.copy_(tensor(packed))
        module.out_proj.weight.copy_(torch.eye(E, dtype=torch.float64))
    got, _ = _torch_mha(module, X, X, X, need_weights=False)
    check_array(
        "nn.MultiheadAttention with in_proj_weight=pack_in_proj(W_Q, W_K, W_V) "
        f"({describe(sizes)})",
        got,
        expected,
    )


def check_mha_self_attention(rng, multi_head_attention):
    """Self- and cross-attention, scores in the thousands; then h = 1, h = E, N = 1, L = 1, S = 1
    and S of 64 or more."""
    sizes = head_sizes(rng, MHA_SIZES)
    N, L, S, h, E = (sizes[name] for name in ("N", "L", "S", "h", "E"))
    module = random_multihead_attention(rng, E, h)
    X = rng.normal(size=(N, L, E))
    _compare(multi_head_attention, module, (X, X, X), f"self-attention ({describe(sizes)})")
    key, value = rng.normal(size=(N, S, E)), rng.normal(size=(N, S, E))
    _compare(multi_head_attention, module, (X, key, value), f"cross-attention ({describe(sizes)})")
    # Large inputs: scores in the thousands, where an exponential without its maximum overflows.
    _compare(
        multi_head_attention,
        module,
        (X * 30.0, key * 30.0, value),
        f"cross-attention with scores in the thousands ({describe(sizes)})",
    )
    extremes = _head_extremes(rng, sizes)[1:]
    extremes += [dict(sizes, S=1), dict(sizes, S=int(rng.integers(LONG, 2 * LONG)))]
    for case in extremes:
        N, L, S, h, E = (case[name] for name in ("N", "L", "S", "h", "E"))
        module = random_multihead_attention(rng, E, h)
        inputs = (
            rng.normal(size=(N, L, E)),
            rng.normal(size=(N, S, E)),
            rng.normal(size=(N, S, E)),
        )
        _compare(multi_head_attention, module, inputs, f"cross-attention ({describe(case)})")


def _setting(rng):
    """Sizes, a random nn.MultiheadAttention, and a query (N, L, E) with key and value (N, S, E)."""
    sizes = head_sizes(rng, MHA_SIZES)
    N, L, S, h, E = (sizes[name] for name in ("N", "L", "S", "h", "E"))
    module = random_multihead_attention(rng, E, h)
    inputs = (rng.normal(size=(N, L, E)), rng.normal(size=(N, S, E)), rng.normal(size=(N, S, E)))
    return sizes, module, inputs


def check_mha_need_weights(rng, multi_head_attention):
    sizes, module, inputs = _setting(rng)
    for need, average in itertools.product([True, False], [True, False]):
        _compare(
            multi_head_attention,
            module,
            inputs,
            f"need_weights={need}, average_attn_weights={average} ({describe(sizes)})",
            need_weights=need,
            average_attn_weights=average,
        )


def check_mha_kdim_vdim_bias(rng, multi_head_attention):
    sizes = head_sizes(rng, [*MHA_SIZES, "kdim", "vdim"], high=11)
    N, L, S, h, E, kdim, vdim = (sizes[name] for name in ("N", "L", "S", "h", "E", "kdim", "vdim"))
    query = rng.normal(size=(N, L, E))
    for bias, (kd, vd) in itertools.product(
        [True, False], [(None, None), (kdim, vdim), (kdim, None), (None, vdim)]
    ):
        module = random_multihead_attention(rng, E, h, bias=bias, kdim=kd, vdim=vd)
        key, value = rng.normal(size=(N, S, kd or E)), rng.normal(size=(N, S, vd or E))
        _compare(
            multi_head_attention,
            module,
            (query, key, value),
            f"bias={bias}, kdim={kd or E}, vdim={vd or E} ({describe(sizes)})",
            average_attn_weights=False,
        )


def _mask_setting(rng):
    """The setting of _setting, with boolean masks drawn after it."""
    sizes, module, inputs = _setting(rng)
    N, L, S, h = (sizes[name] for name in ("N", "L", "S", "h"))
    return sizes, module, inputs, _bool_masks(rng, N, h, L, S)


def _large_mask_setting(rng):
    """A setting with S of 64 or more keys whose query is scaled so that the largest score is
    3000 or so: in the thousands, where exp overflows, and no larger, so that the rounding of
    scores in the tens of thousands (which torch and numpy round differently) cannot reach the
    tolerance. Returns it with its scores (N, h, L, S)."""
    sizes, module, (query, _, _) = _setting(rng)
    sizes["S"] = int(rng.integers(LONG, 2 * LONG))
    N, S, E = sizes["N"], sizes["S"], sizes["E"]
    key, value = rng.normal(size=(N, S, E)), rng.normal(size=(N, S, E))
    for _ in range(3):  # the in-projection's bias makes the scores affine in the scale
        query = query * (LARGE_SCORES * 3 / np.max(np.abs(_mha_scores(module, query, key))))
    return sizes, module, (query, key, value), _mha_scores(module, query, key)


def _mha_scores(module, query, key):
    """The module's scaled scores (N, h, L, S) for query and key (same width E)."""
    arguments = _arguments(module)
    return _scores(
        query, key, arguments["num_heads"], arguments["in_proj_weight"], arguments["in_proj_bias"]
    )


def _scores(query, key, h, in_proj_weight, in_proj_bias, k_proj_weight=None, q_proj_weight=None):
    E = query.shape[-1]
    if in_proj_weight is not None:
        q_proj_weight, k_proj_weight = in_proj_weight[:E], in_proj_weight[E : 2 * E]
    bias = np.zeros(3 * E) if in_proj_bias is None else in_proj_bias
    q = query @ q_proj_weight.T + bias[:E]
    k = key @ k_proj_weight.T + bias[E : 2 * E]

    def heads(x):
        return x.reshape(*x.shape[:2], h, E // h).transpose(0, 2, 1, 3)

    return stress.scores(heads(q), heads(k))


def check_mha_attn_mask(rng, multi_head_attention):
    """2-D and 3-D attn_masks, boolean and float; then scores in the thousands over 64 or more
    keys under masks of both kinds and ranks that hide each row's largest score."""
    sizes, module, inputs, (_, mask_2d, mask_3d) = _mask_setting(rng)
    attn_masks = {
        "boolean 2-D attn_mask": mask_2d,
        "float 2-D attn_mask": _float_mask(rng, mask_2d),
        "boolean 3-D attn_mask": mask_3d,
        "float 3-D attn_mask": _float_mask(rng, mask_3d),
    }
    sizes_large, module_large, inputs_large, scores = _large_mask_setting(rng)
    N, h, L, S = scores.shape
    hide_2d = mask_over_the_top(rng, scores, (L, S))
    hide_3d = mask_over_the_top(rng, scores.reshape(N * h, L, S), (N * h, L, S))
    large = {
        "boolean 2-D attn_mask over the largest scores": hide_2d,
        "float 2-D attn_mask over the largest scores": _float_mask(rng, hide_2d),
        "boolean 3-D attn_mask over the largest scores": hide_3d,
        "float 3-D attn_mask over the largest scores": _float_mask(rng, hide_3d),
    }
    for setting, masks in [
        ((sizes, module, inputs), attn_masks),
        ((sizes_large, module_large, inputs_large), large),
    ]:
        for name, attn_mask in masks.items():
            _compare(
                multi_head_attention,
                setting[1],
                setting[2],
                f"{name} ({describe(setting[0])})",
                attn_mask=attn_mask,
                average_attn_weights=False,
            )


def _padding_over_the_top(rng, scores):
    """A boolean key_padding_mask (N, S) that hides, in each sequence, the largest score's key of
    the head and query whose scores spread widest, with every key near it (mask_over_the_top's
    rows), and leaves another key free."""
    N, h, L, S = scores.shape
    rows = scores.reshape(N, h * L, S)
    widest = np.argmax(np.ptp(rows, axis=-1), axis=-1)
    return mask_over_the_top(rng, rows[np.arange(N), widest], (N, S))


def check_mha_key_padding_mask(rng, multi_head_attention):
    """key_padding_mask alone, and together with a 2-D attn_mask (boolean or float); then scores
    in the thousands over 64 or more keys, with padding of both kinds over the largest score."""
    sizes, module, inputs, (padding, mask_2d, _) = _mask_setting(rng)
    padding_masks = {
        "boolean key_padding_mask": padding,
        "float key_padding_mask": _float_mask(rng, padding),
    }
    attn_masks = {
        "": None,
        ", boolean 2-D attn_mask": mask_2d,
        ", float 2-D attn_mask": _float_mask(rng, mask_2d),
    }
    for (padding_name, key_padding_mask), (attn_name, attn_mask) in itertools.product(
        padding_masks.items(), attn_masks.items()
    ):
        _compare(
            multi_head_attention,
            module,
            inputs,
            f"{padding_name}{attn_name} ({describe(sizes)})",
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            average_attn_weights=False,
        )
    sizes, module, inputs, scores = _large_mask_setting(rng)
    hiding = _padding_over_the_top(rng, scores)
    for name, key_padding_mask in [("boolean", hiding), ("float", _float_mask(rng, hiding))]:
        _compare(
            multi_head_attention,
            module,
            inputs,
            f"{name} key_padding_mask over the largest scores ({describe(sizes)})",
            key_padding_mask=key_padding_mask,
            average_attn_weights=False,
        )


# ---------------------------------------------------------------- part 4: the analysis question

DTYPES = stress.FLOAT_DTYPES
OPTIONS = ({}, {"average_attn_weights": False}, {"need_weights": False})


def _torch_weights_bytes(N, L, S, num_heads, dtype, **options):
    """The oracle: element_size() * numel() of the attn_weights that a real
    nn.MultiheadAttention of `dtype` returns (0 for None), called on meta tensors: shapes without
    data, so any size costs nothing (PyTorch refuses a tensor of 2**63 bytes or more)."""
    meta = dict(device="meta", dtype=getattr(torch, dtype))
    E = 3 * num_heads  # any multiple of num_heads
    module = torch.nn.MultiheadAttention(E, num_heads, batch_first=True, **meta)
    query, key = torch.empty(N, L, E, **meta), torch.empty(N, S, E, **meta)
    with quiet():
        _, weights = module(query, key, key, **options)
    return 0 if weights is None else weights.element_size() * weights.numel()


def _check_weights_bytes(attention_weights_bytes, N, L, S, num_heads, dtype, **options):
    what = f"attention_weights_bytes(N={N}, L={L}, S={S}, num_heads={num_heads}, dtype={dtype!r}"
    what += "".join(f", {name}={value}" for name, value in options.items()) + ")"
    got = call_learner(what, attention_weights_bytes, N, L, S, num_heads, dtype, **options)
    check_count(what, got, _torch_weights_bytes(N, L, S, num_heads, dtype, **options))


def check_attention_weights_bytes(rng, attention_weights_bytes):
    """Every dtype with each option (averaged, per head, none), at sizes all different, self-
    attention (S = L), one head, each size at 1, 64 or more positions, and more than 2**53 bytes
    (odd sizes of 67 to 134 million positions)."""
    sizes = distinct_sizes(rng, ["N", "L", "S", "h"], low=2, high=10)
    N, L, S, h = (sizes[name] for name in ("N", "L", "S", "h"))
    cases = [(N, L, S, h), (N, L, L, h), (N, L, S, 1), (1, L, S, h), (N, 1, S, h), (N, L, 1, h)]
    cases.append((N, int(rng.integers(LONG, 2 * LONG)), int(rng.integers(LONG, 2 * LONG)), h))
    for index, case in enumerate(cases):
        for options in OPTIONS:
            dtype = DTYPES[(index + len(options) + ("need_weights" in options)) % len(DTYPES)]
            _check_weights_bytes(attention_weights_bytes, *case, dtype, **options)
    # About 10**17 bytes, odd sizes and 2 bytes a number: a float's spacing there (16) shows.
    huge = (
        stress.odd(rng, 3, 8),
        stress.odd(rng, 2**26, 2**27),
        stress.odd(rng, 2**26, 2**27),
        stress.odd(rng, 3, 8),
    )
    for options in OPTIONS:
        _check_weights_bytes(attention_weights_bytes, *huge, "bfloat16", **options)
    for dtype in DTYPES:  # each dtype on the per-head weights, the largest
        _check_weights_bytes(attention_weights_bytes, N, L, S, h, dtype, average_attn_weights=False)


CHECKS = {
    "split-heads": check_split_heads,
    "merge-heads": check_merge_heads,
    "pack-in-proj": check_pack_in_proj,
    "mha-self-attention": check_mha_self_attention,
    "mha-need-weights": check_mha_need_weights,
    "mha-kdim-vdim-bias": check_mha_kdim_vdim_bias,
    "mha-attn-mask": check_mha_attn_mask,
    "mha-key-padding-mask": check_mha_key_padding_mask,
    "attention-weights-bytes": check_attention_weights_bytes,
}


def _call_scores(c):
    return _scores(
        c.query,
        c.key,
        c.num_heads,
        c.in_proj_weight,
        c.in_proj_bias,
        c.k_proj_weight,
        c.q_proj_weight,
    )


def _hidden_top(c, mask, reshape):
    if mask is None:
        return False
    score = _call_scores(c)
    return stress.hides_the_top(score, reshape(np.asarray(mask), score.shape))


def _attn_shape(mask, shape):
    return mask.reshape(shape) if mask.ndim == 3 else mask


def _padding_shape(mask, shape):
    return mask[:, None, None, :]


AXES = {
    "split_heads": stress.axes(
        Axis("length", "L of 64 or more", lambda c: c.x.shape[1] >= LONG),
        Axis("size extremes", "h = 1", lambda c: c.num_heads == 1),
        Axis("size extremes", "h = E", lambda c: c.num_heads == c.x.shape[-1]),
        Axis("size extremes", "N = 1", lambda c: c.x.shape[0] == 1),
        Axis("size extremes", "L = 1", lambda c: c.x.shape[1] == 1),
        Axis("size extremes", "E not a multiple of h", lambda c: c.x.shape[-1] % c.num_heads),
    ),
    "merge_heads": stress.axes(
        Axis("length", "L of 64 or more", lambda c: c.x.shape[2] >= LONG),
        Axis("size extremes", "h = 1", lambda c: c.x.shape[1] == 1),
        Axis("size extremes", "d_k = 1", lambda c: c.x.shape[3] == 1),
        Axis("size extremes", "N = 1", lambda c: c.x.shape[0] == 1),
        Axis("size extremes", "L = 1", lambda c: c.x.shape[2] == 1),
    ),
    "pack_in_proj": stress.axes(
        Axis("size extremes", "h = 1", lambda c: c.W_Q.shape[0] == 1),
        Axis("size extremes", "d_k = 1", lambda c: c.W_Q.shape[2] == 1),
    ),
    "multi_head_attention": stress.axes(
        Axis("length", "S of 64 or more", lambda c: c.key.shape[1] >= LONG),
        Axis("magnitude", "scores in the thousands", lambda c: stress.large(_call_scores(c))),
        Axis(
            "magnitude",
            "a boolean attn_mask hiding the largest score",
            lambda c: stress.is_bool_mask(c.attn_mask) and _hidden_top(c, c.attn_mask, _attn_shape),
        ),
        Axis(
            "magnitude",
            "a float attn_mask hiding the largest score",
            lambda c: (
                stress.is_float_mask(c.attn_mask) and _hidden_top(c, c.attn_mask, _attn_shape)
            ),
        ),
        Axis(
            "magnitude",
            "a boolean key_padding_mask hiding the largest score",
            lambda c: (
                stress.is_bool_mask(c.key_padding_mask)
                and _hidden_top(c, c.key_padding_mask, _padding_shape)
            ),
        ),
        Axis(
            "magnitude",
            "a float key_padding_mask hiding the largest score",
            lambda c: (
                stress.is_float_mask(c.key_padding_mask)
                and _hidden_top(c, c.key_padding_mask, _padding_shape)
            ),
        ),
        Axis("size extremes", "h = 1", lambda c: c.num_heads == 1),
        Axis("size extremes", "h = E", lambda c: c.num_heads == c.query.shape[-1]),
        Axis("size extremes", "N = 1", lambda c: c.query.shape[0] == 1),
        Axis("size extremes", "L = 1", lambda c: c.query.shape[1] == 1),
        Axis("size extremes", "S = 1", lambda c: c.key.shape[1] == 1),
        Axis(
            "size extremes",
            "kdim != E = vdim",
            lambda c: c.key.shape[-1] != c.query.shape[-1] == c.value.shape[-1],
        ),
        Axis(
            "size extremes",
            "vdim != E = kdim",
            lambda c: c.value.shape[-1] != c.query.shape[-1] == c.key.shape[-1],
        ),
        Axis(
            "size extremes",
            "kdim != vdim, both != E",
            lambda c: len({c.key.shape[-1], c.value.shape[-1], c.query.shape[-1]}) == 3,
        ),
        Axis("size extremes", "no biases", lambda c: c.in_proj_bias is None),
        Axis("size extremes", "a 3-D attn_mask", lambda c: np.ndim(c.attn_mask) == 3),
        Axis(
            "size extremes",
            "both masks",
            lambda c: c.attn_mask is not None and c.key_padding_mask is not None,
        ),
        Axis(
            "size extremes",
            "weights per head",
            lambda c: c.need_weights and not c.average_attn_weights,
        ),
        Axis("size extremes", "no weights", lambda c: not c.need_weights),
    ),
    "attention_weights_bytes": stress.axes(
        Axis("length", "L and S of 64 or more", lambda c: min(c.L, c.S) >= LONG),
        Axis(
            "magnitude",
            "more than 2**53 bytes (floats round them)",
            lambda c: _torch_weights_bytes(**c) > 2**53,
        ),
        Axis("size extremes", "self-attention: S = L", lambda c: c.S == c.L),
        *(Axis("size extremes", f"{name} = 1", lambda c, n=name: c[n] == 1) for name in "NLS"),
        Axis("size extremes", "one head", lambda c: c.num_heads == 1),
        Axis(
            "size extremes", "weights averaged", lambda c: c.need_weights and c.average_attn_weights
        ),
        Axis(
            "size extremes",
            "weights per head",
            lambda c: c.need_weights and not c.average_attn_weights,
        ),
        Axis("size extremes", "no weights", lambda c: not c.need_weights),
        *(Axis("dtype", dtype, lambda c, d=dtype: c.dtype == d) for dtype in DTYPES),
    ),
}

COVERAGE = {
    "split-heads": {
        "L of 64 or more": "L = 64..127",
        "h = 1": "one head of width E",
        "h = E": "E heads of width 1",
        "N = 1": "one sequence",
        "L = 1": "one position",
        "E not a multiple of h": "a width above every size drawn; E and num_heads named",
        **stress.EVERY_CALL,
    },
    "merge-heads": {
        "L of 64 or more": "L = 64..127",
        "h = 1": "one head",
        "d_k = 1": "heads of width 1",
        "N = 1": "one sequence",
        "L = 1": "one position",
        **stress.EVERY_CALL,
    },
    "pack-in-proj": {"h = 1": "one head", "d_k = 1": "heads of width 1", **stress.EVERY_CALL},
    "mha-self-attention": {
        "S of 64 or more": "S = 64..127",
        "scores in the thousands": "query and key x 30",
        "h = 1": "one head",
        "h = E": "heads of width 1",
        "N = 1": "one sequence",
        "L = 1": "one query",
        "S = 1": "one key",
        **stress.EVERY_CALL,
    },
    "mha-need-weights": {
        "weights per head": "average_attn_weights=False",
        "no weights": "need_weights=False",
        **stress.EVERY_CALL,
    },
    "mha-kdim-vdim-bias": {
        "kdim != E = vdim": "(kdim, None)",
        "vdim != E = kdim": "(None, vdim)",
        "kdim != vdim, both != E": "(kdim, vdim)",
        "no biases": "bias=False",
        **stress.EVERY_CALL,
    },
    "mha-attn-mask": {
        "S of 64 or more": "S = 64..127 with scores in the thousands",
        "scores in the thousands": "query scaled to a largest score of 3000",
        "a boolean attn_mask hiding the largest score": (
            "2-D and 3-D, over each row's largest and the scores within 800 of it"
        ),
        "a float attn_mask hiding the largest score": "-inf there, N(0, 1.5) elsewhere",
        "a 3-D attn_mask": "(N h, L, S)",
        **stress.EVERY_CALL,
    },
    "mha-key-padding-mask": {
        "S of 64 or more": "S = 64..127 with scores in the thousands",
        "a boolean key_padding_mask hiding the largest score": (
            "in each sequence, the widest row's largest key and the keys within 800 of it"
        ),
        "a float key_padding_mask hiding the largest score": "-inf there",
        "both masks": "with a boolean or a float 2-D attn_mask",
        **stress.EVERY_CALL,
    },
    "attention-weights-bytes": {
        "L and S of 64 or more": "L, S = 64..127",
        "more than 2**53 bytes (floats round them)": "L, S = 2**26..2**27, odd sizes, bfloat16",
        "self-attention: S = L": "(N, L, L)",
        "N = 1": "each of N, L, S at 1 in turn",
        "L = 1": "the same",
        "S = 1": "the same",
        "one head": "num_heads = 1",
        "weights averaged": "the defaults, in every case",
        "weights per head": "average_attn_weights=False, in every case and every dtype",
        "no weights": "need_weights=False, in every case",
        **{dtype: "dtypes in turn, and each on the per-head weights" for dtype in DTYPES},
        **stress.EVERY_CALL,
    },
}
