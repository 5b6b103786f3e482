"""Assignment 05-multi-head-attention: hidden checks against torch, and known-wrong variants.

The oracle is ``torch.nn.MultiheadAttention(E, num_heads, bias=..., kdim=..., vdim=...,
batch_first=True)`` in eval mode, float64, with every parameter (biases included) drawn at random
from the check's rng.

Long by design (over 300 lines): one module per exercise, as ``__init__.py`` explains.
"""

import itertools
import re

import numpy as np
import torch
import torch.nn.functional as F

from autograder.checks.oracle import (
    call_learner,
    call_numpy_only,
    check_array,
    describe,
    head_sizes,
    numpy,
    quiet,
    random_multihead_attention,
    tensor,
)

from . import mistake_factory

ASSIGNMENT = "05-multi-head-attention"


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


def _compare(fn, module, query, key, value, what, **options):
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


def check_split_heads(rng, split_heads):
    sizes = head_sizes(rng, MHA_SIZES)
    N, L, h, d_k, E = (sizes[name] for name in ("N", "L", "h", "d_k", "E"))
    x = rng.normal(size=(N, L, E))
    # The oracle is torch's own layout inside F.multi_head_attention_forward (sequence first there):
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
    # E not a multiple of num_heads: a ValueError whose message names E. The width is above every
    # size drawn, so numpy's own reshape message ("cannot reshape ... into shape (N, L, h, w)")
    # cannot name it.
    width = next(w for w in range(max(E + 1, 10), 4 * E + 10) if w % h)
    _check_value_error(split_heads, rng.normal(size=(N, L, width)), h)


def _check_value_error(split_heads, x, h):
    E = x.shape[-1]
    what = f"split_heads(x of shape {x.shape}, num_heads={h}), with E={E} not a multiple of {h},"
    try:
        call_numpy_only(split_heads, x, h)
    except ValueError as error:
        if not re.search(rf"\b{E}\b", str(error)):
            raise AssertionError(
                f"{what} raised ValueError({str(error)!r}), whose message does not name E={E}"
            ) from None
        return
    except AssertionError:
        raise
    except Exception as error:  # noqa: BLE001 - any other exception is the learner's, reported as such
        raise AssertionError(
            f"{what} must raise ValueError, but raised {type(error).__name__}: {error}"
        ) from None
    raise AssertionError(f"{what} must raise ValueError, but returned")


def check_merge_heads(rng, merge_heads):
    sizes = head_sizes(rng, MHA_SIZES)
    N, L, h, d_k, E = (sizes[name] for name in ("N", "L", "h", "d_k", "E"))
    heads = rng.normal(size=(N, h, L, d_k))
    # torch: attn_output.transpose(0, 1).reshape(L * N, E) on the (N * h, L, d_k) head outputs.
    merged = tensor(heads).reshape(N * h, L, d_k).transpose(0, 1).reshape(L, N, E).transpose(0, 1)
    check_array(
        f"merge_heads(x of shape {heads.shape})",
        call_learner("merge_heads", merge_heads, heads.copy()),
        numpy(merged),
    )


def check_pack_in_proj(rng, pack_in_proj):
    sizes = head_sizes(rng, MHA_SIZES)
    N, L, h, d_k, E = (sizes[name] for name in ("N", "L", "h", "d_k", "E"))
    X = rng.normal(size=(N, L, E))
    W_Q, W_K, W_V = (rng.normal(scale=0.5, size=(h, E, d_k)) for _ in range(3))
    packed = call_learner("pack_in_proj", pack_in_proj, W_Q.copy(), W_K.copy(), W_V.copy())
    if type(packed) is not np.ndarray or packed.shape != (3 * E, E):
        shape = getattr(packed, "shape", None)
        raise AssertionError(
            f"pack_in_proj: expected an array of shape {(3 * E, E)} (3E, E), got "
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
    sizes = head_sizes(rng, MHA_SIZES)
    N, L, S, h, E = (sizes[name] for name in ("N", "L", "S", "h", "E"))
    module = random_multihead_attention(rng, E, h)
    X = rng.normal(size=(N, L, E))
    _compare(multi_head_attention, module, X, X, X, f"self-attention ({describe(sizes)})")
    key, value = rng.normal(size=(N, S, E)), rng.normal(size=(N, S, E))
    _compare(multi_head_attention, module, X, key, value, f"cross-attention ({describe(sizes)})")
    # Large inputs: scores in the thousands, where an exponential without its maximum overflows.
    _compare(
        multi_head_attention,
        module,
        X * 30.0,
        key * 30.0,
        value,
        f"cross-attention with scores in the thousands ({describe(sizes)})",
    )


def check_mha_need_weights(rng, multi_head_attention):
    sizes = head_sizes(rng, MHA_SIZES)
    N, L, S, h, E = (sizes[name] for name in ("N", "L", "S", "h", "E"))
    module = random_multihead_attention(rng, E, h)
    query, key, value = (
        rng.normal(size=(N, L, E)),
        rng.normal(size=(N, S, E)),
        rng.normal(size=(N, S, E)),
    )
    for need, average in itertools.product([True, False], [True, False]):
        _compare(
            multi_head_attention,
            module,
            query,
            key,
            value,
            f"need_weights={need}, average_attn_weights={average} ({describe(sizes)})",
            need_weights=need,
            average_attn_weights=average,
        )


def check_mha_kdim_vdim_bias(rng, multi_head_attention):
    sizes = head_sizes(rng, [*MHA_SIZES, "kdim", "vdim"], high=11)
    N, L, S, h, E, kdim, vdim = (sizes[name] for name in ("N", "L", "S", "h", "E", "kdim", "vdim"))
    query = rng.normal(size=(N, L, E))
    for bias, (kd, vd) in itertools.product(
        [True, False], [(None, None), (kdim, vdim), (kdim, None)]
    ):
        module = random_multihead_attention(rng, E, h, bias=bias, kdim=kd, vdim=vd)
        key, value = rng.normal(size=(N, S, kd or E)), rng.normal(size=(N, S, vd or E))
        _compare(
            multi_head_attention,
            module,
            query,
            key,
            value,
            f"bias={bias}, kdim={kd or E}, vdim={vd or E} ({describe(sizes)})",
            average_attn_weights=False,
        )


def _mask_setting(rng):
    sizes = head_sizes(rng, MHA_SIZES)
    N, L, S, h, E = (sizes[name] for name in ("N", "L", "S", "h", "E"))
    module = random_multihead_attention(rng, E, h)
    query, key, value = (
        rng.normal(size=(N, L, E)),
        rng.normal(size=(N, S, E)),
        rng.normal(size=(N, S, E)),
    )
    return sizes, module, (query, key, value), _bool_masks(rng, N, h, L, S)


def check_mha_attn_mask(rng, multi_head_attention):
    sizes, module, (query, key, value), (_, mask_2d, mask_3d) = _mask_setting(rng)
    attn_masks = {
        "boolean 2-D attn_mask": mask_2d,
        "float 2-D attn_mask": _float_mask(rng, mask_2d),
        "boolean 3-D attn_mask": mask_3d,
        "float 3-D attn_mask": _float_mask(rng, mask_3d),
    }
    for name, attn_mask in attn_masks.items():
        _compare(
            multi_head_attention,
            module,
            query,
            key,
            value,
            f"{name} ({describe(sizes)})",
            attn_mask=attn_mask,
            average_attn_weights=False,
        )


def check_mha_key_padding_mask(rng, multi_head_attention):
    """key_padding_mask alone, and together with a 2-D attn_mask (boolean or float)."""
    sizes, module, (query, key, value), (padding, mask_2d, _) = _mask_setting(rng)
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
            query,
            key,
            value,
            f"{padding_name}{attn_name} ({describe(sizes)})",
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            average_attn_weights=False,
        )


CHECKS = {
    "split-heads": check_split_heads,
    "merge-heads": check_merge_heads,
    "pack-in-proj": check_pack_in_proj,
    "mha-self-attention": check_mha_self_attention,
    "mha-need-weights": check_mha_need_weights,
    "mha-kdim-vdim-bias": check_mha_kdim_vdim_bias,
    "mha-attn-mask": check_mha_attn_mask,
    "mha-key-padding-mask": check_mha_key_padding_mask,
}


# ---------------------------------------------------------------- known-wrong variants


MASK_TESTS = frozenset({"test-mha-attn-mask", "test-mha-key-padding-mask"})
ALL_MHA_TESTS = (
    frozenset({"test-mha-self-attention", "test-mha-need-weights", "test-mha-kdim-vdim-bias"})
    | MASK_TESTS
)

mistake = mistake_factory(ASSIGNMENT)

MISTAKES = [
    mistake(
        name="split_heads with a reshape but no transpose",
        cell="split-heads",
        edits=(
            (
                "L, num_heads, E // num_heads).transpose(0, 2, 1, 3)",
                "num_heads, L, E // num_heads)",
            ),
        ),
        fails=frozenset({"test-split-heads"}),
    ),
    mistake(
        name="split_heads that leaves E % num_heads != 0 to numpy's reshape error",
        cell="split-heads",
        edits=(
            (
                "    if E % num_heads:\n"
                '        raise ValueError(f"E={E} is not a multiple of num_heads={num_heads}")\n',
                "",
            ),
        ),
        fails=frozenset({"test-split-heads"}),
    ),
    mistake(
        name="heads merged with a reshape but no transpose",
        cell="merge-heads",
        edits=(("x.transpose(0, 2, 1, 3).reshape(N,", "x.reshape(N,"),),
        fails=frozenset({"test-merge-heads"}),
    ),
    mistake(
        name="article weights packed without transposing to PyTorch's (out, in) layout",
        cell="pack-in-proj",
        edits=(("side_by_side.T", "side_by_side"),),
        fails=frozenset({"test-pack-in-proj"}),
    ),
    mistake(
        name="per-head weights stacked with a reshape that mixes heads and features",
        cell="pack-in-proj",
        edits=(("W.transpose(1, 0, 2).reshape(E,", "W.reshape(E,"),),
        fails=frozenset({"test-pack-in-proj"}),
    ),
    mistake(
        name="no scaling of the scores",
        cell="multi-head-attention",
        edits=(("2) / np.sqrt(d_k)", "2)"),),
        fails=ALL_MHA_TESTS,
    ),
    mistake(
        name="scores scaled by sqrt(d_model) instead of sqrt(d_k)",
        cell="multi-head-attention",
        edits=(("np.sqrt(d_k)", "np.sqrt(E)"),),
        fails=ALL_MHA_TESTS,
    ),
    mistake(
        name="softmax over the queries instead of the keys",
        cell="multi-head-attention",
        edits=(("axis=-1)", "axis=-2)"),),
        fails=ALL_MHA_TESTS,
    ),
    mistake(
        name="inverted boolean masks (True taken as may attend)",
        cell="multi-head-attention",
        edits=(
            ("np.where(attn_mask, -np.inf, 0.0) if", "np.where(attn_mask, 0.0, -np.inf) if"),
            (
                "np.where(key_padding_mask, -np.inf, 0.0) if",
                "np.where(key_padding_mask, 0.0, -np.inf) if",
            ),
        ),
        fails=MASK_TESTS,
    ),
    mistake(
        name="heads split with a reshape but no transpose",
        cell="multi-head-attention",
        edits=(
            (
                "Q = Q.reshape(N, L, h, d_k).transpose(0, 2, 1, 3)\n"
                "    K = K.reshape(N, S, h, d_k).transpose(0, 2, 1, 3)\n"
                "    V = V.reshape(N, S, h, d_k).transpose(0, 2, 1, 3)",
                "Q = Q.reshape(N, h, L, d_k)\n"
                "    K = K.reshape(N, h, S, d_k)\n"
                "    V = V.reshape(N, h, S, d_k)",
            ),
            ("heads.transpose(0, 2, 1, 3).reshape(N,", "heads.reshape(N,"),
        ),
        fails=ALL_MHA_TESTS,
    ),
    mistake(
        name="no output projection W_O",
        cell="multi-head-attention",
        edits=(
            ("concat @ out_proj_weight.T", "concat"),
            ("output = output + out_proj_bias", "pass"),
        ),
        fails=ALL_MHA_TESTS,
    ),
    mistake(
        name="need_weights ignored (weights always returned)",
        cell="multi-head-attention",
        edits=(
            (
                "    if not need_weights:\n        return output, None\n",
                "",
            ),
        ),
        fails=frozenset({"test-mha-need-weights"}),
    ),
    mistake(
        name="a float key_padding_mask read as a boolean one",
        cell="multi-head-attention",
        edits=(("0.0) if key_padding_mask.dtype == bool else key_padding_mask", "0.0)"),),
        fails=frozenset({"test-mha-key-padding-mask"}),
    ),
    mistake(
        name="3-D attn_mask read head-major, (h, N, L, S), instead of batch-major",
        cell="multi-head-attention",
        edits=(
            ("additive.reshape(N, h, L, S)", "additive.reshape(h, N, L, S).transpose(1, 0, 2, 3)"),
        ),
        fails=frozenset({"test-mha-attn-mask"}),
    ),
    mistake(
        name="in_proj_bias assumed present (fails when bias=False)",
        cell="multi-head-attention",
        edits=(
            (
                "if in_proj_bias is not None:\n"
                "        b_q, b_k, b_v = np.split(in_proj_bias, 3)  # each (E,)\n"
                "    else:\n"
                "        b_q = b_k = b_v = 0.0",
                "b_q, b_k, b_v = np.split(in_proj_bias, 3)  # each (E,)",
            ),
        ),
        fails=frozenset({"test-mha-kdim-vdim-bias"}),
    ),
    mistake(
        name="kdim/vdim ignored (in_proj_weight used even when it is None)",
        cell="multi-head-attention",
        edits=(
            (
                "if in_proj_weight is not None:\n"
                "        W_q, W_k, W_v = np.split(in_proj_weight, 3)  # each (E, E)\n"
                "    else:\n"
                "        W_q, W_k, W_v = q_proj_weight, k_proj_weight, v_proj_weight  # (E, E), "
                "(E, kdim), (E, vdim)",
                "W_q, W_k, W_v = np.split(in_proj_weight, 3)  # each (E, E)",
            ),
        ),
        fails=frozenset({"test-mha-kdim-vdim-bias"}),
    ),
    mistake(
        name="key_padding_mask broadcast the wrong way ((N, 1, S) instead of (N, 1, 1, S))",
        cell="multi-head-attention",
        edits=(("None, :]", ":]"),),
        fails=frozenset({"test-mha-key-padding-mask"}),
    ),
    mistake(
        name="softmax without subtracting the maximum (overflows on large scores)",
        cell="multi-head-attention",
        edits=(
            (
                "softmax(scores, axis=-1)",
                "np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)",
            ),
        ),
        fails=frozenset({"test-mha-self-attention"}),
    ),
]
