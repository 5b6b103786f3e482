"""Property-based tests of the reference answers (solutions/), against PyTorch, with Hypothesis.

Every graded function has a property: Hypothesis draws sizes along the stress axes of
autograder/checks/stress.py (ones, 64 steps or more, scores x1000 with masks of both kinds that
hide the largest score, ties, zeros, opposite rows, dtypes) and the elements or a seed for them,
and the property compares the function with torch, through call_numpy_only (so arguments must be
left unchanged and a second call must return new arrays). A reference wrong anywhere in its
contract fails `test_reference_agrees_with_torch`; every known mistake must fail its own cell's
property on some generated input (`test_each_known_mistake_fails_somewhere`).

Element values are bounded (no NaN or inf unless the contract has them, as -inf in masks), the
tolerances are those of the checks (1e-10 for float64, 1e-6/1e-5 for float32), there is no
deadline, and the runs are derandomised, so CI sees the same examples every time.
"""

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder import course
from autograder.checks.assignments import load_assignment
from autograder.checks.mistakes import known_mistakes
from autograder.checks.oracle import (
    call_learner,
    call_numpy_only,
    check_array,
    check_mask,
    mask_over_the_top,
    numpy,
    quiet,
    random_multihead_attention,
    require_error,
    tensor,
)
from autograder.grade.assignment_spec import AssignmentSpec

pytestmark = pytest.mark.slow

EXAMPLES = 100  # per reference function
SEARCH = 400  # at most, per known mistake, before a counterexample is found
COMMON = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
AGREE = settings(max_examples=EXAMPLES, **COMMON)
# No shrinking: the search only has to find one failing input.
SEEK = settings(max_examples=SEARCH, phases=[Phase.generate], **COMMON)

LONG = 64


def modules():
    return {assignment: load_assignment(assignment) for assignment in course.assignments()}


def seeded(data) -> np.random.Generator:
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def size(data, label, low=1, high=5, long=False):
    """A size from low..high, or (with `long`) sometimes 64..80: past a hard-coded constant."""
    choices = st.integers(low, high)
    if long:
        choices = st.one_of(choices, st.integers(LONG, LONG + 16))
    return data.draw(choices, label=label)


def floats(data, shape, low=-3.0, high=3.0, dtype=np.float64):
    """An array of bounded floats drawn by Hypothesis: zeros, ties and opposite values come up."""
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=32)
    return data.draw(hnp.arrays(dtype, shape, elements=elements), label="array")


def scale(data):
    return data.draw(st.sampled_from([1.0, 1000.0]), label="scale")


def bool_mask(rng, shape):
    """True = may not attend; every row keeps one key."""
    mask = rng.random(shape) < 0.4
    keep = rng.integers(0, shape[-1], size=shape[:-1])
    np.put_along_axis(mask, keep[..., None], False, axis=-1)
    return mask


# ---------------------------------------------------------------- 01


def prop_embedding_lookup(ns, data):
    V, E = size(data, "V"), size(data, "E")
    rank = data.draw(st.integers(0, 3), label="rank")
    shape = tuple(data.draw(st.integers(0, 4)) for _ in range(rank))
    if data.draw(st.booleans(), label="long"):
        shape = (1, LONG)
    dtype = data.draw(st.sampled_from([np.int64, np.int32, np.uint8]), label="ids dtype")
    table = floats(data, (V, E), dtype=data.draw(st.sampled_from([np.float64, np.float32])))
    ids = data.draw(hnp.arrays(dtype, shape, elements=st.integers(0, V - 1)), label="ids")
    bad = data.draw(st.sampled_from([None, V, V + 3, -1, -V - 1]), label="bad id")
    if bad is not None and ids.size:
        ids = ids.astype(np.int64)
        ids.flat[0] = bad
        try:
            call_numpy_only(ns["embedding_lookup"], table, ids)
        except IndexError as error:
            assert load_assignment("01-word-embeddings")._names_id(str(error), bad), str(error)
        else:
            raise AssertionError(f"id {bad} was accepted")
        return
    got = call_learner("embedding_lookup", ns["embedding_lookup"], table, ids)
    expected = numpy(F.embedding(torch.from_numpy(ids.astype(np.int64)), tensor(table)))
    check_array("embedding_lookup", got, expected)
    assert got.dtype == table.dtype, got.dtype


def prop_cosine_similarity(ns, data):
    rank = data.draw(st.integers(1, 3), label="rank")
    shape = tuple(size(data, "dim", 1, 4) for _ in range(rank))
    b_shape = tuple(data.draw(st.sampled_from([n, 1])) for n in shape)[
        data.draw(st.integers(0, rank - 1)) :
    ]
    axis = data.draw(st.integers(-rank, rank - 1), label="axis")
    magnitude = data.draw(st.sampled_from([1e-9, 1.0, 1e3]), label="magnitude")
    dtype = data.draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    a = (magnitude * floats(data, shape)).astype(dtype)
    b = floats(data, b_shape).astype(dtype)
    eps = data.draw(st.sampled_from([1e-8, 0.05]), label="eps")
    with quiet():
        expected = numpy(
            F.cosine_similarity(tensor(a.astype(float)), tensor(b.astype(float)), dim=axis, eps=eps)
        )
    got = call_learner("cosine_similarity", ns["cosine_similarity"], a, b, axis=axis, eps=eps)
    if np.ndim(expected) == 0 and type(got) is np.float64:
        got = np.asarray(got)
    check_array("cosine_similarity", got, expected)
    assert got.dtype == np.float64, got.dtype


def prop_nearest_neighbours(ns, data):
    a01 = load_assignment("01-word-embeddings")
    V = data.draw(st.one_of(st.integers(2, 9), st.just(LONG)), label="V")
    E = size(data, "E", 1, 3)
    elements = st.integers(-2, 2).map(float)  # small integers: ties, zeros, opposite rows
    table = data.draw(hnp.arrays(np.float64, (V, E), elements=elements), label="table")
    queries = data.draw(st.lists(st.integers(0, V - 1), max_size=4, unique=True), label="query ids")
    k = data.draw(st.integers(1, V - 1), label="k")
    kind = data.draw(st.sampled_from([np.array, list, tuple]), label="kind")
    given = kind(queries) if queries else np.zeros(0, dtype=int)  # none: an empty int array
    similarity, used = a01._similarity_stand_in(table)
    result = call_learner(
        "nearest_neighbours", ns["nearest_neighbours"], table, given, k, similarity=similarity
    )
    assert used or not queries, "the `similarity` given was never called"
    a01._check_neighbours(
        "nearest_neighbours", result, *a01._torch_neighbours(table, np.array(queries, int), k)
    )


def prop_table_entries_read(ns, data):
    a01 = load_assignment("01-word-embeddings")
    V = data.draw(st.one_of(st.integers(1, 9), st.just(50_000)), label="V")
    dtype = data.draw(st.sampled_from([np.int64, np.int32, np.uint8]), label="ids dtype")
    rank = data.draw(st.integers(0, 3), label="rank")
    shape = tuple(size(data, "dim", 0, 5) for _ in range(rank))
    if rank and data.draw(st.booleans(), label="long"):
        shape = (*shape[:-1], LONG)
    elements = st.integers(0, min(V, np.iinfo(dtype).max + 1) - 1)
    ids = data.draw(hnp.arrays(dtype, shape, elements=elements), label="ids")
    given = ids.tolist() if rank and data.draw(st.booleans(), label="a nested list") else ids
    a01._check_entries_read(ns["table_entries_read"], given, size(data, "E", 1, 6))


# ---------------------------------------------------------------- 02


def prop_rnn_forward(ns, data):
    a02 = load_assignment("02-rnn-limitations")
    N, L, E, H = size(data, "N", 1, 3), size(data, "L", long=True), size(data, "E"), size(data, "H")
    rng = seeded(data)
    x = scale(data) * rng.normal(size=(N, L, E))
    h0 = data.draw(st.sampled_from([None, rng.normal(scale=0.5, size=(N, H))]), label="h0")
    a02._check_forward(ns["rnn_forward"], x, h0, a02._rnn_parameters(rng, E, H))


def prop_rnn_jacobian(ns, data):
    a02 = load_assignment("02-rnn-limitations")
    N, L, E, H = size(data, "N", 1, 3), size(data, "L", long=True), size(data, "E"), size(data, "H")
    rng = seeded(data)
    W_hh, _ = np.linalg.qr(rng.normal(size=(H, H)))  # orthogonal: the Jacobian stays of order 1
    params = (rng.normal(scale=0.05, size=(H, E)), W_hh, np.zeros(H), np.zeros(H))
    x, h0 = rng.normal(scale=0.05, size=(N, L, E)), rng.normal(scale=0.05, size=(N, H))
    a02._check_jacobian(ns["rnn_jacobian"], x, h0, params)


def prop_steps_until_gradient_below(ns, data):
    a02 = load_assignment("02-rnn-limitations")
    kinds = ["general", "normal", "transient", "zero", "nilpotent", "slow", "growing"]
    kind = data.draw(st.sampled_from(kinds), label="kind of W_hh")
    H = size(data, "H", 1, 6)
    W_hh = a02._recurrent_weights(seeded(data), kind, H)
    exponent = data.draw(st.sampled_from([(-6.0, -1.0), (-200.0, -100.0), (0.0, 2.0)]))
    eps = float(10 ** data.draw(st.floats(*exponent), label="log10 eps"))
    if data.draw(st.booleans(), label="eps = 1"):
        eps = 1.0
    assume(a02._clear(W_hh, eps))
    a02._check_steps(ns["steps_until_gradient_below"], W_hh, eps)


# ---------------------------------------------------------------- 03


def _batch(data):
    return tuple(size(data, "batch", 1, 3) for _ in range(data.draw(st.integers(0, 2))))


def prop_qkv_projections(ns, data):
    a03 = load_assignment("03-self-attention")
    L, E, d_k, d_v = (size(data, name) for name in ("L", "E", "d_k", "d_v"))
    X = floats(data, (*_batch(data), L, E))
    weights = a03._weights(seeded(data), E, d_k, d_v)
    Q, K, V = call_learner("qkv_projections", ns["qkv_projections"], X, *weights)
    for got, W in zip((Q, K, V), weights):
        check_array("qkv_projections", got, numpy(a03._project(X, W)))


def prop_attention_scores(ns, data):
    batch = _batch(data)
    Q = floats(data, (*batch, size(data, "L"), d_k := size(data, "d_k")))
    K = floats(data, (*batch, size(data, "S", long=True), d_k))
    got = call_learner("attention_scores", ns["attention_scores"], Q, K)
    check_array("attention_scores", got, numpy(tensor(Q) @ tensor(K).transpose(-1, -2)))


def _attention_case(data, cross):
    a03 = load_assignment("03-self-attention")
    rng = seeded(data)
    batch, L, E = _batch(data), size(data, "L", long=not cross), size(data, "E")
    S = size(data, "S", long=True) if cross else L
    amplitude = data.draw(st.sampled_from([0.5, 30.0]), label="amplitude")
    X_query = rng.normal(scale=amplitude, size=(*batch, L, E))
    X_context = rng.normal(scale=amplitude, size=(*batch, S, E)) if cross else X_query
    return a03, X_query, X_context, a03._weights(rng, E, size(data, "d_k"), size(data, "d_v"))


def prop_self_attention(ns, data):
    a03, X, _, weights = _attention_case(data, cross=False)
    projections, scores, used = a03._stand_ins(X, X, *weights)
    result = call_learner(
        "self_attention", ns["self_attention"], X, *weights, projections=projections, scores=scores
    )
    a03._require_used("self_attention", used, ["projections", "scores"])
    a03._check_attention("self_attention", result, *a03._torch_attention(X, X, *weights))


def prop_cross_attention(ns, data):
    a03, X_query, X_context, weights = _attention_case(data, cross=True)
    _, scores, used = a03._stand_ins(X_query, X_context, *weights)
    result = call_learner(
        "cross_attention", ns["cross_attention"], X_query, X_context, *weights, scores=scores
    )
    a03._require_used("cross_attention", used, ["scores"])
    expected = a03._torch_attention(X_query, X_context, *weights)
    a03._check_attention("cross_attention", result, *expected)


def prop_attention_multiply_adds(ns, data):
    a03 = load_assignment("03-self-attention")
    scale = data.draw(st.sampled_from(["small", "long", "huge"]), label="scale")
    low, high = {"small": (1, 9), "long": (LONG, 5000), "huge": (2**20, 2**28)}[scale]
    sizes = {name: data.draw(st.integers(1, 9), label=name) for name in a03.SIZES}
    sizes.update(L=data.draw(st.integers(low, high), label="L"))
    sizes.update(S=sizes["L"] if data.draw(st.booleans()) else data.draw(st.integers(low, high)))
    if scale == "huge":  # counts past 2**63; the (N, L, S) meta scores stay below 2**62 entries
        sizes.update(N=data.draw(st.integers(1, 16)), d_k=data.draw(st.integers(1, 300)))
    a03._check_multiply_adds(ns["attention_multiply_adds"], sizes)


# ---------------------------------------------------------------- 04


def prop_softmax(ns, data):
    rank = data.draw(st.integers(1, 4), label="rank")
    shape = [size(data, "dim", 1, 4) for _ in range(rank)]
    axis = data.draw(st.integers(-rank, rank - 1), label="axis")
    if data.draw(st.booleans(), label="long axis"):
        shape[axis] = LONG
    dtype = data.draw(st.sampled_from([np.float64, np.float32, np.int64]), label="dtype")
    if dtype == np.int64:
        x = data.draw(hnp.arrays(dtype, tuple(shape), elements=st.integers(-30, 30)))
        expected = numpy(torch.softmax(tensor(x.astype(np.float64)), dim=axis))
    else:
        x = floats(data, tuple(shape), dtype=dtype) * data.draw(st.sampled_from([1.0, 3e3]))
        x = x.astype(dtype)
        hidden = seeded(data).random(x.shape) < 0.3
        np.put_along_axis(hidden, np.zeros_like(np.take(x, [0], axis=axis), dtype=int), False, axis)
        x = np.where(hidden, -np.inf, x).astype(dtype)  # some -inf, one finite entry per row
        expected = numpy(torch.softmax(torch.from_numpy(x.copy()), dim=axis))
    got = call_learner("softmax", ns["softmax"], x, axis=axis)
    tolerance = {"atol": 1e-6, "rtol": 1e-5} if dtype == np.float32 else {}
    check_array("softmax", got, expected, **tolerance)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)


def prop_scaled_dot_product_attention(ns, data):
    a04 = load_assignment("04-scaling-softmax-masks")
    rng = seeded(data)
    sizes = {name: size(data, name, long=name == "S") for name in ("N", "L", "S", "d_k", "d_v")}
    Q, K, V = a04._qkv(rng, sizes)
    Q = scale(data) * Q
    kind = data.draw(st.sampled_from([None, "bool", "float"]), label="mask")
    if kind is None:
        a04._check_attention(ns["scaled_dot_product_attention"], Q, K, V, "")
        return
    N, L, S = sizes["N"], sizes["L"], sizes["S"]
    shape = data.draw(st.sampled_from([(L, S), (N, L, S)]), label="mask shape")
    score = Q @ np.swapaxes(K, -1, -2) / np.sqrt(sizes["d_k"])
    hidden = mask_over_the_top(rng, score, shape) if S > 1 else np.zeros(shape, dtype=bool)
    mask = hidden if kind == "bool" else np.where(hidden, -np.inf, rng.normal(size=shape))
    sdpa = np.where(hidden, -np.inf, 0.0) if kind == "bool" else mask
    a04._check_attention(ns["scaled_dot_product_attention"], Q, K, V, "", mask, sdpa)


def prop_causal_mask(ns, data):
    L = size(data, "L", long=True)
    S = data.draw(st.one_of(st.none(), st.integers(1, 80)), label="S")
    got = call_learner("causal_mask", ns["causal_mask"], *((L,) if S is None else (L, S)))
    check_mask("causal_mask", got, np.triu(np.ones((L, L if S is None else S), bool), k=1))


def prop_padding_mask(ns, data):
    S = size(data, "S", long=True)
    lengths = data.draw(st.lists(st.integers(0, S), min_size=1, max_size=4), label="lengths")
    given = data.draw(st.sampled_from([list, np.array]), label="kind")(lengths)
    padded = torch.nn.utils.rnn.pad_sequence(
        [torch.ones(n) for n in lengths] + [torch.ones(S)], batch_first=True
    )[: len(lengths)]
    got = call_learner("padding_mask", ns["padding_mask"], given, S)
    check_mask("padding_mask", got, numpy(padded == 0))


def prop_to_sdpa_mask(ns, data):
    shape = tuple(size(data, "dim", 1, 4) for _ in range(data.draw(st.integers(1, 4))))
    rng = seeded(data)
    boolean = rng.random(shape) < 0.5
    dtype = data.draw(st.sampled_from([np.bool_, np.float64, np.float32]), label="dtype")
    if dtype == np.bool_:
        check_mask("to_sdpa_mask", call_learner("", ns["to_sdpa_mask"], boolean), ~boolean)
        return
    mask = np.where(boolean, -np.inf, rng.normal(size=shape)).astype(dtype)
    got = call_learner("to_sdpa_mask", ns["to_sdpa_mask"], mask)
    check_array("to_sdpa_mask", got, mask)
    assert got.dtype == mask.dtype


def prop_visible_keys(ns, data):
    a04 = load_assignment("04-scaling-softmax-masks")
    L, S = size(data, "L", long=True), size(data, "S", long=True)
    lengths = data.draw(st.lists(st.integers(0, S), min_size=1, max_size=4), label="lengths")
    given = data.draw(st.sampled_from([list, np.array]), label="kind")(lengths)
    alignment = data.draw(st.sampled_from(a04.ALIGNMENTS), label="alignment")
    padding_side = data.draw(st.sampled_from(a04.PADDING_SIDES), label="padding side")
    a04._check_visible_keys(ns["visible_keys"], given, L, S, alignment, padding_side)


# ---------------------------------------------------------------- 05


def _head_sizes(data):
    h, d_k = size(data, "h", 1, 4), size(data, "d_k", 1, 4)
    return {
        "N": size(data, "N", 1, 3),
        "L": size(data, "L", long=True),
        "h": h,
        "d_k": d_k,
        "E": h * d_k,
        "S": size(data, "S", long=True),
    }


def prop_split_heads(ns, data):
    sizes = _head_sizes(data)
    N, L, h, d_k, E = (sizes[name] for name in ("N", "L", "h", "d_k", "E"))
    x = seeded(data).normal(size=(N, L, E))
    if h > 1 and data.draw(st.booleans(), label="not a multiple"):
        width = next(w for w in range(10, 100) if w % h and str(h) not in str(w))
        require_error(
            "split_heads",
            ns["split_heads"],
            x[..., :1].repeat(width, -1),
            h,
            naming=(("E", width), ("num_heads", h)),
        )
        return
    expected = x.reshape(N, L, h, d_k).transpose(0, 2, 1, 3)
    check_array("split_heads", call_learner("split_heads", ns["split_heads"], x, h), expected)


def prop_merge_heads(ns, data):
    sizes = _head_sizes(data)
    N, L, h, d_k, E = (sizes[name] for name in ("N", "L", "h", "d_k", "E"))
    heads = seeded(data).normal(size=(N, h, L, d_k))
    merged = tensor(heads).reshape(N * h, L, d_k).transpose(0, 1).reshape(L, N, E).transpose(0, 1)
    check_array("merge_heads", call_learner("", ns["merge_heads"], heads), numpy(merged))


def prop_pack_in_proj(ns, data):
    a05 = load_assignment("05-multi-head-attention")
    a05._check_packing(ns["pack_in_proj"], seeded(data), _head_sizes(data))


def prop_multi_head_attention(ns, data):
    a05 = load_assignment("05-multi-head-attention")
    sizes, rng = _head_sizes(data), seeded(data)
    N, L, S, h, E = (sizes[name] for name in ("N", "L", "S", "h", "E"))
    kdim, vdim = (data.draw(st.sampled_from([None, size(data, "width", 1, 6)])) for _ in "kv")
    bias = data.draw(st.booleans(), label="bias")
    module = random_multihead_attention(rng, E, h, bias=bias, kdim=kdim, vdim=vdim)
    amplitude = data.draw(st.sampled_from([1.0, 30.0]), label="amplitude")
    query = amplitude * rng.normal(size=(N, L, E))
    key, value = amplitude * rng.normal(size=(N, S, kdim or E)), rng.normal(size=(N, S, vdim or E))
    options = {
        "need_weights": data.draw(st.booleans()),
        "average_attn_weights": data.draw(st.booleans()),
    }
    if S > 1 and kdim is None and vdim is None and data.draw(st.booleans(), label="masks"):
        scores = a05._mha_scores(module, query, key)
        make = (
            (lambda m: m)
            if data.draw(st.booleans(), label="bool")
            else (lambda m: a05._float_mask(rng, m))
        )
        which = data.draw(st.sampled_from(["2-D", "3-D", "padding"]), label="mask")
        if which == "padding":
            options["key_padding_mask"] = make(a05._padding_over_the_top(rng, scores))
        elif which == "2-D":
            options["attn_mask"] = make(mask_over_the_top(rng, scores, (L, S)))
        else:
            flat = scores.reshape(N * h, L, S)
            options["attn_mask"] = make(mask_over_the_top(rng, flat, flat.shape))
    a05._compare(ns["multi_head_attention"], module, (query, key, value), "mha", **options)


def prop_attention_weights_bytes(ns, data):
    a05 = load_assignment("05-multi-head-attention")
    N, h = size(data, "N", 1, 4), size(data, "h", 1, 8)
    if data.draw(st.booleans(), label="huge"):  # more than 2**54 bytes: floats round them
        L, S = (data.draw(st.integers(2**25, 2**27), label=name) for name in "LS")
    else:
        L, S = size(data, "L", long=True), size(data, "S", long=True)
    dtype = data.draw(st.sampled_from(a05.DTYPES), label="dtype")
    options = data.draw(st.sampled_from(a05.OPTIONS), label="options")
    a05._check_weights_bytes(ns["attention_weights_bytes"], N, L, S, h, dtype, **options)


# ---------------------------------------------------------------- 06


def prop_sinusoidal_positional_encoding(ns, data):
    a06 = load_assignment("06-why-multi-head")
    L = data.draw(st.one_of(st.integers(1, 80), st.integers(5001, 5100)), label="L")
    E = 2 * size(data, "E / 2", 1, 40 if L < 100 else 2)
    got = call_learner("pe", ns["sinusoidal_positional_encoding"], L, E)
    check_array("sinusoidal_positional_encoding", got, a06._vaswani_encoding(L, E))


def prop_multi_head_self_attention(ns, data):
    a06 = load_assignment("06-why-multi-head")
    sizes, rng = _head_sizes(data), seeded(data)
    N, L, h, E = (sizes[name] for name in ("N", "L", "h", "E"))
    module = torch.nn.MultiheadAttention(E, h, batch_first=True, dtype=torch.float64).eval()
    params = a06._params(a06.random_parameters(module, rng, scale=0.5))
    x = data.draw(st.sampled_from([1.0, 30.0])) * rng.normal(size=(N, L, E))
    with quiet(), torch.no_grad():
        expected = numpy(module(*(tensor(x),) * 3, need_weights=False)[0])
    weights = [
        params[name]
        for name in ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")
    ]
    got = call_learner("mhsa", ns["multi_head_self_attention"], x, h, *weights)
    check_array("multi_head_self_attention", got, expected)


def prop_layer_norm(ns, data):
    shape = tuple(size(data, "dim", 1, 4) for _ in range(data.draw(st.integers(1, 3))))
    spread = data.draw(st.sampled_from([1e-3, 1.0, 10.0]), label="spread")
    offset = data.draw(st.sampled_from([0.0, 1.0, 1e4]), label="offset") * spread
    x = offset + spread * floats(data, shape)
    E = shape[-1]
    weight, bias = floats(data, (E,)), floats(data, (E,))
    eps = data.draw(st.sampled_from([1e-5, 1e-3]), label="eps")
    expected = numpy(F.layer_norm(tensor(x), (E,), tensor(weight), tensor(bias), eps=eps))
    got = call_learner("layer_norm", ns["layer_norm"], x, weight, bias, eps=eps)
    check_array("layer_norm", got, expected)


def prop_transformer_encoder_layer(ns, data):
    a06 = load_assignment("06-why-multi-head")
    sizes = _head_sizes(data)
    sizes["F"] = size(data, "F", 1, 6)
    eps = data.draw(st.sampled_from([None, 1e-2]), label="eps")
    a06._check_encoder_layer(seeded(data), ns["transformer_encoder_layer"], sizes, sizes["h"], eps)


def prop_encoder_layer_parameters(ns, data):
    a06 = load_assignment("06-why-multi-head")
    h = size(data, "h", 1, 6)
    scale = data.draw(st.sampled_from(["small", "long", "wide", "huge"]), label="scale")
    low, high = {"small": (1, 6), "long": (LONG, 200), "wide": (2**24, 2**26)}.get(scale, (1, 1))
    E = h * data.draw(st.integers(low, high), label="d_k")
    F = data.draw(st.integers(1, 6) if scale == "small" else st.integers(low, 4 * high), label="F")
    if scale == "huge":  # past 2**63 parameters
        E, h = data.draw(st.integers(1_100_000_000, 1_300_000_000), label="E"), 1
        F = 2 * E + data.draw(st.integers(0, 1000), label="F - 2E")
    if h > 1 and data.draw(st.booleans(), label="h does not divide E"):
        E += 1
    options = {name: data.draw(st.booleans(), label=name) for name in ("bias", "norm_first")}
    a06._check_parameters(ns["encoder_layer_parameters"], E, h, F, **options)


# ---------------------------------------------------------------- 07


def prop_causal_mask_lower_right(ns, data):
    a07 = load_assignment("07-attention-at-inference")
    S = size(data, "S", long=True)
    L = data.draw(st.integers(1, S), label="L")
    got = call_learner("mask", ns["causal_mask_lower_right"], L, S)
    check_mask("causal_mask_lower_right", got, a07._torch_lower_right_mask(L, S))


def prop_decode_step(ns, data):
    a07 = load_assignment("07-attention-at-inference")
    h, d_k = size(data, "h", 1, 4), size(data, "d_k", 1, 4)
    sizes = {"N": size(data, "N", 1, 3), "h": h, "d_k": d_k, "E": h * d_k}
    rng = seeded(data)
    if data.draw(st.booleans(), label="a whole run"):
        a07._decode_run(rng, ns["decode_step"], dict(sizes, t=size(data, "T", long=True)))
        return
    sizes["t"] = data.draw(st.one_of(st.integers(0, 5), st.just(LONG)), label="t")
    amplitude = data.draw(st.sampled_from([1.0, a07.LARGE]), label="amplitude")
    module, x, (output, cache_k, cache_v), what = a07._one_step(
        rng, ns["decode_step"], amplitude, sizes
    )
    check_array(what, output, a07._torch_causal_pass(module, x)[:, -1:])
    expected_k, expected_v = a07._torch_cache(module, x)
    check_array(what, cache_k, expected_k)
    check_array(what, cache_v, expected_v)


def prop_grouped_query_attention(ns, data):
    a07 = load_assignment("07-attention-at-inference")
    g, r = size(data, "g", 1, 3), size(data, "r", 1, 3)
    sizes = {
        "N": size(data, "N", 1, 2),
        "L": size(data, "L"),
        "S": size(data, "S", long=True),
        "d_k": size(data, "d_k"),
        "g": g,
        "h": g * r,
    }
    rng = seeded(data)
    fn = ns["grouped_query_attention"]
    if data.draw(st.booleans(), label="h not a multiple of g"):
        g_bad = size(data, "g", 2, 5)
        h_bad = data.draw(st.integers(1, 12).filter(lambda h: h % g_bad), label="h")
        q, k, v = a07._gqa_inputs(rng, dict(sizes, g=g_bad, h=h_bad))
        require_error("gqa", fn, q, k, v)
        return
    q, k, v = a07._gqa_inputs(rng, sizes)
    q = scale(data) * q
    kind = data.draw(st.sampled_from([None, "bool", "float", "float32"]), label="mask")
    if kind is None:
        a07._compare_gqa(fn, q, k, v, "gqa")
        return
    score = a07.stress.scores(q, k)
    shape = data.draw(st.sampled_from([score.shape[-2:], score.shape]), label="mask shape")
    hidden = mask_over_the_top(rng, score, shape) if sizes["S"] > 1 else np.zeros(shape, bool)
    if kind == "bool":
        a07._compare_gqa(fn, q, k, v, "gqa", hidden, ~hidden)
        return
    mask = np.where(hidden, -np.inf, rng.normal(scale=2.0, size=shape))
    mask = mask.astype(np.float32) if kind == "float32" else mask
    a07._compare_gqa(fn, q, k, v, "gqa", mask, mask.astype(np.float64))


def prop_tiled_attention(ns, data):
    a07 = load_assignment("07-attention-at-inference")
    fn = ns["tiled_attention"]
    rng = seeded(data)
    if data.draw(st.integers(0, 5), label="memory") == 0:  # one check in six: the memory bound
        a07.check_tiled_memory(rng, fn)
        return
    lead = tuple(size(data, "leading axis", 1, 2) for _ in range(data.draw(st.integers(0, 2))))
    L, S = size(data, "L"), size(data, "S", long=True)
    sizes = {"L": L, "S": S, "d_k": size(data, "d_k"), "d_v": size(data, "d_v")}
    block = data.draw(st.integers(1, max(L, S) + 2), label="block")
    q, k, v = a07._tiled_inputs(rng, sizes, lead)
    q = scale(data) * q
    kind = data.draw(st.sampled_from([None, "bool", "float", "float32", "tiles"]), label="mask")
    if kind is None:
        a07._compare_tiled(fn, q, k, v, None, block)
        return
    score = a07.stress.scores(q, k)
    shape = data.draw(st.sampled_from([score.shape[-2:], score.shape]), label="mask shape")
    if kind == "tiles" and S > block:
        hidden = a07._leading_keys_masked(rng, shape, block)
    else:
        hidden = mask_over_the_top(rng, score, shape) if S > 1 else np.zeros(shape, bool)
    if kind in ("bool", "tiles"):
        a07._compare_tiled(fn, q, k, v, hidden, block)
        return
    mask = np.where(hidden, -np.inf, rng.normal(scale=2.0, size=shape))
    a07._compare_tiled(fn, q, k, v, mask.astype(np.float32) if kind == "float32" else mask, block)


def _odd(data, label, low, high):
    return data.draw(st.integers(low, high), label=label) | 1


def prop_kv_cache_bytes(ns, data):
    a07 = load_assignment("07-attention-at-inference")
    g, r = size(data, "g", 1, 4), size(data, "h / g", 1, 4)
    layers, N = size(data, "layers", 1, 5), size(data, "N", 1, 4)
    S, d_k = size(data, "S", long=True), size(data, "d_k", 1, 6)
    dtype = data.draw(st.sampled_from(a07.DTYPES), label="dtype")
    scale = data.draw(st.sampled_from(["small", "wide", "huge"]), label="scale")
    if scale == "wide":  # the odd part of the count past 2**53: floats round it
        layers, N, g = (_odd(data, name, 5, 9) for name in ("layers", "N", "g"))
        S, d_k = _odd(data, "S", 3 * 2**25, 2**27), _odd(data, "d_k", 2**21, 2**22)
    elif scale == "huge":  # 2**64 bytes or more: int64 wraps
        layers, N, S, g, r = data.draw(st.integers(9, 16), label="layers"), 1, 2**40 + 1, 1, 2
        d_k, dtype = 2**17, "float64"
    window = data.draw(st.one_of(st.none(), st.integers(1, S + LONG)), label="window")
    h = g * r
    if g > 1 and data.draw(st.booleans(), label="g does not divide h"):
        h += 1
    a07._check_cache_bytes(ns["kv_cache_bytes"], layers, N, S, h, g, d_k, dtype, window=window)


# ---------------------------------------------------------------- 08


def _a08():
    return load_assignment("08-small-gpt")


def prop_rms_norm(ns, data):
    E = size(data, "E", 1, 6)
    rank = data.draw(st.integers(1, 4), label="rank")
    shape = tuple(size(data, "axis", 1, 4) for _ in range(rank - 1)) + (E,)
    if data.draw(st.booleans(), label="long"):
        shape = (size(data, "N", 1, 2), size(data, "L", LONG, LONG + 16), E)
    magnitude = data.draw(st.sampled_from([1e-3, 1.0, 1e8]), label="magnitude")
    x = magnitude * floats(data, shape)
    weight = floats(data, (E,), 0.5, 1.5)
    eps = data.draw(st.sampled_from([1e-6, 1e-2]), label="eps")
    if data.draw(st.booleans(), label="float32"):
        x, weight = x.astype(np.float32), weight.astype(np.float32)
        _a08()._compare_rms_norm(ns["rms_norm"], x, weight, eps, "float32", atol=1e-6, rtol=1e-5)
    else:
        _a08()._compare_rms_norm(ns["rms_norm"], x, weight, eps, "float64")


def prop_apply_rope(ns, data):
    lead = tuple(size(data, "leading axis", 1, 3) for _ in range(data.draw(st.integers(0, 3))))
    L, pairs = size(data, "L", long=True), size(data, "pairs", 1, 4)
    x = floats(data, (*lead, L, 2 * pairs))
    far = data.draw(st.sampled_from([50, 100_000]), label="largest position")
    dtype = data.draw(st.sampled_from([np.int64, np.int32]), label="positions dtype")
    positions = data.draw(hnp.arrays(dtype, (L,), elements=st.integers(0, far)), label="positions")
    base = data.draw(st.sampled_from([None, 500.0]), label="base")
    _a08()._compare_rope(ns["apply_rope"], x, positions, "property", base)


def prop_decoder_block(ns, data):
    h, d_k = size(data, "h", 1, 3), size(data, "d_k", 1, 3)
    sizes = {
        "N": size(data, "N", 1, 3),
        "L": size(data, "L", long=True),
        "h": h,
        "d_k": d_k,
        "E": h * d_k,
        "d_ff": size(data, "d_ff", 1, 5),
    }
    rng = seeded(data)
    kind = data.draw(st.sampled_from(["plain", "offset", "large scores", "eps"]), label="kind")
    x = rng.normal(size=(sizes["N"], sizes["L"], sizes["E"]))
    options = {
        "plain": {},
        "offset": dict(x=1e6 + x),
        "large scores": dict(attention_scale=30.0),
        "eps": dict(x=0.05 * x, eps=1e-3),
    }[kind]
    _a08()._compare_block(rng, ns["decoder_block"], sizes, kind, **options)


def prop_next_token_loss(ns, data):
    N, L, V = size(data, "N", 1, 3), size(data, "L", long=True), size(data, "V", long=True)
    rng = seeded(data)
    scale = data.draw(st.sampled_from([1.0, 1e4]), label="scale")
    logits = scale * rng.normal(size=(N, L, V))
    tokens = rng.integers(0, V, size=(N, L))
    pad_id = data.draw(st.sampled_from([-100, 0, V - 1]), label="pad_id")
    padding = data.draw(st.sampled_from([0.0, 0.3, 1.0]), label="share of padding")
    tokens = np.where(rng.random((N, L)) < padding, pad_id, tokens)
    if data.draw(st.booleans(), label="int32"):
        tokens = tokens.astype(np.int32)
    _a08()._compare_loss(ns["next_token_loss"], logits, tokens, pad_id, "property")


def _gpt_sizes(data):
    h, pairs = size(data, "h", 1, 3), size(data, "pairs", 1, 2)
    return {
        "N": size(data, "N", 1, 2),
        "V": size(data, "V", 1, 5),
        "h": h,
        "d_k": 2 * pairs,
        "E": 2 * pairs * h,
        "d_ff": size(data, "d_ff", 1, 4),
        "layers": size(data, "layers", 1, 2),
    }


def prop_gpt_forward(ns, data):
    sizes = _gpt_sizes(data)
    L = size(data, "L", 1, 4)
    t = data.draw(st.one_of(st.integers(0, 5), st.sampled_from([LONG, 1030])), label="t")
    cache = data.draw(st.sampled_from(["arrays", None]) if t == 0 else st.just("arrays"))
    options = dict(
        cache=cache,
        scale=data.draw(st.sampled_from([1.0, 30.0]), label="attention scale"),
        dtype=data.draw(st.sampled_from([np.int64, np.int32]), label="tokens dtype"),
    )
    _a08()._compare_forward(seeded(data), ns["gpt_forward"], sizes, t + L, t, "gpt", **options)


def prop_generate_greedy(ns, data):
    sizes = _gpt_sizes(data)
    prompt = data.draw(st.one_of(st.integers(1, 4), st.just(1030)), label="prompt length")
    new = data.draw(st.one_of(st.integers(1, 5), st.integers(LONG + 1, LONG + 8)), label="new")
    dtype = data.draw(st.sampled_from([None, np.int32]), label="prompt dtype")
    if prompt > LONG:  # a long prompt: one sequence, one block, a few new tokens
        sizes, new = dict(sizes, N=1, layers=1), min(new, 3)
    _a08()._compare_generation(seeded(data), ns["generate_greedy"], sizes, prompt, new, "", dtype)


def prop_gpt_parameters(ns, data):
    h, pairs = size(data, "h", 1, 4), size(data, "d_k / 2", 1, 3)
    V, E, layers = size(data, "V", 1, 6, long=True), 2 * pairs * h, size(data, "layers", 1, 3)
    d_ff = size(data, "d_ff", 1, 8)
    scale = data.draw(st.sampled_from(["small", "long", "wide", "huge"]), label="scale")
    if scale == "long":
        layers = data.draw(st.integers(LONG, LONG + 16), label="layers")
    elif scale == "wide":  # twice an odd count past 2**53: floats round it
        h, layers, V = 1, 1, 2 * data.draw(st.integers(2**24, 2**25), label="V / 2")
        E = 2 * (data.draw(st.integers(2**25, 2**26), label="E / 2") | 1)
        d_ff = data.draw(st.integers(2**26, 2**27), label="d_ff") | 1
    elif scale == "huge":  # past 2**63 parameters
        h, layers = data.draw(st.sampled_from([1, 2]), label="h"), 1
        E = 4 * data.draw(st.integers(275_000_000, 325_000_000), label="E / 4")
        d_ff = 2 * E + data.draw(st.integers(0, 1000), label="d_ff - 2E")
    tied = data.draw(st.booleans(), label="tied")
    _a08()._check_parameters(ns["gpt_parameters"], V, E, h, layers, d_ff, tied=tied)


PROPERTIES = {
    name[len("prop_") :]: value for name, value in globals().items() if name.startswith("prop_")
}


# ---------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def specs():
    return {assignment: AssignmentSpec(assignment) for assignment in course.assignments()}


def graded_functions(assignment, spec):
    """The functions the answer cells define, each with its cell."""
    return [
        (name, cell)
        for cell, names in spec.answer_names.items()
        for name in sorted(names)
        if name in PROPERTIES
    ]


def test_every_graded_function_has_a_property(assignment, specs):
    module = load_assignment(assignment)
    missing = [name for name in module.AXES if name not in PROPERTIES]
    assert not missing, f"no Hypothesis property for {missing}"


def run_property(function_name, namespace, profile):
    @profile
    @given(st.data())
    def run(data):
        with quiet(stdout=True), np.errstate(all="ignore"):
            PROPERTIES[function_name](namespace, data)

    run()


def test_reference_agrees_with_torch(assignment, specs, record_property):
    """Does every reference answer agree with PyTorch on EXAMPLES inputs along its axes?"""
    reference = specs[assignment].detector.reference
    for name, _ in graded_functions(assignment, specs[assignment]):
        started = time.perf_counter()
        run_property(name, reference, AGREE)
        # Gathered for the run's summary by tests/conftest.py, from every xdist worker.
        seconds = time.perf_counter() - started
        record_property("hypothesis run", (f"{assignment}: {name}", seconds, EXAMPLES))


def test_each_known_mistake_fails_somewhere(assignment, specs):
    """Does each known mistake fail its own cell's property on some generated input?"""
    detector = specs[assignment].detector
    survivors = []
    for mistake in known_mistakes(assignment):
        namespace = detector.mistake_namespace(mistake)
        names = [
            name
            for name, cell in graded_functions(assignment, specs[assignment])
            if cell == mistake.cell
        ]
        failed = False
        for name in names:
            try:
                run_property(name, namespace, SEEK)
            except Exception:  # noqa: BLE001 - any failure is the property catching the mistake
                failed = True
                break
        if not failed:
            survivors.append(mistake.name)
    assert not survivors, f"mistakes no generated input catches: {survivors}"
