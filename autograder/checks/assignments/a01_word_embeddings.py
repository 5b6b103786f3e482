"""Assignment 01-word-embeddings: hidden checks against torch."""

import re

import numpy as np
import torch
import torch.nn.functional as F

from ..oracle import (
    call_numpy_only,
    check_array,
    distinct_sizes,
    numpy,
    quiet,
    require_array,
    require_same_entries,
    tensor,
)


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


def check_embedding_lookup(rng, embedding_lookup):
    """Ids of every rank (a single id, 1-D to 4-D), a nested list, both ends of the vocabulary,
    and a float32 table whose dtype the result keeps."""
    sizes = distinct_sizes(rng, ["N", "L", "K", "V", "E"], low=2, high=12)
    N, L, K, V, E = (sizes[name] for name in ("N", "L", "K", "V", "E"))
    table = rng.normal(size=(V, E))
    for shape in [(), (L,), (N, L), (N, L, K), (K, N, L, 2)]:
        ids = rng.integers(0, V, size=shape)
        if ids.ndim:
            ids.flat[0], ids.flat[-1] = 0, V - 1  # both ends of the vocabulary
        expected = numpy(F.embedding(torch.from_numpy(np.array(ids)), tensor(table)))
        got = call_numpy_only(embedding_lookup, table.copy(), ids.copy())
        check_array(f"embedding_lookup(table {table.shape}, ids {ids.shape})", got, expected)
    ids = rng.integers(0, V, size=(N, L))
    got = call_numpy_only(embedding_lookup, table.copy(), ids.tolist())
    check_array(
        f"embedding_lookup(table {table.shape}, ids as a nested list of {N} x {L})", got, table[ids]
    )
    table32 = table.astype(np.float32)
    got = call_numpy_only(embedding_lookup, table32.copy(), ids.copy())
    name = f"embedding_lookup(float32 table {table.shape}, ids {ids.shape})"
    check_array(name, got, table32[ids])
    _check_dtype(name, got, np.float32)


def _names_id(message: str, bad: int) -> bool:
    return str(bad) in re.findall(r"-?\d+", message)


def check_embedding_out_of_range(rng, embedding_lookup):
    """A valid lookup succeeds (so a function that always raises earns nothing), then ids just past
    either end and far beyond are refused with an
    IndexError that names the id. (Described, not echoed: hidden values stay hidden.)"""
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
    for shape in [(N, L), (L,)]:
        for bad, description in cases:
            ids = rng.integers(0, V, size=shape)
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
    check_array(name, got, expected)
    _check_dtype(name, got, np.float64)


def _kind(x):
    return x.dtype.name if isinstance(x, np.ndarray) else f"{type(x).__name__} of ints"


def check_cosine(rng, cosine_similarity):
    """Ranks 2 to 4, broadcasting with negative and non-negative axes over inputs of different
    ranks, a custom eps, float32 and integer-list inputs (the result is float64)."""
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
    a, b = normal(size=(N, L, E)).astype(np.float32), normal(size=(N, L, E)).astype(np.float32)
    _check_cosine(
        cosine_similarity, a.copy(), b.copy(), _torch_cosine(a.astype(float), b.astype(float))
    )
    a, b = rng.integers(-5, 6, size=(L, E)), rng.integers(-5, 6, size=(L, E))
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
    exactly 1), two equal non-query rows, two zero rows (similarity 0 with everything), and one
    query that is itself a zero vector (every similarity 0)."""
    table = rng.normal(size=(V, E)) * rng.uniform(0.1, 10.0, size=(V, 1))
    others = [i for i in rng.permutation(V) if i not in set(query_ids.tolist())]
    first, second = int(query_ids[0]), int(query_ids[1])
    table[others[0]] = table[first]
    table[others[1]] = 2.0 * table[first]
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


def check_nearest_neighbours(rng, nearest_neighbours):
    """Ties (duplicate, scaled and zero rows; a zero query) broken by the smaller id, the query
    never its own neighbour, k from 1 to V - 1, and query ids as an array, a list or a tuple.
    The similarities come from a torch stand-in, not from the learner's cosine_similarity."""
    sizes = distinct_sizes(rng, ["Q", "k", "E"], low=2, high=9)
    Q, k, E = sizes["Q"], sizes["k"], sizes["E"]
    V = int(rng.integers(k + Q + 8, 40))
    query_ids = rng.choice(V, size=Q, replace=False)
    table = _tied_table(rng, V, E, query_ids)
    listed = query_ids.tolist()
    forms = [(query_ids, "array"), (listed, "list"), (tuple(listed), "tuple")]
    for given, kind in forms:
        for count in [k, 1, V - 1]:
            name = (
                f"nearest_neighbours(table {table.shape}, {Q} query ids as a {kind}, "
                f"k={count}, similarity)"
            )
            similarity, used = _similarity_stand_in(table)
            result = call_numpy_only(
                nearest_neighbours, table.copy(), given, count, similarity=similarity
            )
            if not used:
                raise AssertionError(
                    f"{name} never called the `similarity` function it was given; "
                    "compute the similarities with it"
                )
            _check_neighbours(name, result, *_torch_neighbours(table, query_ids, count))


CHECKS = {
    "embedding-lookup": check_embedding_lookup,
    "embedding-out-of-range": check_embedding_out_of_range,
    "cosine": check_cosine,
    "cosine-small-norms": check_cosine_small_norms,
    "nearest-neighbours": check_nearest_neighbours,
}
