"""Assignment 08-small-gpt: hidden checks against torch.

Oracles: ``torch.nn.RMSNorm``; RoPE in the complex form of chapter 8 (``torch.view_as_complex``,
``torch.polar``), and RoPE's defining property (scores unchanged when every position is shifted);
``nn.TransformerEncoderLayer(norm_first=True, batch_first=True)`` called with a causal mask;
``F.cross_entropy(..., ignore_index=pad_id)`` on the shifted targets; ``TinyGPT``, chapter 8's
small GPT in PyTorch, run over the whole sequence, and greedy decoding by such a whole pass at every
step. The oracles are the exercise's own tools cell, run once from the solution notebook
(:func:`tools`), so that the visible and the hidden tests compare with one and the same code.

The model of part 5 calls the learner's ``rms_norm`` and ``apply_rope``: a wrong part 1 or 2
fails part 5 too, as the known mistakes list.

Long by design (over 300 lines): one module per exercise, as ``__init__.py`` explains.
"""

import functools

import numpy as np
import torch

from autograder import course
from autograder.checks import notebook_helpers
from autograder.course import notebook_format

from .. import stress
from ..hidden import describe_value
from ..oracle import (
    call_learner,
    check_array,
    check_count,
    describe,
    distinct_sizes,
    quiet,
    require_array,
    require_same_entries,
)
from ..stress import LONG, Axis

ASSIGNMENT = "08-small-gpt"
TOOLS_CELLS = ("imports", "tools")  # the read-only cells that define the oracles
FAR = 10_000  # positions past this: no table of rotations made in advance reaches them
FAR_CACHE = 1024  # a cache past this: longer than a context window a learner might fix
LARGE_ACTIVATIONS = 1e8
EPS = 1e-5  # every RMSNorm of part 5's model


@functools.cache
def tools() -> dict:
    """The names that the exercise's tools cell defines (the PyTorch oracles and comparisons of the
    visible tests), run once from the solution notebook on top of the shared helper cell."""
    namespace = dict(vars(notebook_helpers))
    namespace["__name__"] = f"{ASSIGNMENT} tools"
    notebook = course.read_notebook(course.solution_notebook(ASSIGNMENT))
    cells = {notebook_format.cell_grade_id(cell): cell.source for cell in notebook.cells}
    with quiet():
        for grade_id in TOOLS_CELLS:
            exec(compile(cells[grade_id], f"<{ASSIGNMENT} {grade_id}>", "exec"), namespace)
    return namespace


def _seed(rng) -> int:
    return int(rng.integers(2**31))


# ---------------------------------------------------------------- part 1: RMSNorm


def _compare_rms_norm(rms_norm, x, weight, eps, what, **tolerance):
    expected = tools()["torch_rms_norm"](x, weight, eps)
    what = f"rms_norm(x {x.shape} {x.dtype}, weight {weight.shape}, eps={eps:g}), {what}"
    got = call_learner(what, rms_norm, x.copy(), weight.copy(), eps)
    check_array(what, got, expected, **tolerance)
    if got.dtype != expected.dtype:
        raise AssertionError(f"{what}: expected a {expected.dtype} result, got {got.dtype}")


def check_rms_norm(rng, rms_norm):
    """Ranks 1 to 4 (a leading axis of 1 among them), sizes drawn apart, 64 or more tokens, eps
    drawn."""
    sizes = distinct_sizes(rng, ["N", "L", "E", "h"])
    N, L, E, h = (sizes[name] for name in ("N", "L", "E", "h"))
    eps = float(rng.choice([1e-6, 1e-5, 1e-3]))
    long = int(rng.integers(LONG, 2 * LONG))
    for shape in [(E,), (L, E), (N, L, E), (N, h, L, E), (1, L, E), (N, long, E)]:
        x = rng.normal(loc=rng.normal(), scale=3.0, size=shape)
        weight = rng.normal(loc=1.0, scale=0.3, size=E)
        _compare_rms_norm(rms_norm, x, weight, eps, describe(sizes))


def check_rms_norm_extremes(rng, rms_norm):
    """Activations near 1e-3 with eps up to 1e-2 (eps matters), offset by 1e8 and near 1e100, E = 1,
    and float32 inputs, whose dtype the result keeps."""
    sizes = distinct_sizes(rng, ["N", "L", "E"])
    N, L, E = (sizes[name] for name in ("N", "L", "E"))
    weight = rng.normal(loc=1.0, scale=0.3, size=E)
    normal = functools.partial(rng.normal, size=(N, L, E))
    cases = [
        ("activations near 1e-3, where eps matters", 1e-3 * normal(), weight, 1e-2 * rng.random()),
        ("activations offset by 1e8", LARGE_ACTIVATIONS + 1e6 * normal(), weight, 1e-6),
        ("activations near 1e100", 1e100 * normal(), weight, 1e-6),
        ("E = 1", rng.normal(size=(N, L, 1)), weight[:1], 1e-5),
    ]
    for what, x, w, eps in cases:
        _compare_rms_norm(rms_norm, x, w, eps, what)
    for scale in (1.0, 1e3):
        x32 = (scale * normal()).astype(np.float32)
        _compare_rms_norm(
            rms_norm, x32, weight.astype(np.float32), 1e-6, "float32", atol=1e-6, rtol=1e-5
        )


# ---------------------------------------------------------------- part 2: RoPE


def _rope_sizes(rng):
    """N, h, L and d_k (even), pairwise different."""
    while True:
        sizes = distinct_sizes(rng, ["N", "h", "L", "pairs"])
        sizes["d_k"] = 2 * sizes.pop("pairs")
        if len(set(sizes.values())) == len(sizes):
            return sizes


def _compare_rope(apply_rope, x, positions, what, base=None):
    arguments = (x.copy(), positions.copy()) + (() if base is None else (base,))
    expected = tools()["rope_reference"](x, positions, 10000.0 if base is None else base)
    shown = "" if base is None else f", base={base:g}"
    what = f"apply_rope(x {x.shape}, positions {positions.shape} {positions.dtype}{shown}), {what}"
    check_array(what, call_learner(what, apply_rope, *arguments), expected)


def check_rope(rng, apply_rope):
    """Positions drawn anywhere up to 100,000, in any order and with a repeat; ranks 2 to 5; L = 1,
    N = 1, h = 1, d_k = 2; 64 or more positions; int32 positions; another base."""
    sizes = _rope_sizes(rng)
    N, h, L, d_k = (sizes[name] for name in ("N", "h", "L", "d_k"))
    far = int(rng.integers(FAR, 10 * FAR))
    long = int(rng.integers(LONG, 2 * LONG))
    shuffled = rng.permutation(far)[:L]
    if np.all(np.diff(shuffled) > 0):  # a short draw may come out sorted; never leave it so
        shuffled[[0, 1]] = shuffled[[1, 0]]
    cases = [  # shape, positions, what
        ((N, h, L, d_k), np.arange(L), "positions 0 .. L-1"),
        ((N, h, L, d_k), shuffled, "positions drawn up to 100,000, in any order"),
        ((L, d_k), np.repeat(rng.integers(0, 50, size=(L + 1) // 2), 2)[:L], "repeated positions"),
        ((N, L, d_k), far + np.arange(L), f"positions from {far}"),
        ((2, N, h, L, d_k), rng.integers(0, far, size=L), "five axes"),
        ((N, h, 1, d_k), rng.integers(0, far, size=1), "L = 1"),
        ((1, 1, L, d_k), np.arange(3, 3 + L), "N = h = 1"),
        ((N, h, L, 2), np.arange(L) * 7, "d_k = 2"),
        ((N, long, d_k), far + np.arange(long), "64 or more positions"),
    ]
    for shape, positions, what in cases:
        _compare_rope(apply_rope, rng.normal(size=shape), positions, f"{what} ({describe(sizes)})")
    int32 = rng.integers(0, far, size=L).astype(np.int32)
    _compare_rope(apply_rope, rng.normal(size=(N, h, L, d_k)), int32, "int32 positions")
    base = float(rng.choice([100.0, 500.0, 1e6]))
    _compare_rope(apply_rope, rng.normal(size=(N, h, L, d_k)), np.arange(L), "another base", base)


def check_rope_relative(rng, apply_rope):
    """Queries and keys at hidden positions (queries after the keys, as with a cache), every
    position then shifted by hidden amounts up to 100,000: the learner's scores must not change,
    and must equal the complex form's."""
    sizes = _rope_sizes(rng)
    N, h, L, d_k = (sizes[name] for name in ("N", "h", "L", "d_k"))
    S = L + int(rng.integers(1, 8))
    q, k = rng.normal(size=(N, h, L, d_k)), rng.normal(size=(N, h, S, d_k))
    key_positions = np.sort(rng.choice(FAR, size=S, replace=False))
    query_positions = key_positions[-1] + np.sort(rng.choice(100, size=L, replace=False))
    reference = tools()["rope_reference"]
    expected = reference(q, query_positions) @ np.swapaxes(reference(k, key_positions), -1, -2)
    for shift in [0, *rng.integers(1, 10 * FAR, size=3)]:
        what = (
            f"scores of apply_rope(q {q.shape}) and apply_rope(k {k.shape}), every position "
            f"shifted by {shift} ({describe(dict(sizes, S=S))})"
        )
        rotated_q = call_learner(what, apply_rope, q.copy(), query_positions + shift)
        rotated_k = call_learner(what, apply_rope, k.copy(), key_positions + shift)
        for name, rotated, shape in [("q", rotated_q, q.shape), ("k", rotated_k, k.shape)]:
            require_array(f"{what}: rotated {name}", rotated)
            if rotated.shape != shape:
                raise AssertionError(
                    f"{what}: rotated {name} has shape {rotated.shape}, not {shape}"
                )
        got = rotated_q @ np.swapaxes(rotated_k, -1, -2)
        check_array(what, got, expected, atol=1e-9)


# ---------------------------------------------------------------- part 3: the pre-norm block


def _block_sizes(rng):
    """N, L, h, d_k and d_ff, with E = h d_k: all pairwise different."""
    while True:
        sizes = distinct_sizes(rng, ["N", "L", "h", "d_k", "d_ff"])
        sizes["E"] = sizes["h"] * sizes["d_k"]
        if len(set(sizes.values())) == len(sizes):
            return sizes


def _compare_block(rng, decoder_block, sizes, what, *, x=None, eps=None, attention_scale=1.0):
    T = tools()
    N, L, E, h, d_ff = (sizes[name] for name in ("N", "L", "E", "h", "d_ff"))
    layer = T["random_encoder_layer"](E, h, d_ff, seed=_seed(rng), eps=1e-5 if eps is None else eps)
    with torch.no_grad():
        layer.self_attn.in_proj_weight[: 2 * E] *= attention_scale  # W_Q and W_K
    x = rng.normal(size=(N, L, E)) if x is None else x
    expected = T["torch_decoder_block"](layer, x)
    arguments = (x.copy(), T["layer_params"](layer), h) + (() if eps is None else (eps,))
    shown = "" if eps is None else f", eps={eps:g}"
    what = f"decoder_block(x {x.shape}, params, num_heads={h}{shown}), {what} ({describe(sizes)})"
    check_array(what, call_learner(what, decoder_block, *arguments), expected)


def check_decoder_block(rng, decoder_block):
    """General sizes; h = 1, h = E, N = 1, L = 1, d_ff = 1, and 64 or more tokens."""
    sizes = _block_sizes(rng)
    cases = [
        (sizes, "general sizes"),
        (dict(sizes, h=1, d_k=sizes["E"]), "one head"),
        (dict(sizes, h=sizes["E"], d_k=1), "h = E: heads of width 1"),
        (dict(sizes, N=1), "one sequence"),
        (dict(sizes, L=1), "one token"),
        (dict(sizes, d_ff=1), "d_ff = 1"),
        (dict(sizes, L=int(rng.integers(LONG, LONG + 16))), "64 or more tokens"),
    ]
    for case, what in cases:
        _compare_block(rng, decoder_block, case, what)


def check_decoder_block_large(rng, decoder_block):
    """Activations offset by 1e6 (LayerNorm's variance), W_Q and W_K x30 (scores in the thousands,
    the largest of some rows hidden by the causal mask), and eps = 1e-3 with small activations."""
    sizes = _block_sizes(rng)
    N, L, E = (sizes[name] for name in ("N", "L", "E"))
    offset = 1e6 + rng.normal(size=(N, L, E))
    _compare_block(rng, decoder_block, sizes, "activations offset by 1e6", x=offset)
    _compare_block(rng, decoder_block, sizes, "scores in the thousands", attention_scale=30.0)
    small = 0.05 * rng.normal(size=(N, L, E))
    _compare_block(rng, decoder_block, sizes, "small activations", x=small, eps=1e-3)


# ---------------------------------------------------------------- part 4: the next-token loss


def _compare_loss(next_token_loss, logits, tokens, pad_id, what):
    T = tools()
    expected = T["torch_next_token_loss"](logits, tokens, pad_id)
    what = (
        f"next_token_loss(logits {logits.shape}, tokens {tokens.shape} {tokens.dtype}, "
        f"pad_id={pad_id}), {what}"
    )
    got = call_learner(what, next_token_loss, logits.copy(), tokens.copy(), pad_id)
    T["check_number"](what, got, expected)


def _padded(rng, tokens, pad_id):
    """`tokens` (L >= 3) with padding at the end of one sequence, and anywhere in the others; the
    first sequence's first target always counts (the loss with nothing to count is
    test-loss-extremes' case, not this one's), and the second starts with padding then a real
    token (the loss counts that target)."""
    padded = tokens.copy()
    N, L = tokens.shape
    padded[0, int(rng.integers(2, L)) :] = pad_id
    padded[1:][rng.random((N - 1, L)) < 0.3] = pad_id
    real = pad_id - 1 if pad_id > 0 else 1  # an id other than pad_id (when it is one, V >= 2)
    if padded[0, 1] == pad_id:
        padded[0, 1] = real
    if N >= 2:  # padding followed by a real token, whatever the draw
        padded[1, 0] = pad_id
        if padded[1, 1] == pad_id:
            padded[1, 1] = tokens[1, 1] if tokens[1, 1] != pad_id else real
    return padded


def check_loss(rng, next_token_loss):
    """pad_id an id of the vocabulary and pad_id = -100, padding at the end, the start and the
    middle; V = 2, N = 1, 64 or more tokens and a vocabulary of 64 or more; int32 tokens."""
    sizes = distinct_sizes(rng, ["N", "L", "V"], low=3)
    N, L, V = (sizes[name] for name in ("N", "L", "V"))
    logits = rng.normal(scale=2.0, size=(N, L, V))
    tokens = rng.integers(0, V, size=(N, L))
    vocabulary_pad = int(rng.integers(0, V))
    for pad_id in (vocabulary_pad, -100):
        padded = _padded(rng, tokens, pad_id)
        _compare_loss(next_token_loss, logits, padded, pad_id, describe(sizes))
    long, wide = int(rng.integers(LONG, 2 * LONG)), int(rng.integers(LONG, 2 * LONG))
    cases = [  # (N, L, V), pad_id, what
        ((N, L, 2), 1, "V = 2, pad_id = 1"),
        ((1, L, V), -100, "N = 1"),
        ((N, long, V), vocabulary_pad, "64 or more tokens"),
        ((N, L, wide), -100, "a vocabulary of 64 or more"),
    ]
    for (n, length, vocabulary), pad_id, what in cases:
        tokens = rng.integers(0, vocabulary, size=(n, length))
        logits = rng.normal(scale=2.0, size=(n, length, vocabulary))
        if n > 1:
            tokens = _padded(rng, tokens, pad_id)
        _compare_loss(next_token_loss, logits, tokens, pad_id, what)
    tokens32 = _padded(rng, rng.integers(0, V, size=(N, L)), -100).astype(np.int32)
    _compare_loss(next_token_loss, logits, tokens32, -100, "int32 tokens")


def check_loss_extremes(rng, next_token_loss):
    """Logits near 1e4 and offset by 1e6 (an exp overflows); V = 1; L = 2; nothing that counts
    (L = 1, and nothing but padding after the first token): NaN."""
    sizes = distinct_sizes(rng, ["N", "L", "V"], low=3)
    N, L, V = (sizes[name] for name in ("N", "L", "V"))
    tokens = rng.integers(0, V, size=(N, L))
    only_padding = np.full((N, L), int(rng.integers(0, V)))
    cases = [  # logits, tokens, pad_id, what
        (1e4 * rng.normal(size=(N, L, V)), _padded(rng, tokens, -100), -100, "logits near 1e4"),
        (1e6 + rng.normal(size=(N, L, V)), tokens, -100, "logits offset by 1e6"),
        (rng.normal(size=(N, L, 1)), np.zeros((N, L), dtype=np.int64), -100, "V = 1"),
        (rng.normal(size=(N, 2, V)), tokens[:, :2], -100, "L = 2: one target each"),
        (rng.normal(size=(N, 1, V)), tokens[:, :1], -100, "L = 1: no target"),
        (rng.normal(size=(N, L, V)), only_padding, int(only_padding[0, 0]), "only padding"),
    ]
    for logits, tokens, pad_id, what in cases:
        _compare_loss(next_token_loss, logits, tokens, pad_id, f"{what} ({describe(sizes)})")


# ---------------------------------------------------------------- part 5: the model and generation


def _gpt_sizes(rng):
    """N, V, h, d_k (even), d_ff and the number of blocks, with E = h d_k."""
    while True:
        sizes = distinct_sizes(rng, ["N", "V", "h", "pairs", "d_ff"])
        sizes["d_k"] = 2 * sizes.pop("pairs")
        sizes["E"] = sizes["h"] * sizes["d_k"]
        sizes["layers"] = int(rng.integers(2, 4))
        if len(set(sizes.values()) - {sizes["layers"]}) == len(sizes) - 1:
            return sizes


def _model(rng, sizes, attention_scale=1.0):
    T = tools()
    model = T["random_gpt"](
        *(sizes[name] for name in ("V", "E", "h", "layers", "d_ff")), seed=_seed(rng)
    )
    with torch.no_grad():
        for block in model.blocks:
            block["in_proj"].weight[: 2 * sizes["E"]] *= attention_scale  # W_Q and W_K
    return model


def _compare_forward(
    rng, gpt_forward, sizes, T_total, t, what, *, cache="arrays", scale=1.0, dtype=np.int64
):
    """The model over T_total tokens at once against the learner's gpt_forward on the last
    T_total - t of them after a cache of the first t (None, or arrays; t may be 0)."""
    T = tools()
    model = _model(rng, sizes, scale)
    tokens = rng.integers(0, sizes["V"], size=(sizes["N"], T_total)).astype(dtype)
    logits, full_cache = T["torch_forward"](model, tokens)
    cached = (
        None if cache is None else [(k[:, :, :t].copy(), v[:, :, :t].copy()) for k, v in full_cache]
    )
    shown = "None" if cached is None else f"{len(cached)} blocks of {cached[0][0].shape}"
    what = (
        f"gpt_forward(tokens {tokens[:, t:].shape} {tokens.dtype}, cache {shown}, params, "
        f"num_heads={sizes['h']}), {what} ({describe(sizes)})"
    )
    got = call_learner(
        what, gpt_forward, tokens[:, t:].copy(), cached, T["gpt_params"](model), sizes["h"]
    )
    T["check_forward"](what, got, logits[:, t:], full_cache)


def check_gpt_forward(rng, gpt_forward):
    """No cache (None) and an empty one; 64 or more cached tokens; more than 1024; one new token;
    h = 1, d_k = 2, N = 1, V = 1, one block; W_Q and W_K x30 (scores in the thousands, one block);
    int32."""
    sizes = _gpt_sizes(rng)
    L, t = int(rng.integers(2, 9)), int(rng.integers(1, 9))
    long, far = int(rng.integers(LONG, 2 * LONG)), int(rng.integers(FAR_CACHE + 1, FAR_CACHE + 80))
    cases = [  # sizes, total tokens, cached tokens, what, options
        (sizes, L, 0, "no cache", dict(cache=None)),
        (sizes, L, 0, "an empty cache", {}),
        (sizes, t + L, t, f"{t} cached tokens", {}),
        (sizes, long + 1, long, "64 or more cached tokens, one new token", {}),
        (dict(sizes, N=1), far + L, far, f"{far} cached tokens", {}),
        (dict(sizes, h=1, E=sizes["d_k"]), t + L, t, "one head", {}),
        (dict(sizes, d_k=2, E=2 * sizes["h"]), t + L, t, "d_k = 2", {}),
        (dict(sizes, N=1, layers=1), t + L, t, "N = 1, one block", {}),
        (dict(sizes, V=1), L, 0, "V = 1", dict(cache=None)),
        # One block: with scores in the thousands each block's softmax is nearly one-hot, and
        # rounding in one block's weights grows past the tolerance in the next block's keys.
        (dict(sizes, layers=1), t + L, t, "scores in the thousands", dict(scale=30.0)),
        (sizes, t + L, t, "int32 tokens", dict(dtype=np.int32)),
    ]
    for case, total, cached, what, options in cases:
        _compare_forward(rng, gpt_forward, case, total, cached, what, **options)


def _check_greedy(what, got, model, prompt, new_tokens):
    """generate_greedy's answer against the model. By causality, one whole forward pass over the
    answer's tokens gives, at each position, the logits that a whole pass over the tokens up to it
    gives: the pass that greedy decoding without a cache makes at every step. So the answer's
    logits must equal that pass's, and each new token must be their argmax (a tie within 1e-9 may
    go either way)."""
    T = tools()
    if not isinstance(got, tuple) or len(got) != 2:
        raise AssertionError(f"{what}: expected a pair (tokens, logits), got {describe_value(got)}")
    tokens, logits = got
    require_array(f"{what}: tokens", tokens)
    N, L0 = prompt.shape
    if tokens.dtype.kind not in "iu" or tokens.shape != (N, L0 + new_tokens):
        raise AssertionError(
            f"{what}: expected integer tokens of shape {(N, L0 + new_tokens)}, got "
            f"{describe_value(tokens)}"
        )
    require_same_entries(f"{what}: the prompt, at the start of the tokens", tokens[:, :L0], prompt)
    V = model.embed.weight.shape[0]
    if np.any((tokens < 0) | (tokens >= V)):
        raise AssertionError(f"{what}: tokens outside the vocabulary 0 .. {V - 1}")
    expected, _ = T["torch_forward"](model, tokens[:, :-1])
    expected = expected[:, L0 - 1 :]  # (N, new_tokens, V): what each new token is chosen from
    check_array(f"{what}: the logits each new token was chosen from", logits, expected)
    chosen = np.take_along_axis(expected, tokens[:, L0:, None], axis=-1)[..., 0]
    behind = chosen < expected.max(axis=-1) - 1e-9
    if np.any(behind):
        n, step = (int(i) for i in np.argwhere(behind)[0])
        raise AssertionError(
            f"{what}: new token {step} of sequence {n} is {int(tokens[n, L0 + step])}, but token "
            f"{int(np.argmax(expected[n, step]))} has the largest logit"
        )


def _compare_generation(rng, generate_greedy, sizes, prompt_length, new_tokens, what, dtype=None):
    T = tools()
    model = _model(rng, sizes)
    prompt = rng.integers(0, sizes["V"], size=(sizes["N"], prompt_length))
    prompt = prompt if dtype is None else prompt.astype(dtype)
    what = (
        f"generate_greedy(prompt {prompt.shape} {prompt.dtype}, {new_tokens}, params, "
        f"num_heads={sizes['h']}), {what} ({describe(sizes)})"
    )
    params = T["gpt_params"](model)
    got = call_learner(what, generate_greedy, prompt.copy(), new_tokens, params, sizes["h"])
    _check_greedy(what, got, model, prompt, new_tokens)


def check_generate(rng, generate_greedy):
    """64 or more new tokens; a prompt past 1024 positions; a prompt of one token; one new token;
    N = 1, V = 1, V = 2; an int32 prompt."""
    sizes = _gpt_sizes(rng)
    long = int(rng.integers(LONG + 8, LONG + 24))  # past 64, a length a learner might fix
    far = int(rng.integers(FAR_CACHE + 1, FAR_CACHE + 40))
    L0, new = int(rng.integers(2, 6)), int(rng.integers(2, 8))
    cases = [  # sizes, prompt length, new tokens, what, prompt dtype
        (sizes, L0, long, "64 or more new tokens", None),
        (
            dict(sizes, N=1, layers=1, h=1, E=sizes["d_k"]),
            far,
            2,
            f"a prompt of {far} tokens",
            None,
        ),
        (sizes, 1, new, "a prompt of one token", None),
        (dict(sizes, N=1), L0, 1, "N = 1, one new token", None),
        (dict(sizes, V=1), L0, new, "V = 1", None),
        (dict(sizes, V=2), L0, new, "V = 2", None),
        (sizes, L0, new, "int32 prompt", np.int32),
    ]
    for case, prompt_length, new_tokens, what, dtype in cases:
        _compare_generation(rng, generate_greedy, case, prompt_length, new_tokens, what, dtype)


# ---------------------------------------------------------------- part 6: the analysis question


def _torch_parameters(V, E, num_heads, num_layers, d_ff, tied=True) -> int:
    """The oracle: numel() added up over the parameters of the tools cell's TinyGPT (chapter 8's
    small GPT, tied), with an output head nn.Linear(E, V, bias=False) of its own when tied=False as
    chapter 8's SmallGPT(tied=False) adds; built on the meta device in float8 (one byte a number,
    so that even 10**19 parameters have a storage size torch can compute). The blocks are alike
    (each made from the same arguments), so the model is built with one and that block is counted
    num_layers times: on the meta device every module runs through Python, about a millisecond a
    block."""
    dtype = torch.float8_e4m3fn
    with quiet(), torch.device("meta"):
        model = tools()["TinyGPT"](V, E, num_heads, 1, d_ff, dtype=dtype)
        head = [] if tied else [torch.nn.Linear(E, V, bias=False, dtype=dtype)]

    def count(module) -> int:
        return sum(parameter.numel() for parameter in module.parameters())

    return sum(map(count, [model, *head])) + (num_layers - 1) * count(model.blocks[0])


def _check_parameters(gpt_parameters, V, E, num_heads, num_layers, d_ff, **options):
    arguments = (V, E, num_heads, num_layers, d_ff)
    what = "gpt_parameters(V={}, E={}, num_heads={}, num_layers={}, d_ff={}".format(*arguments)
    what += "".join(f", {name}={value}" for name, value in options.items()) + ")"
    got = call_learner(what, gpt_parameters, *arguments, **options)
    check_count(what, got, _torch_parameters(*arguments, **options))


def check_gpt_parameters(rng, gpt_parameters):
    """Tied and untied at sizes all different; one head, heads of width 2, one block, d_ff = 1,
    V = 1; 64 or more blocks and a vocabulary of 64 or more; counts beyond 2**53 (a width of about
    67 million) and beyond 2**63 (a width of about a billion)."""
    sizes = distinct_sizes(rng, ["V", "h", "layers", "F"], low=2, high=12)
    V, h, layers, F = (sizes[name] for name in ("V", "h", "layers", "F"))
    E = h * 2 * int(rng.integers(2, 5))  # heads of even width, as RoPE needs
    cases = [(V, E, h, layers, F, {}), (V, E, h, layers, F, {"tied": False})]
    cases += [(V, E, 1, layers, F, {}), (V, 2 * h, h, layers, F, {"tied": False})]
    cases += [(V, E, h, 1, F, {}), (V, E, h, layers, 1, {"tied": False}), (1, E, h, layers, F, {})]
    long = int(rng.integers(LONG, 2 * LONG))
    cases += [(long * V, E, h, long, F, {}), (long * V, E, h, long, F, {"tied": False})]
    # Odd halves: the count is 2 * an odd number past 2**53, which a float cannot hold.
    wide = 2 * stress.odd(rng, 2**25, 2**26)
    cases += [(2 * int(rng.integers(2**24, 2**25)), wide, 1, 1, stress.odd(rng, 2**26, 2**27), {})]
    huge = 4 * int(rng.integers(275_000_000, 325_000_000))  # 2 heads of even width
    cases.append((int(rng.integers(2, 1000)), huge, 2, 1, 2 * huge + stress.odd(rng, 1, 1000), {}))
    for V_case, E_case, h_case, layers_case, F_case, options in cases:
        _check_parameters(gpt_parameters, V_case, E_case, h_case, layers_case, F_case, **options)


CHECKS = {
    "rms-norm": check_rms_norm,
    "rms-norm-extremes": check_rms_norm_extremes,
    "rope": check_rope,
    "rope-relative": check_rope_relative,
    "decoder-block": check_decoder_block,
    "decoder-block-large": check_decoder_block_large,
    "loss": check_loss,
    "loss-extremes": check_loss_extremes,
    "gpt-forward": check_gpt_forward,
    "generate": check_generate,
    "gpt-parameters": check_gpt_parameters,
}


# ---------------------------------------------------------------- the stress axes


def _eps_matters(call) -> bool:
    """Is eps at least a tenth of some token's mean square?"""
    mean_square = np.mean(np.square(np.asarray(call.x, dtype=np.float64)), axis=-1)
    return bool(np.any(call.eps >= 0.1 * mean_square))


def _block_scores(call) -> np.ndarray:
    """The scaled scores (N, h, L, L) of the block's attention, as the reference computes them."""
    x, params, h = call.x, call.params, call.num_heads
    N, L, E = x.shape
    centred = x - x.mean(axis=-1, keepdims=True)
    normed = centred / np.sqrt(centred.var(axis=-1, keepdims=True) + call.eps)
    normed = normed * params["norm1.weight"] + params["norm1.bias"]
    W, b = params["self_attn.in_proj_weight"][: 2 * E], params["self_attn.in_proj_bias"][: 2 * E]
    q, k = np.split(normed @ W.T + b, 2, axis=-1)
    return stress.scores(*(np.swapaxes(z.reshape(N, L, h, E // h), 1, 2) for z in (q, k)))


def _causal(call) -> np.ndarray:
    L = call.x.shape[1]
    return np.triu(np.ones((L, L), dtype=bool), k=1)


def _cache_length(call) -> int:
    return 0 if call.cache is None else int(np.shape(call.cache[0][0])[2])


def _first_block_scores(call) -> np.ndarray:
    """The first block's scaled scores of the new tokens' queries against their own keys."""
    block, h = call.params["blocks"][0], call.num_heads
    x = call.params["embed"][call.tokens]
    N, L, E = x.shape
    normed = x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + EPS) * block["norm1"]
    q, k = np.split(normed @ block["in_proj"][: 2 * E].T, 2, axis=-1)
    positions = _cache_length(call) + np.arange(L)
    rope = tools()["rope_reference"]
    return stress.scores(
        *(rope(np.swapaxes(z.reshape(N, L, h, E // h), 1, 2), positions) for z in (q, k))
    )


def _vocabulary(call) -> int:
    return call.params["embed"].shape[0]


def _heads_and_width(call) -> tuple[int, int]:
    return call.num_heads, call.params["embed"].shape[1] // call.num_heads


def _count(call) -> int:
    return _torch_parameters(**call)


AXES = {
    "rms_norm": stress.axes(
        Axis("length", "64 or more tokens", lambda c: np.ndim(c.x) >= 2 and c.x.shape[-2] >= LONG),
        Axis("magnitude", "activations of 1e8 or more", lambda c: stress.large(c.x, 1e8)),
        Axis("magnitude", "activations where eps matters", _eps_matters),
        Axis("size extremes", "one token (E,)", lambda c: np.ndim(c.x) == 1),
        Axis("size extremes", "E = 1", lambda c: c.x.shape[-1] == 1),
        Axis(
            "size extremes",
            "a leading axis of 1",
            lambda c: np.ndim(c.x) >= 2 and 1 in c.x.shape[:-1],
        ),
        Axis("size extremes", "four axes", lambda c: np.ndim(c.x) == 4),
        Axis("dtype", "float32, kept", lambda c: c.x.dtype == np.float32),
    ),
    "apply_rope": stress.axes(
        Axis("length", "64 or more positions", lambda c: np.size(c.positions) >= LONG),
        Axis("length", "positions past 10,000", lambda c: np.max(c.positions) > FAR),
        Axis(
            "degenerate geometry",
            "a repeated position",
            lambda c: len(np.unique(c.positions)) < np.size(c.positions),
        ),
        Axis(
            "degenerate geometry",
            "positions not in increasing order",
            lambda c: np.any(np.diff(c.positions) < 0),
        ),
        Axis("size extremes", "L = 1", lambda c: np.size(c.positions) == 1),
        Axis("size extremes", "d_k = 2", lambda c: c.x.shape[-1] == 2),
        Axis("size extremes", "no leading axis (L, d_k)", lambda c: c.x.ndim == 2),
        Axis("size extremes", "N = h = 1", lambda c: c.x.ndim == 4 and c.x.shape[:2] == (1, 1)),
        Axis("size extremes", "five axes", lambda c: c.x.ndim == 5),
        Axis("size extremes", "another base", lambda c: c.base != 10000.0),
        Axis("dtype", "int32 positions", lambda c: np.asarray(c.positions).dtype == np.int32),
    ),
    "decoder_block": stress.axes(
        Axis("length", "64 or more tokens", lambda c: c.x.shape[1] >= LONG),
        Axis(
            "magnitude",
            "activations offset by 1e6",
            lambda c: stress.large(np.mean(c.x, axis=-1), 1e6),
        ),
        Axis("magnitude", "scores x1000", lambda c: stress.large(_block_scores(c))),
        Axis(
            "magnitude",
            "scores x1000 with the largest hidden by the causal mask",
            lambda c: stress.hides_the_top(_block_scores(c), _causal(c)),
        ),
        Axis("size extremes", "h = 1", lambda c: c.num_heads == 1),
        Axis("size extremes", "h = E", lambda c: c.num_heads == c.x.shape[-1]),
        Axis("size extremes", "N = 1", lambda c: c.x.shape[0] == 1),
        Axis("size extremes", "L = 1", lambda c: c.x.shape[1] == 1),
        Axis("size extremes", "d_ff = 1", lambda c: c.params["linear1.weight"].shape[0] == 1),
        Axis("size extremes", "eps other than 1e-5", lambda c: c.eps != 1e-5),
    ),
    "next_token_loss": stress.axes(
        Axis("length", "64 or more tokens", lambda c: c.tokens.shape[1] >= LONG),
        Axis("length", "a vocabulary of 64 or more", lambda c: c.logits.shape[-1] >= LONG),
        Axis("magnitude", "logits of 1e4 or more", lambda c: stress.large(c.logits, 1e4)),
        Axis(
            "degenerate geometry",
            "pad_id outside the vocabulary",
            lambda c: not 0 <= c.pad_id < c.logits.shape[-1],
        ),
        Axis(
            "degenerate geometry",
            "pad_id an id of the vocabulary",
            lambda c: 0 <= c.pad_id < c.logits.shape[-1] and np.any(c.tokens == c.pad_id),
        ),
        Axis(
            "degenerate geometry",
            "padding followed by a real token",
            lambda c: np.any((c.tokens[:, :-1] == c.pad_id) & (c.tokens[:, 1:] != c.pad_id)),
        ),
        Axis("size extremes", "V = 1", lambda c: c.logits.shape[-1] == 1),
        Axis("size extremes", "V = 2", lambda c: c.logits.shape[-1] == 2),
        Axis("size extremes", "N = 1", lambda c: c.tokens.shape[0] == 1),
        Axis("size extremes", "L = 2", lambda c: c.tokens.shape[1] == 2),
        Axis(
            "size extremes",
            "nothing that counts",
            lambda c: not np.any(c.tokens[:, 1:] != c.pad_id),
        ),
        Axis("dtype", "int32 tokens", lambda c: c.tokens.dtype == np.int32),
    ),
    "gpt_forward": stress.axes(
        Axis("length", "a cache of 64 or more", lambda c: _cache_length(c) >= LONG),
        Axis("length", "a cache past 1024 tokens", lambda c: _cache_length(c) > FAR_CACHE),
        Axis("magnitude", "scores x1000", lambda c: stress.large(_first_block_scores(c))),
        Axis("size extremes", "cache None", lambda c: c.cache is None),
        Axis(
            "size extremes",
            "an empty cache",
            lambda c: c.cache is not None and _cache_length(c) == 0,
        ),
        Axis("size extremes", "one new token", lambda c: c.tokens.shape[1] == 1),
        Axis("size extremes", "h = 1", lambda c: c.num_heads == 1),
        Axis("size extremes", "d_k = 2", lambda c: _heads_and_width(c)[1] == 2),
        Axis("size extremes", "N = 1", lambda c: c.tokens.shape[0] == 1),
        Axis("size extremes", "V = 1", lambda c: _vocabulary(c) == 1),
        Axis("size extremes", "one block", lambda c: len(c.params["blocks"]) == 1),
        Axis("dtype", "int32 tokens", lambda c: c.tokens.dtype == np.int32),
    ),
    "generate_greedy": stress.axes(
        Axis("length", "64 or more new tokens", lambda c: c.new_tokens >= LONG),
        Axis("length", "a prompt past 1024 tokens", lambda c: c.prompt.shape[1] > FAR_CACHE),
        Axis("size extremes", "a prompt of one token", lambda c: c.prompt.shape[1] == 1),
        Axis("size extremes", "one new token", lambda c: c.new_tokens == 1),
        Axis("size extremes", "N = 1", lambda c: c.prompt.shape[0] == 1),
        Axis("size extremes", "V = 1", lambda c: _vocabulary(c) == 1),
        Axis("size extremes", "V = 2", lambda c: _vocabulary(c) == 2),
        Axis("dtype", "an int32 prompt", lambda c: c.prompt.dtype == np.int32),
    ),
    "gpt_parameters": stress.axes(
        Axis("length", "64 or more blocks", lambda c: c.num_layers >= LONG),
        Axis("length", "a vocabulary of 64 or more", lambda c: c.V >= LONG),
        Axis("magnitude", "a count beyond 2**53 (floats round it)", lambda c: _count(c) > 2**53),
        Axis("magnitude", "a count beyond 2**63 (int64 wraps)", lambda c: _count(c) >= 2**63),
        Axis("size extremes", "tied embeddings", lambda c: c.tied),
        Axis("size extremes", "an output head of its own", lambda c: not c.tied),
        Axis("size extremes", "h = 1", lambda c: c.num_heads == 1),
        Axis("size extremes", "heads of width 2", lambda c: c.E == 2 * c.num_heads),
        Axis("size extremes", "one block", lambda c: c.num_layers == 1),
        Axis("size extremes", "d_ff = 1", lambda c: c.d_ff == 1),
        Axis("size extremes", "V = 1", lambda c: c.V == 1),
    ),
}

COVERAGE = {
    "rms-norm": {
        "64 or more tokens": "x (N, 64..127, E)",
        "one token (E,)": "x of shape (E,)",
        "a leading axis of 1": "x (1, L, E)",
        "four axes": "x (N, h, L, E)",
        **stress.EVERY_CALL,
    },
    "rms-norm-extremes": {
        "activations of 1e8 or more": "1e8 + 1e6 N(0, 1), and 1e100 N(0, 1)",
        "activations where eps matters": "1e-3 N(0, 1) with eps drawn in [0, 1e-2)",
        "E = 1": "x (N, L, 1)",
        "float32, kept": "float32 x and weight near 1 and 1e3, the result's dtype compared",
        **stress.EVERY_CALL,
    },
    "rope": {
        "64 or more positions": "64..127 positions from 10,000..99,999",
        "positions past 10,000": "positions drawn up to 100,000, and runs from there",
        "a repeated position": "each position twice",
        "positions not in increasing order": "a permutation's first L, two swapped if sorted",
        "L = 1": "x (N, h, 1, d_k)",
        "d_k = 2": "one pair",
        "no leading axis (L, d_k)": "x (L, d_k)",
        "N = h = 1": "x (1, 1, L, d_k)",
        "five axes": "x (2, N, h, L, d_k)",
        "another base": "base 100, 500 or 1e6",
        "int32 positions": "int32 positions up to 100,000",
        **stress.EVERY_CALL,
    },
    "rope-relative": {
        "positions past 10,000": "keys at hidden positions below 10,000, shifted by up to 100,000",
        **stress.EVERY_CALL,
    },
    "decoder-block": {
        "64 or more tokens": "L = 64..79",
        "h = 1": "one head of width E",
        "h = E": "E heads of width 1",
        "N = 1": "one sequence",
        "L = 1": "one token",
        "d_ff = 1": "a feed-forward layer of width 1",
        **stress.EVERY_CALL,
    },
    "decoder-block-large": {
        "activations offset by 1e6": "x = 1e6 + N(0, 1)",
        "scores x1000": "W_Q and W_K x30",
        "scores x1000 with the largest hidden by the causal mask": "the same, top score later",
        "eps other than 1e-5": "eps = 1e-3 with x = 0.05 N(0, 1)",
        **stress.EVERY_CALL,
    },
    "loss": {
        "64 or more tokens": "L = 64..127",
        "a vocabulary of 64 or more": "V = 64..127",
        "pad_id outside the vocabulary": "pad_id = -100",
        "pad_id an id of the vocabulary": "pad_id drawn in 0..V-1",
        "padding followed by a real token": "padding drawn anywhere in the other sequences",
        "V = 2": "V = 2 with pad_id = 1",
        "N = 1": "one sequence",
        "int32 tokens": "int32 tokens",
        **stress.EVERY_CALL,
    },
    "loss-extremes": {
        "logits of 1e4 or more": "1e4 N(0, 1), and 1e6 + N(0, 1)",
        "V = 1": "one id, no padding",
        "L = 2": "one target per sequence",
        "nothing that counts": "L = 1, and nothing but padding",
        "pad_id outside the vocabulary": "pad_id = -100",
        **stress.EVERY_CALL,
    },
    "gpt-forward": {
        "a cache of 64 or more": "64..127 cached tokens",
        "a cache past 1024 tokens": "1025..1103 cached tokens",
        "scores x1000": "W_Q and W_K x30",
        "cache None": "the whole sequence at once",
        "an empty cache": "arrays with t = 0",
        "one new token": "after 64..127 cached tokens",
        "h = 1": "one head",
        "d_k = 2": "one pair per head",
        "N = 1": "one sequence",
        "V = 1": "a vocabulary of one token",
        "one block": "one block",
        "int32 tokens": "int32 tokens",
        **stress.EVERY_CALL,
    },
    "generate": {
        "64 or more new tokens": "72..87 new tokens",
        "a prompt past 1024 tokens": "a prompt of 1025..1063 tokens",
        "a prompt of one token": "L0 = 1",
        "one new token": "new_tokens = 1",
        "N = 1": "one sequence",
        "V = 1": "a vocabulary of one token",
        "V = 2": "a vocabulary of two",
        "an int32 prompt": "int32 prompt",
        **stress.EVERY_CALL,
    },
    "gpt-parameters": {
        "64 or more blocks": "64..127 blocks, tied and untied",
        "a vocabulary of 64 or more": "V times 64..127",
        "a count beyond 2**53 (floats round it)": "E = 2 * odd near 2**26: twice an odd count",
        "a count beyond 2**63 (int64 wraps)": "E = 1.1..1.3 billion, d_ff about 2E",
        "tied embeddings": "the default, in most cases",
        "an output head of its own": "tied=False, at several sizes",
        "h = 1": "one head of width E",
        "heads of width 2": "E = 2h",
        "one block": "num_layers = 1",
        "d_ff = 1": "a feed-forward width of 1",
        "V = 1": "a vocabulary of one token",
        **stress.EVERY_CALL,
    },
}
