"""Assignment 01-word-embeddings: hidden checks against torch."""

import re

import numpy as np
import torch
import torch.nn.functional as F

from .. import stress
from ..oracle import (
    call_learner,
    call_numpy_only,
    check_array,
    check_count,
    distinct_sizes,
    numpy,
    quiet,
    require_array,
    require_same_entries,
    tensor,
)
from ..stress import LONG, Axis


def _check_ids(name, got, expected):
    """Assert that `got` is an integer numpy array equal to `expected`."""
    expected = np.asarray(expected)
    require_array(name, got)
    if got.dtype.kind not in "iu":
        raise AssertionError(f"{name}: expected an integer array, got dtype {got.dtype}")
    require_same_entries(name, got, expected, unit="id ")


def _check_dtype(name, got, dtype):
    if isinstance(got, np.ndarray) and got.dtype != dtype:
        raise AssertionError(f"{name}: expected dtype {np.dtype(dtype)}, got dtype {got.dtype}")


def _check_lookup(embedding_lookup, table, ids, what=None):
    what = what or f"embedding_lookup(table {table.shape}, ids {np.shape(ids)})"
    expected = numpy(F.embedding(torch.from_numpy(np.array(ids, dtype=np.int64)), tensor(table)))
    got = call_numpy_only(embedding_lookup, table.copy(), ids.copy())
    check_array(what, got, expected.astype(table.dtype))
    _check_dtype(what, got, table.dtype)


def check_embedding_lookup(rng, embedding_lookup):
    """Ids of every rank (a single id, 1-D to 4-D), empty ids, 64 or more ids in a row, int32 and
    uint8 ids, a nested list, both ends of the vocabulary, a vocabulary of one word and vectors of
    one number, and a float32 table whose dtype the result keeps."""
    sizes = distinct_sizes(rng, ["N", "L", "K", "V", "E"], low=2, high=12)
    N, L, K, V, E = (sizes[name] for name in ("N", "L", "K", "V", "E"))
    table = rng.normal(size=(V, E))
    long = int(rng.integers(LONG, 2 * LONG))
    for shape in [(), (L,), (N, L), (N, L, K), (K, N, L, 2), (0,), (N, 0), (1, long)]:
        ids = rng.integers(0, V, size=shape)
        if ids.size:
            ids.flat[0], ids.flat[-1] = 0, V - 1  # both ends of the vocabulary
        _check_lookup(embedding_lookup, table, ids)
    for dtype in (np.int32, np.uint8):
        ids = rng.integers(0, V, size=(N, L)).astype(dtype)
        _check_lookup(
            embedding_lookup, table, ids, f"embedding_lookup(table, {dtype.__name__} ids)"
        )
    _check_lookup(embedding_lookup, rng.normal(size=(1, E)), np.zeros((N, L), dtype=int))
    _check_lookup(embedding_lookup, rng.normal(size=(V, 1)), rng.integers(0, V, size=(N, L)))
    ids = rng.integers(0, V, size=(N, L))
    got = call_numpy_only(embedding_lookup, table.copy(), ids.tolist())
    check_array(
        f"embedding_lookup(table {table.shape}, ids as a nested list of {N} x {L})", got, table[ids]
    )
    _check_lookup(
        embedding_lookup,
        table.astype(np.float32),
        ids,
        f"embedding_lookup(float32 table {table.shape}, ids {ids.shape})",
    )


def _names_id(message: str, bad: int) -> bool:
    return str(bad) in re.findall(r"-?\d+", message)


def check_embedding_out_of_range(rng, embedding_lookup):
    """A valid lookup succeeds (so a function that always raises earns nothing), then ids just past
    either end and far beyond, in ids of shape (N, L), (L,) and () (a single id), are refused with
    an IndexError that names the id. (Described, not echoed: hidden values stay hidden.)"""
    sizes = distinct_sizes(rng, ["N", "L", "V", "E"], low=2, high=11)
    N, L, V, E = (sizes[name] for name in ("N", "L", "V", "E"))
    table = rng.normal(size=(V, E))
    ids = rng.integers(0, V, size=L)  # 1-D: only the range check is graded here, not the shape
    ids[0], ids[-1] = 0, V - 1
    check_array(
        f"embedding_lookup(table {table.shape}, valid ids {ids.shape})",
        call_numpy_only(embedding_lookup, table.copy(), ids.copy()),
        table[ids],
    )
    cases = [
        (V, "an id equal to V, the vocabulary size"),
        (V + int(rng.integers(1, 5)), "an id above V"),
        (-1, "the id -1"),
        (-int(rng.integers(2, V + 1)), "a negative id below -1"),
    ]
    for shape in [(N, L), (L,), ()]:
        for bad, description in cases:
            ids = np.array(rng.integers(0, V, size=shape))
            ids.flat[int(rng.integers(ids.size))] = bad
            with quiet():  # the oracle: F.embedding refuses the same ids
                try:
                    F.embedding(torch.from_numpy(ids.copy()), tensor(table))
                except IndexError:
                    pass
                else:  # pragma: no cover - torch's behaviour, not the learner's
                    raise RuntimeError(f"F.embedding accepted id {bad}")
            call = f"embedding_lookup(table {table.shape}, ids {ids.shape} holding {description})"
            try:
                call_numpy_only(embedding_lookup, table.copy(), ids.copy())
            except IndexError as error:
                if not _names_id(str(error), bad):
                    raise AssertionError(
                        f"{call} raised IndexError, but its message does not name the id"
                    ) from None
            else:
                raise AssertionError(
                    f"{call} returned a result; it should raise IndexError, as F.embedding does"
                )


def _torch_cosine(a, b, dim=-1, eps=1e-8):
    with quiet():
        return numpy(F.cosine_similarity(tensor(a), tensor(b), dim=dim, eps=eps))


def _check_cosine(cosine_similarity, a, b, expected, **kwargs):
    def shown(x):
        plain = isinstance(x, np.ndarray) and x.dtype == np.float64
        return f"{np.shape(x)}" + ("" if plain else f" {_kind(x)}")

    options = "".join(f", {key}={value}" for key, value in kwargs.items())
    name = f"cosine_similarity(a {shown(a)}, b {shown(b)}{options})"
    got = call_numpy_only(cosine_similarity, a, b, **kwargs)
    if np.ndim(expected) == 0 and type(got) is np.float64:  # two vectors: a float64 scalar will do
        got = np.asarray(got)
    check_array(name, got, expected)
    _check_dtype(name, got, np.float64)


def _kind(x):
    return x.dtype.name if isinstance(x, np.ndarray) else f"{type(x).__name__} of ints"


def check_cosine(rng, cosine_similarity):
    """Ranks 1 to 4, broadcasting with negative and non-negative axes over inputs of different
    ranks, E = 1, N = 1, equal, scaled, opposite and orthogonal vectors, float32 and integer-list
    inputs (the result is float64)."""
    sizes = distinct_sizes(rng, ["N", "L", "S", "E"], low=2, high=11)
    N, L, S, E = (sizes[name] for name in ("N", "L", "S", "E"))
    normal = rng.normal
    cases = [
        (normal(size=(L, E)), normal(size=(L, E)), {}),
        (normal(size=(N, L, E)), normal(size=(N, L, E)), {}),
        (normal(size=(N, L, S, E)), normal(size=(N, L, S, E)), {}),
        (normal(size=(N, L, 1, E)), normal(size=(S, E)), {}),
        (normal(size=(N, E, L)), normal(size=(N, E, L)), {"axis": 1}),
        (normal(size=(N, E, L)), normal(size=(E, L)), {"axis": 1}),
        (normal(size=(E, L)), normal(size=(N, E, L)), {"axis": -2}),
        (normal(size=(E, 1)), normal(size=(N, S, E, L)), {"axis": 2}),
        (normal(size=(N, L, E)), normal(size=(N, L, E)), {"axis": 0}),
    ]
    for a, b, kwargs in cases:
        axis = kwargs.get("axis", -1)
        _check_cosine(
            cosine_similarity, a.copy(), b.copy(), _torch_cosine(a, b, dim=axis), **kwargs
        )
    # Rank 1, a lone vector against many, one number per vector (E = 1: the sign), N = 1.
    extremes = [
        (normal(size=E), normal(size=E)),
        (normal(size=E), normal(size=(S, E))),
        (normal(size=(N, L, 1)), normal(size=(N, L, 1))),
        (normal(size=(1, L, E)), normal(size=(1, L, E))),
    ]
    for a, b in extremes:
        _check_cosine(cosine_similarity, a.copy(), b.copy(), _torch_cosine(a, b))
    # Equal, scaled, opposite and orthogonal vectors: similarities of exactly 1, -1 and 0.
    a = normal(size=(4, E))
    b = np.stack([a[0], 3.0 * a[1], -a[2], np.zeros(E)])
    b[3, 0], a[3] = 1.0, np.eye(E)[1]
    _check_cosine(cosine_similarity, a.copy(), b.copy(), _torch_cosine(a, b))
    a, b = normal(size=(N, L, E)).astype(np.float32), normal(size=(N, L, E)).astype(np.float32)
    _check_cosine(
        cosine_similarity, a.copy(), b.copy(), _torch_cosine(a.astype(float), b.astype(float))
    )
    a, b = rng.integers(-5, 6, size=(L, E)), rng.integers(-5, 6, size=(L, E))
    for integers in (a, b):  # no zero vector: those are check_cosine_small_norms's, in every draw
        integers[np.all(integers == 0, axis=-1), 0] = 1
    _check_cosine(
        cosine_similarity, a.tolist(), b.tolist(), _torch_cosine(a.astype(float), b.astype(float))
    )


def check_cosine_small_norms(rng, cosine_similarity):
    """Zero vectors, norms below eps, two small norms whose product is below eps, and a custom eps
    (unit-length b, so only clamping each norm by the eps given matches)."""
    sizes = distinct_sizes(rng, ["N", "L", "E"], low=3, high=11)
    N, L, E = (sizes[name] for name in ("N", "L", "E"))
    a, b = rng.normal(size=(N, L, E)), rng.normal(size=(N, L, E))
    a[0, 0] = 0.0  # a zero vector
    b[1, 1] = 0.0
    a[1, 0] *= 10.0 ** rng.uniform(-12, -9)  # norms below eps = 1e-8
    b[0, 2] *= 10.0 ** rng.uniform(-12, -9)
    a[2, 1] *= 1e-5  # two small norms whose product is below eps
    b[2, 1] *= 1e-5
    _check_cosine(cosine_similarity, a.copy(), b.copy(), _torch_cosine(a, b))
    a = rng.normal(size=(L, N, E)) * 10.0 ** rng.uniform(-4, -3)
    b = rng.normal(size=(L, N, E))
    b /= np.linalg.norm(b, axis=-1, keepdims=True)
    eps = float(rng.uniform(0.05, 0.1))
    _check_cosine(cosine_similarity, a.copy(), b.copy(), _torch_cosine(a, b, eps=eps), eps=eps)


def _torch_neighbours(table, query_ids, k):
    """torch's ranking with ties broken by the smaller id: a stable descending sort (torch.topk
    leaves the order of ties unspecified)."""
    t = tensor(table)
    queries = torch.from_numpy(np.array(query_ids))
    with quiet():
        sims = F.cosine_similarity(t[queries][:, None, :], t[None, :, :], dim=-1)
    sims[torch.arange(len(queries)), queries] = -torch.inf
    values, indices = torch.sort(sims, dim=-1, descending=True, stable=True)
    return numpy(indices[:, :k]), numpy(values[:, :k])


def _tied_table(rng, V, E, query_ids):
    """Rows of many lengths, with exact ties: a query's row duplicated and one scaled by 2 (cosine
    exactly 1), the last row exactly opposite to it (cosine -1, so that a query left in at -1
    instead of -inf ties with it and, having the smaller id, comes first), two equal non-query
    rows, two zero rows (similarity 0 with everything), and one query that is itself a zero
    vector (every similarity 0). The queries must not include V - 1."""
    table = rng.normal(size=(V, E)) * rng.uniform(0.1, 10.0, size=(V, 1))
    others = [i for i in rng.permutation(V - 1) if i not in set(query_ids.tolist())]
    first, second = int(query_ids[0]), int(query_ids[1])
    table[others[0]] = table[first]
    table[others[1]] = 2.0 * table[first]
    table[V - 1] = -table[first]
    table[others[3]] = table[others[2]]
    table[others[4]] = table[others[5]] = 0.0
    table[second] = 0.0
    return table


def _similarity_stand_in(table):
    """A correct `similarity` for the learner's nearest_neighbours, so that a cosine_similarity
    bug costs part 2's points only. torch computes the similarity of every two rows once; a call
    similarity(a, b, axis=-1, eps=1e-8) on rows of `table` (broadcast together) answers from
    those results, so its cost is bounded whatever shapes it is given.
    Returns (similarity, used)."""
    table = np.array(table, dtype=np.float64)
    V, E = table.shape
    with quiet():
        every = numpy(F.cosine_similarity(tensor(table)[:, None], tensor(table)[None, :], dim=-1))
    used = []

    def row_ids(vectors):
        equal = np.all(vectors[..., None, :] == table, axis=-1)  # (..., V)
        if not np.all(np.any(equal, axis=-1)):
            raise AssertionError(
                "similarity was called on vectors that are not rows of `table`: "
                "pass the table's rows as they are"
            )
        return np.argmax(equal, axis=-1)

    def similarity(a, b, axis=-1, eps=1e-8):
        used.append("similarity")
        if eps != 1e-8:
            raise AssertionError(f"similarity was called with eps={eps}: keep the default eps=1e-8")
        a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
        a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
        if a.shape[-1] != E:
            raise AssertionError(
                f"similarity was called along an axis of length {a.shape[-1]}, "
                f"not the E = {E} features of a row"
            )
        if a.size > E * V * V:
            raise AssertionError(f"similarity was called on more than V * V = {V * V} pairs")
        return every[row_ids(a), row_ids(b)]

    similarity.sandbox_any_shape = True  # answers from `every`: arrays of any shape may reach it
    return similarity, used


def _check_neighbours(name, result, expected_ids, expected_sims):
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AssertionError(
            f"{name}: expected a pair (ids, similarities), got {type(result).__name__}"
        )
    _check_ids(f"{name}: ids", result[0], expected_ids)
    check_array(f"{name}: similarities", result[1], expected_sims)


def _check_nearest(nearest_neighbours, table, given, k, kind):
    queries = np.asarray(given, dtype=np.intp)
    name = (
        f"nearest_neighbours(table {table.shape}, {len(queries)} query ids as a {kind}, "
        f"k={k}, similarity)"
    )
    similarity, used = _similarity_stand_in(table)
    result = call_numpy_only(nearest_neighbours, table.copy(), given, k, similarity=similarity)
    if not used and len(queries):
        raise AssertionError(
            f"{name} never called the `similarity` function it was given; "
            "compute the similarities with it"
        )
    _check_neighbours(name, result, *_torch_neighbours(table, queries, k))


def check_nearest_neighbours(rng, nearest_neighbours):
    """Ties (duplicate, scaled, opposite and zero rows; a zero query) broken by the smaller id, the
    query never its own neighbour, k from 1 to V - 1, query ids as an array, a list or a tuple;
    one query, none at all, a vocabulary of two words, one number per row, and a vocabulary of
    64 or more words. The similarities come from a torch stand-in, not the learner's
    cosine_similarity."""
    sizes = distinct_sizes(rng, ["Q", "k", "E"], low=2, high=9)
    Q, k, E = sizes["Q"], sizes["k"], sizes["E"]
    V = int(rng.integers(k + Q + 8, 40))
    query_ids = rng.choice(V - 1, size=Q, replace=False)
    table = _tied_table(rng, V, E, query_ids)
    listed = query_ids.tolist()
    for given, kind in [(query_ids, "array"), (listed, "list"), (tuple(listed), "tuple")]:
        for count in [k, 1, V - 1]:
            _check_nearest(nearest_neighbours, table, given, count, kind)
    _check_nearest(nearest_neighbours, table, query_ids[:1], V - 1, "array")
    _check_nearest(nearest_neighbours, table, np.zeros(0, dtype=int), k, "array")
    _check_nearest(nearest_neighbours, rng.normal(size=(2, E)), np.array([1]), 1, "array")
    narrow = rng.normal(size=(V, 1))  # one number per row: every similarity is +1 or -1, ties
    _check_nearest(nearest_neighbours, narrow, query_ids, V - 1, "array")
    wide = rng.normal(size=(int(rng.integers(LONG, 2 * LONG)), E))
    _check_nearest(nearest_neighbours, wide, query_ids, k, "array")


def _torch_entries_read(ids, E):
    """The oracle: how many entries of a real nn.Embedding's weight get a non-zero gradient from
    a lookup of `ids` (the row of an id read n times gets n in each entry, never 0)."""
    flat = np.array(ids, dtype=np.int64)
    V = int(flat.max()) + 3 if flat.size else 3  # unused rows at the end too
    embedding = torch.nn.Embedding(V, E, dtype=torch.float64)
    embedding(torch.from_numpy(flat)).sum().backward()
    return int((embedding.weight.grad != 0).sum())


def _check_entries_read(table_entries_read, ids, E):
    kind = "a nested list" if isinstance(ids, list) else f"{np.shape(ids)} {np.asarray(ids).dtype}"
    what = f"table_entries_read(ids {kind}, E={E})"
    got = call_learner(what, table_entries_read, ids, E)
    check_count(what, got, _torch_entries_read(ids, E))


def check_table_entries_read(rng, table_entries_read):
    """Ids (N, L) with words repeated within and across sequences, (N, L, K), (L,) with unused ids
    below the largest, one id, no ids, a nested list, every id the same, 64 or more ids from a
    vocabulary of 50 000, E = 1, int32 and uint8 ids."""
    sizes = distinct_sizes(rng, ["N", "L", "K", "E"], low=2, high=9)
    N, L, K, E = (sizes[name] for name in ("N", "L", "K", "E"))
    repeated = rng.integers(0, 5, size=(N, L))
    repeated[1, 0] = repeated[0, 1] = repeated[0, 0]  # within a sequence and across two
    gaps = 3 * L * rng.integers(0, 2, size=L)  # only 0 and 3L: every id between is unused
    gaps[0] = 3 * L
    cases = [
        (repeated, E),
        (rng.integers(0, 12, size=(N, L, K)), E),
        (gaps, E),
        (np.array(int(rng.integers(0, 30))), E),
        (np.zeros(0, dtype=np.int64), E),
        (np.zeros((N, 0), dtype=np.int64), E),
        (rng.integers(0, 7, size=(N, L)).tolist(), E),
        (np.full((N, L), int(rng.integers(0, 40))), E),
        (rng.integers(0, 50_000, size=(2, int(rng.integers(LONG, 4 * LONG)))), E),
        (rng.integers(0, 6, size=(N, L)), 1),
        (rng.integers(0, 20, size=(N, L)).astype(np.int32), E),
        (rng.integers(0, 256, size=(N, L, K)).astype(np.uint8), E),
    ]
    for ids, width in cases:
        _check_entries_read(table_entries_read, ids, width)


CHECKS = {
    "embedding-lookup": check_embedding_lookup,
    "embedding-out-of-range": check_embedding_out_of_range,
    "cosine": check_cosine,
    "cosine-small-norms": check_cosine_small_norms,
    "nearest-neighbours": check_nearest_neighbours,
    "table-entries-read": check_table_entries_read,
}


AXES = {
    "embedding_lookup": stress.axes(
        Axis("length", "64 or more ids in a row", lambda c: stress.size(c.ids, -1) >= LONG),
        Axis("size extremes", "a single id", lambda c: np.ndim(c.ids) == 0),
        Axis("size extremes", "4-D ids", lambda c: np.ndim(c.ids) == 4),
        Axis("size extremes", "no ids", lambda c: np.size(c.ids) == 0),
        Axis("size extremes", "V = 1", lambda c: c.table.shape[0] == 1),
        Axis("size extremes", "E = 1", lambda c: c.table.shape[1] == 1),
        Axis(
            "size extremes",
            "id 0 and id V - 1",
            lambda c: {0, len(c.table) - 1} <= set(np.ravel(c.ids).tolist()),
        ),
        Axis(
            "size extremes",
            "ids out of range",
            lambda c: np.any((np.asarray(c.ids) < 0) | (np.asarray(c.ids) >= len(c.table))),
        ),
        Axis("dtype", "a float32 table", lambda c: c.table.dtype == np.float32),
        Axis("dtype", "int32 ids", lambda c: stress.array(c.ids).dtype == np.int32),
        Axis("dtype", "uint8 ids", lambda c: stress.array(c.ids).dtype == np.uint8),
        Axis("dtype", "a nested list", lambda c: isinstance(c.ids, list)),
    ),
    "cosine_similarity": stress.axes(
        Axis("degenerate geometry", "zero vectors", lambda c: _has_row(c.a, lambda n: n == 0)),
        Axis(
            "degenerate geometry",
            "norms below eps",
            lambda c: _has_row(c.a, lambda n: (n > 0) & (n < c.eps)),
        ),
        Axis(
            "degenerate geometry",
            "opposite vectors",
            lambda c: _any_pair(c, lambda x: x < -1 + 1e-12),
        ),
        Axis(
            "degenerate geometry",
            "equal directions",
            lambda c: _any_pair(c, lambda x: x > 1 - 1e-12),
        ),
        Axis("size extremes", "1-D vectors", lambda c: np.ndim(c.a) == np.ndim(c.b) == 1),
        Axis("size extremes", "4-D", lambda c: max(np.ndim(c.a), np.ndim(c.b)) == 4),
        Axis("size extremes", "E = 1", lambda c: stress.size(c.a, c.axis) == 1),
        Axis("size extremes", "a positive axis", lambda c: c.axis >= 0),
        Axis("size extremes", "inputs of different ranks", lambda c: np.ndim(c.a) != np.ndim(c.b)),
        Axis("dtype", "float32", lambda c: stress.array(c.a).dtype == np.float32),
        Axis("dtype", "lists of integers", lambda c: isinstance(c.a, list)),
        Axis("dtype", "another eps", lambda c: c.eps != 1e-8),
    ),
    "nearest_neighbours": stress.axes(
        Axis("length", "a vocabulary of 64 or more", lambda c: len(c.table) >= LONG),
        Axis("degenerate geometry", "an exactly opposite row", lambda c: _opposite_rows(c.table)),
        Axis(
            "degenerate geometry",
            "duplicate rows",
            lambda c: len(np.unique(c.table, axis=0)) < len(c.table),
        ),
        Axis(
            "degenerate geometry",
            "a zero query",
            lambda c: np.any(np.all(c.table[np.asarray(c.query_ids, dtype=np.intp)] == 0, axis=-1)),
        ),
        Axis("size extremes", "k = V - 1", lambda c: c.k == len(c.table) - 1),
        Axis("size extremes", "k = 1", lambda c: c.k == 1),
        Axis("size extremes", "one query", lambda c: len(c.query_ids) == 1),
        Axis("size extremes", "no query", lambda c: len(c.query_ids) == 0),
        Axis("size extremes", "V = 2", lambda c: len(c.table) == 2),
        Axis("size extremes", "E = 1", lambda c: c.table.shape[1] == 1),
        Axis("dtype", "a list of ids", lambda c: isinstance(c.query_ids, list)),
        Axis("dtype", "a tuple of ids", lambda c: isinstance(c.query_ids, tuple)),
    ),
    "table_entries_read": stress.axes(
        Axis(
            "length",
            "64 or more ids from a vocabulary of 50 000",
            lambda c: np.size(c.ids) >= LONG and np.max(c.ids) >= 10_000,
        ),
        Axis("degenerate geometry", "every id the same", lambda c: _every_id_the_same(c.ids)),
        Axis(
            "degenerate geometry",
            "an id in two sequences",
            lambda c: np.ndim(c.ids) == 2 and _shared_by_two_rows(c.ids),
        ),
        Axis(
            "degenerate geometry",
            "unused ids below the largest",
            lambda c: np.size(c.ids) > 0 and np.unique(c.ids).size < np.max(c.ids) + 1,
        ),
        Axis("size extremes", "a single id", lambda c: np.ndim(c.ids) == 0),
        Axis("size extremes", "no ids", lambda c: np.size(c.ids) == 0),
        Axis("size extremes", "3-D ids", lambda c: np.ndim(c.ids) == 3),
        Axis("size extremes", "E = 1", lambda c: c.E == 1),
        Axis("dtype", "int32 ids", lambda c: stress.array(c.ids).dtype == np.int32),
        Axis("dtype", "uint8 ids", lambda c: stress.array(c.ids).dtype == np.uint8),
        Axis("dtype", "a nested list", lambda c: isinstance(c.ids, list)),
    ),
}


def _every_id_the_same(ids) -> bool:
    return np.size(ids) > 1 and np.unique(ids).size == 1


def _shared_by_two_rows(ids) -> bool:
    rows = [set(np.asarray(row).tolist()) for row in ids]
    return any(rows[i] & rows[j] for i in range(len(rows)) for j in range(i))


def _has_row(x, condition) -> bool:
    x = np.asarray(x, dtype=np.float64)
    return x.ndim >= 1 and bool(np.any(condition(np.linalg.norm(x, axis=-1))))


def _any_pair(call, condition) -> bool:
    a, b = np.broadcast_arrays(np.asarray(call.a, float), np.asarray(call.b, float))
    a, b = np.moveaxis(a, call.axis, -1), np.moveaxis(b, call.axis, -1)
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    cosine = np.sum(a * b, axis=-1) / np.where(norms > 0, norms, 1.0)
    return bool(np.any(condition(cosine) & (norms > 0)))


def _opposite_rows(table) -> bool:
    return any(np.any(np.all(table == -row, axis=-1)) for row in table if np.any(row))


COVERAGE = {
    "embedding-lookup": {
        "64 or more ids in a row": "ids (1, 64..127)",
        "a single id": "ids of shape ()",
        "4-D ids": "ids (K, N, L, 2)",
        "no ids": "ids (0,) and (N, 0)",
        "V = 1": "a vocabulary of one word",
        "E = 1": "vectors of one number",
        "id 0 and id V - 1": "both ends in every id array",
        "a float32 table": "float32 table, dtype kept",
        "int32 ids": "int32 ids",
        "uint8 ids": "uint8 ids",
        "a nested list": "ids as a nested list",
        **stress.EVERY_CALL,
    },
    "embedding-out-of-range": {
        "a single id": "one bad id of shape ()",
        "ids out of range": "V, above V, -1, below -1",
        "id 0 and id V - 1": "a valid lookup first",
        **stress.EVERY_CALL,
    },
    "cosine": {
        "opposite vectors": "b = -a in one row",
        "equal directions": "b = 3 a in one row",
        "1-D vectors": "(E,) with (E,), and (E,) with (S, E)",
        "4-D": "(N, L, S, E) and (N, S, E, L)",
        "E = 1": "vectors of one number",
        "a positive axis": "axis 0, 1, 2",
        "inputs of different ranks": "(N, L, 1, E) with (S, E) and others",
        "float32": "float32 inputs, float64 result",
        "lists of integers": "lists of ints",
        **stress.EVERY_CALL,
    },
    "cosine-small-norms": {
        "zero vectors": "a[0, 0] = 0 and b[1, 1] = 0",
        "norms below eps": "norms 1e-12..1e-9",
        "another eps": "eps 0.05..0.1 with unit b",
        **stress.EVERY_CALL,
    },
    "nearest-neighbours": {
        "a vocabulary of 64 or more": "V = 64..127",
        "an exactly opposite row": "row V - 1 = -(first query's row)",
        "duplicate rows": "a duplicate and a doubled copy of a query, two equal rows",
        "a zero query": "the second query is a zero row",
        "k = V - 1": "k = V - 1 for every form of query ids",
        "k = 1": "k = 1",
        "one query": "one query, k = V - 1",
        "no query": "an empty integer array",
        "V = 2": "a vocabulary of two words",
        "E = 1": "rows of one number (similarities +-1)",
        "a list of ids": "query ids as a list",
        "a tuple of ids": "query ids as a tuple",
        **stress.EVERY_CALL,
    },
    "table-entries-read": {
        "64 or more ids from a vocabulary of 50 000": "ids (2, 64..255) below 50 000",
        "every id the same": "an (N, L) array of one id",
        "an id in two sequences": "ids (N, L) from 5 words, one id in rows 0 and 1",
        "unused ids below the largest": "ids (L,) of 0 and 3L only",
        "a single id": "ids of shape ()",
        "no ids": "ids (0,) and (N, 0)",
        "3-D ids": "ids (N, L, K)",
        "E = 1": "E = 1",
        "int32 ids": "int32 ids",
        "uint8 ids": "uint8 ids (N, L, K)",
        "a nested list": "ids as a nested list",
        **stress.EVERY_CALL,
    },
}
