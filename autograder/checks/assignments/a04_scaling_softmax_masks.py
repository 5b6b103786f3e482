"""Assignment 04-scaling-softmax-masks: hidden checks against torch, with the stress axes of each
graded function (AXES) and the inputs of each check that cover them (COVERAGE): see
autograder/checks/stress.py."""

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right
from torch.nn.utils.rnn import pad_sequence

from .. import stress
from ..oracle import (
    call_learner,
    check_array,
    check_mask,
    distinct_sizes,
    mask_over_the_top,
    numpy,
    quiet,
    require_array,
    require_same_entries,
    tensor,
)
from ..stress import LARGE_SCORES, LONG, Axis


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


def _check_softmax(softmax, x, axis=-1, expected=None, **tolerance):
    what = f"softmax(x of shape {x.shape}" + ("" if x.dtype == np.float64 else f" {x.dtype}")
    what += f", axis={axis})"
    if expected is None:
        expected = numpy(torch.softmax(tensor(x), dim=axis))
    got = call_learner(what, softmax, x.copy(), axis=axis)
    check_array(what, got, expected, **tolerance)
    if isinstance(got, np.ndarray) and got.dtype != expected.dtype:
        raise AssertionError(f"{what}: expected dtype {expected.dtype}, got {got.dtype}")


def check_softmax(rng, softmax):
    """Every rank (1-D to 4-D) and axis, an axis of length 1, a row of 64 or more entries, rows
    with some -inf, float32 kept, integers giving float64."""
    sizes = distinct_sizes(rng, ["N", "L", "S", "D"])
    full = tuple(sizes.values())
    for shape in [full[-1:], full[-2:], full]:
        x = rng.normal(scale=3.0, size=shape)
        for axis in range(-x.ndim, x.ndim):
            _check_softmax(softmax, x, axis)
    _check_softmax(softmax, rng.normal(scale=3.0, size=(full[0], 1, full[2])), axis=1)
    long = rng.normal(scale=3.0, size=(full[0], int(rng.integers(LONG, 2 * LONG))))
    long[0, rng.choice(long.shape[1], size=LONG // 2, replace=False)] = -np.inf
    _check_softmax(softmax, long)
    x32 = rng.normal(scale=3.0, size=full[1:]).astype(np.float32)
    _check_softmax(softmax, x32, axis=1, atol=1e-6, rtol=1e-5)
    integers = rng.integers(-20, 21, size=full[:2])
    integers[0, -1] = integers[0, 0]  # ties in every draw, not only when the integers repeat
    _check_softmax(
        softmax, integers, expected=numpy(torch.softmax(tensor(integers.astype(float)), dim=-1))
    )


def check_softmax_stable(rng, softmax):
    """Logits near +-1e4 along the last axis (the other test has the other axes and dtypes), a row
    of ties at the top of the range, and a row whose entries are -inf but one."""
    sizes = distinct_sizes(rng, ["N", "L", "S"])
    x = rng.normal(size=tuple(sizes.values())) * 1e4
    x[0, 0, :] = 1e4  # a row of ties at the top of the range
    x[-1, -1, 1:] = -np.inf  # one finite logit left
    _check_softmax(softmax, x)


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


def _check_attention(fn, Q, K, V, what, mask=None, sdpa_mask=None):
    """The learner's attention against torch's on (Q, K, V) with `mask` (the course's
    convention; `sdpa_mask` is the float mask that torch adds)."""
    masks = {} if mask is None else {"mask": mask.copy()}
    result = call_learner(
        f"scaled_dot_product_attention{what}", fn, Q.copy(), K.copy(), V.copy(), **masks
    )
    boolean = mask if mask is not None and mask.dtype == bool else None
    _check_pair(what, result, *_torch_attention(Q, K, V, sdpa_mask), mask=boolean)


def _shapes(Q, K, V):
    return f"(Q {Q.shape}, K {K.shape}, V {V.shape})"


def check_attention(rng, scaled_dot_product_attention):
    """General sizes, scores x1000, S of 64 or more keys, and every size at 1 (N, L, S, d_k,
    d_v)."""
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k", "d_v"])
    cases = [(sizes, 1.0), (sizes, LARGE_SCORES)]
    cases.append((dict(sizes, S=int(rng.integers(LONG, 2 * LONG))), 1.0))
    cases += [(dict(sizes, **{name: 1}), 1.0) for name in ("N", "L", "S", "d_k", "d_v")]
    for case, scale in cases:
        Q, K, V = _qkv(rng, case)
        Q *= scale
        note = "" if scale == 1.0 else f", Q x {scale:g} (scores in the thousands)"
        _check_attention(scaled_dot_product_attention, Q, K, V, _shapes(Q, K, V) + note)


def check_attention_masked(rng, scaled_dot_product_attention):
    """Boolean and float masks of shape (L, S) and (N, L, S); then scores x1000 under masks of
    both kinds that hide each row's largest score, over 64 or more keys; and one query (L = 1)."""
    sizes = distinct_sizes(rng, ["N", "L", "S", "d_k", "d_v"])
    N, L, S = sizes["N"], sizes["L"], sizes["S"]
    Q, K, V = _qkv(rng, sizes)
    for shape in [(L, S), (N, L, S)]:
        mask = _mask_with_free_rows(rng, shape)
        described = f" with a boolean mask of shape {shape}"
        _check_attention(
            scaled_dot_product_attention, Q, K, V, described, mask, np.where(mask, -np.inf, 0.0)
        )
        additive = rng.normal(size=shape)
        described = f" with a float mask of shape {shape}"
        _check_attention(scaled_dot_product_attention, Q, K, V, described, additive, additive)
    long = dict(sizes, S=int(rng.integers(LONG, 2 * LONG)))
    for case in (long, dict(sizes, L=1)):
        Q, K, V = _qkv(rng, case)
        Q *= LARGE_SCORES
        N, L, S = case["N"], case["L"], case["S"]
        score = Q @ np.swapaxes(K, -1, -2) / np.sqrt(case["d_k"])
        for shape in [(L, S), (N, L, S)]:
            mask = mask_over_the_top(rng, score, shape)
            note = f", Q x {LARGE_SCORES:g} and a boolean mask {shape} hiding the largest scores"
            sdpa = np.where(mask, -np.inf, 0.0)
            _check_attention(
                scaled_dot_product_attention, Q, K, V, _shapes(Q, K, V) + note, mask, sdpa
            )
            additive = np.where(mask, -np.inf, rng.normal(scale=100.0, size=shape))
            note = f", Q x {LARGE_SCORES:g} and a float mask {shape} with -inf on the largest"
            _check_attention(
                scaled_dot_product_attention, Q, K, V, _shapes(Q, K, V) + note, additive, additive
            )


def check_causal_mask(rng, causal_mask):
    """L < S, L > S, L = 1, S = 1, the square default, and sizes past any table a learner might
    build in advance (more than 1024 rows and columns)."""
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
    big = int(rng.integers(1025, 1400))
    for rows, columns in [(S, L), (1, S), (L, 1), (big, big + int(rng.integers(1, 50)))]:
        what = f"causal_mask({rows}, {columns})"
        expected_mask = np.triu(np.ones((rows, columns), dtype=bool), k=1)
        check_mask(what, call_learner(what, causal_mask, rows, columns), expected_mask)
    for length in (L, 1, big):
        square = torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=torch.float64)
        what = f"causal_mask({length})"
        check_mask(what, call_learner(what, causal_mask, length), np.isinf(numpy(square)))


def check_padding_mask(rng, padding_mask):
    """Lengths as a list and as an int64 or int32 array, S beyond every length and S equal to one,
    a length of 0, one sequence (N = 1), and S of 64 or more."""
    sizes = distinct_sizes(rng, ["N", "S"], low=3)
    N, S = sizes["N"], sizes["S"]
    short = rng.integers(0, S, size=N)
    short[rng.integers(N)] = 0  # an empty sequence: every position is padding
    full = rng.integers(1, S + 1, size=N)
    full[rng.integers(N)] = S
    long_S = int(rng.integers(LONG, 2 * LONG))
    cases = [
        (short, [int(n) for n in short], S),
        (full, full.copy(), S),
        (full, full.astype(np.int32), S),
        (full[:1], full[:1].copy(), S),
        (short, short.copy(), long_S),
    ]
    for lengths, given, width in cases:
        # The oracle: torch's pad_sequence pads each sequence of ones with zeros up to `width`.
        ones = [torch.ones(int(length)) for length in lengths] + [torch.ones(width)]
        padded = torch.nn.utils.rnn.pad_sequence(ones, batch_first=True, padding_value=0.0)
        kind = "a list" if isinstance(given, list) else f"an {given.dtype} array"
        what = f"padding_mask({list(map(int, lengths))} as {kind}, S={width})"
        got = call_learner(what, padding_mask, given, width)
        check_mask(what, got, numpy(padded[: len(lengths)] == 0))


def check_to_sdpa_mask(rng, to_sdpa_mask):
    """Boolean masks (L, S) and (N, L, S) through F.scaled_dot_product_attention; boolean and
    float masks of other ranks (1-D, 4-D); float64 and float32 float masks come back unchanged,
    dtype included."""
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
    for shape in [(S,), (L, S), (N, 2, L, S)]:
        mask = _mask_with_free_rows(rng, shape)
        what = f"to_sdpa_mask(boolean mask of shape {shape})"
        check_mask(what, call_learner(what, to_sdpa_mask, mask.copy()), ~mask)
        # A float mask is added to the scores in both conventions: it comes back unchanged.
        for dtype in (np.float64, np.float32):
            additive = np.where(mask, -np.inf, rng.normal(size=shape)).astype(dtype)
            what = f"to_sdpa_mask({np.dtype(dtype).name} mask of shape {shape})"
            got = call_learner(what, to_sdpa_mask, additive.copy())
            check_array(what, got, additive)
            if got.dtype != additive.dtype:
                raise AssertionError(f"{what}: expected dtype {additive.dtype}, got {got.dtype}")


# ---------------------------------------------------------------- part 4: the analysis question

ALIGNMENTS, PADDING_SIDES = ("top-left", "bottom-right"), ("right", "left")


def _torch_visible_keys(lengths, L, S, alignment, padding_side):
    """The oracle: (N, L) counts of the keys that PyTorch's masks leave each query: its causal
    mask (is_causal=True, or causal_lower_right, inside F.scaled_dot_product_attention with equal
    scores and the identity as values, so that the output rows are the weights) and its padding
    (pad_sequence on the given side)."""
    q, k, v = torch.zeros(1, L, 1), torch.zeros(1, S, 1), torch.eye(S)[None]
    with quiet():  # causal_lower_right warns when L > S: the first rows see no key
        if alignment == "top-left":
            weights = F.scaled_dot_product_attention(q, k, v, is_causal=True)[0]
        else:
            weights = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(L, S))[0]
    sequences = [torch.ones(int(n)) for n in lengths] + [torch.ones(S)]
    real = pad_sequence(sequences, batch_first=True, padding_side=padding_side)[:-1] == 1
    return numpy(((weights > 0)[None] & real[:, None, :]).sum(dim=-1))  # NaN > 0 is False too


def _check_visible_keys(visible_keys, lengths, L, S, alignment, padding_side):
    kind = "a list" if isinstance(lengths, list) else f"{np.asarray(lengths).dtype}"
    what = (
        f"visible_keys(lengths ({len(lengths)},) {kind}, L={L}, S={S}, alignment={alignment!r}, "
        f"padding_side={padding_side!r})"
    )
    got = call_learner(what, visible_keys, lengths, L, S, alignment, padding_side)
    require_array(what, got)
    if got.dtype.kind not in "iu":
        raise AssertionError(f"{what}: expected an integer array, got dtype {got.dtype}")
    require_same_entries(what, got, _torch_visible_keys(lengths, L, S, alignment, padding_side))


def _lengths(rng, N, S, as_list):
    """N lengths in 0..S: one strictly between when S >= 2, whatever N (with only 0 and S, left
    and right padding look the same), and 0 and S too when N leaves room for them."""
    lengths = rng.integers(0, S + 1, size=N)
    between = [int(rng.integers(1, S))] if S >= 2 else []
    chosen = ([0, S] if N >= len(between) + 2 else []) + between
    lengths[rng.choice(N, size=len(chosen), replace=False)] = chosen
    return lengths.tolist() if as_list else lengths.astype(rng.choice([np.int64, np.int32]))


def check_visible_keys(rng, visible_keys):
    """Both alignments and both padding sides at each size: L < S, L > S (fully masked rows at
    the bottom right), L = S, lengths 0 and S, N = 1, L = 1, S = 1, 64 or more queries and keys;
    lengths as a list or an int32/int64 array."""
    sizes = distinct_sizes(rng, ["N", "L", "S"], low=3, high=10)
    N, L, S = sizes["N"], sizes["L"], sizes["S"]
    shapes = [(N, L, S), (N, S, L), (N, L, L), (1, L, S), (N, 1, S), (N, L, 1)]
    shapes.append((N, int(rng.integers(LONG, 2 * LONG)), int(rng.integers(LONG, 2 * LONG))))
    for index, (n, queries, keys) in enumerate(shapes):
        for alignment in ALIGNMENTS:
            for padding_side in PADDING_SIDES:
                lengths = _lengths(rng, n, keys, as_list=index % 2 == 0)
                _check_visible_keys(visible_keys, lengths, queries, keys, alignment, padding_side)


CHECKS = {
    "softmax": check_softmax,
    "softmax-stable": check_softmax_stable,
    "attention": check_attention,
    "attention-masked": check_attention_masked,
    "causal-mask": check_causal_mask,
    "padding-mask": check_padding_mask,
    "to-sdpa-mask": check_to_sdpa_mask,
    "visible-keys": check_visible_keys,
}


def _attention_scores(call):
    return stress.scores(call.Q, call.K)


AXES = {
    "softmax": stress.axes(
        Axis("length", "a row of 64 or more", lambda c: stress.size(c.x, c.axis) >= LONG),
        Axis("magnitude", "logits near +-1e4", lambda c: stress.large(c.x, 1e4)),
        Axis("degenerate geometry", "ties", lambda c: np.any(np.diff(np.sort(c.x)) == 0)),
        Axis("degenerate geometry", "-inf logits", lambda c: np.any(np.isneginf(c.x))),
        Axis("size extremes", "1-D", lambda c: np.ndim(c.x) == 1),
        Axis("size extremes", "4-D", lambda c: np.ndim(c.x) == 4),
        Axis("size extremes", "an axis of length 1", lambda c: stress.size(c.x, c.axis) == 1),
        Axis("size extremes", "a positive axis", lambda c: c.axis >= 0),
        Axis("dtype", "float32", lambda c: c.x.dtype == np.float32),
        Axis("dtype", "integers", lambda c: c.x.dtype.kind == "i"),
    ),
    "scaled_dot_product_attention": stress.axes(
        Axis("length", "S of 64 or more", lambda c: stress.size(c.K, -2) >= LONG),
        *stress.attention_magnitude(_attention_scores, lambda c: c.mask),
        Axis("size extremes", "N = 1", lambda c: c.Q.shape[0] == 1),
        Axis("size extremes", "L = 1", lambda c: c.Q.shape[1] == 1),
        Axis("size extremes", "S = 1", lambda c: c.K.shape[1] == 1),
        Axis("size extremes", "d_k = 1", lambda c: c.Q.shape[2] == 1),
        Axis("size extremes", "d_v = 1", lambda c: c.V.shape[2] == 1),
        Axis("size extremes", "a mask of shape (L, S)", lambda c: np.ndim(c.mask) == 2),
        Axis("size extremes", "a mask of shape (N, L, S)", lambda c: np.ndim(c.mask) == 3),
        Axis("dtype", "a boolean mask", lambda c: stress.is_bool_mask(c.mask)),
        Axis("dtype", "a float mask", lambda c: stress.is_float_mask(c.mask)),
    ),
    "causal_mask": stress.axes(
        Axis("length", "more than 1024 rows", lambda c: c.L > 1024),
        Axis("size extremes", "L = 1", lambda c: c.L == 1),
        Axis("size extremes", "S = 1", lambda c: c.S == 1),
        Axis("size extremes", "L < S", lambda c: c.S is not None and c.L < c.S),
        Axis("size extremes", "L > S", lambda c: c.S is not None and c.L > c.S),
        Axis("size extremes", "S left out", lambda c: c.S is None),
    ),
    "padding_mask": stress.axes(
        Axis("length", "S of 64 or more", lambda c: c.S >= LONG),
        Axis("degenerate geometry", "a length of 0", lambda c: 0 in list(c.lengths)),
        Axis("degenerate geometry", "a length of S", lambda c: c.S in list(c.lengths)),
        Axis("size extremes", "N = 1", lambda c: len(c.lengths) == 1),
        Axis("dtype", "a list", lambda c: isinstance(c.lengths, list)),
        Axis("dtype", "an int32 array", lambda c: stress.array(c.lengths).dtype == np.int32),
    ),
    "to_sdpa_mask": stress.axes(
        Axis("size extremes", "1-D", lambda c: np.ndim(c.mask) == 1),
        Axis("size extremes", "4-D", lambda c: np.ndim(c.mask) == 4),
        Axis("dtype", "boolean", lambda c: stress.is_bool_mask(c.mask)),
        Axis("dtype", "float32", lambda c: c.mask.dtype == np.float32),
        Axis("dtype", "float64", lambda c: c.mask.dtype == np.float64),
    ),
    "visible_keys": stress.axes(
        Axis("length", "L and S of 64 or more", lambda c: min(c.L, c.S) >= LONG),
        Axis("degenerate geometry", "a length of 0", lambda c: 0 in list(c.lengths)),
        Axis("degenerate geometry", "a length of S", lambda c: c.S in list(c.lengths)),
        Axis(
            "degenerate geometry",
            "left padding of a length strictly between 0 and S (the sides differ only then)",
            lambda c: c.padding_side == "left" and any(0 < n < c.S for n in list(c.lengths)),
        ),
        Axis(
            "degenerate geometry",
            "fully masked rows: bottom-right with L > S",
            lambda c: c.alignment == "bottom-right" and c.L > c.S,
        ),
        Axis("size extremes", "N = 1", lambda c: len(c.lengths) == 1),
        Axis("size extremes", "L = 1", lambda c: c.L == 1),
        Axis("size extremes", "S = 1", lambda c: c.S == 1),
        Axis("size extremes", "L < S", lambda c: c.L < c.S),
        Axis("size extremes", "L = S", lambda c: c.L == c.S),
        *(
            Axis("size extremes", f"{name}={value!r}", lambda c, n=name, v=value: c[n] == v)
            for name, values in [("alignment", ALIGNMENTS), ("padding_side", PADDING_SIDES)]
            for value in values
        ),
        Axis("dtype", "a list", lambda c: isinstance(c.lengths, list)),
        Axis("dtype", "an int32 array", lambda c: stress.array(c.lengths).dtype == np.int32),
    ),
}

COVERAGE = {
    "softmax": {
        "a row of 64 or more": "a (N, 64..127) row, half of it -inf",
        "-inf logits": "the same row",
        "ties": "integer logits in [-20, 20], the first row with a tie",
        "1-D": "x (D,), every axis",
        "4-D": "x (N, L, S, D), every axis",
        "an axis of length 1": "x (N, 1, S) along axis 1",
        "a positive axis": "axes 0 .. ndim - 1",
        "float32": "x (L, S, D) float32 along axis 1",
        "integers": "integer logits (N, L), expected float64",
        **stress.EVERY_CALL,
    },
    "softmax-stable": {
        "logits near +-1e4": "N(0, 1e4) logits (N, L, S)",
        "ties": "a row of 1e4 ties",
        "-inf logits": "a row of -inf but one",
        **stress.EVERY_CALL,
    },
    "attention": {
        "S of 64 or more": "S = 64..127 keys",
        "scores x1000": "Q x 1000",
        "N = 1": "each of N, L, S, d_k, d_v set to 1 in turn",
        "L = 1": "the same",
        "S = 1": "the same",
        "d_k = 1": "the same",
        "d_v = 1": "the same",
        **stress.EVERY_CALL,
    },
    "attention-masked": {
        "S of 64 or more": "S = 64..127 keys with Q x 1000 and masks",
        "scores x1000 under a boolean mask hiding the largest": (
            "boolean masks (L, S) and (N, L, S) over each row's largest score, Q x 1000"
        ),
        "scores x1000 under a float mask hiding the largest": (
            "float masks with -inf over each row's largest score and N(0, 100) elsewhere"
        ),
        "L = 1": "one query, Q x 1000, both kinds of mask",
        "a mask of shape (L, S)": "random boolean and float masks",
        "a mask of shape (N, L, S)": "random boolean and float masks",
        "a boolean mask": "every row keeps one key",
        "a float mask": "N(0, 1) entries",
        **stress.EVERY_CALL,
    },
    "causal-mask": {
        "more than 1024 rows": "L = S - k, L in 1025..1399, and the square one",
        "L = 1": "(1, S) and causal_mask(1)",
        "S = 1": "(L, 1)",
        "L < S": "(L, S) with L < S or L > S as drawn, and (S, L)",
        "L > S": "the same",
        "S left out": "causal_mask(L), causal_mask(1), causal_mask(1025..1399)",
        **stress.EVERY_CALL,
    },
    "padding-mask": {
        "S of 64 or more": "S = 64..127",
        "a length of 0": "one empty sequence",
        "a length of S": "one full sequence",
        "N = 1": "one sequence",
        "a list": "lengths as a list",
        "an int32 array": "lengths as int32",
        **stress.EVERY_CALL,
    },
    "to-sdpa-mask": {
        "1-D": "masks (S,)",
        "4-D": "masks (N, 2, L, S)",
        "boolean": "boolean masks of every rank",
        "float32": "float32 masks with -inf, compared with their dtype",
        "float64": "float64 masks with -inf",
        **stress.EVERY_CALL,
    },
    "visible-keys": {
        "L and S of 64 or more": "L, S = 64..127",
        "a length of 0": "0 and S among the lengths whenever N >= 3",
        "a length of S": "the same",
        "left padding of a length strictly between 0 and S (the sides differ only then)": (
            "one length in 1..S-1 whenever S >= 2, at every shape and both padding sides"
        ),
        "fully masked rows: bottom-right with L > S": "(N, L, S) and (N, S, L): one has L > S",
        "N = 1": "one sequence",
        "L = 1": "one query",
        "S = 1": "one key",
        "L < S": "(N, L, S) and (N, S, L): one of them has L < S",
        "L = S": "self-attention (N, L, L)",
        **{
            f"{name}={value!r}": "every shape"
            for name, values in [("alignment", ALIGNMENTS), ("padding_side", PADDING_SIDES)]
            for value in values
        },
        "a list": "lengths as a list in every other shape",
        "an int32 array": "int32 or int64 arrays in the others",
        **stress.EVERY_CALL,
    },
}
