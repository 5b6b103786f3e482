"""Assignment 05-multi-head-attention: hidden checks against torch.

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

from ..oracle import (
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
        [True, False], [(None, None), (kdim, vdim), (kdim, None)]
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


def check_mha_attn_mask(rng, multi_head_attention):
    sizes, module, inputs, (_, mask_2d, mask_3d) = _mask_setting(rng)
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
            inputs,
            f"{name} ({describe(sizes)})",
            attn_mask=attn_mask,
            average_attn_weights=False,
        )


def check_mha_key_padding_mask(rng, multi_head_attention):
    """key_padding_mask alone, and together with a 2-D attn_mask (boolean or float)."""
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
