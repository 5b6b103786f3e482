"""Assignment 01-word-embeddings: hidden checks against torch, and known-wrong variants."""

import numpy as np
import torch
import torch.nn.functional as F

from . import Mistake
from ..oracle import call_numpy_only, check_array, distinct_sizes, numpy, quiet, tensor

ASSIGNMENT = "01-word-embeddings"


def _check_ids(name, got, expected):
    """Assert that `got` is an integer numpy array equal to `expected`."""
    expected = np.asarray(expected)
    if got is None:
        raise AssertionError(f"{name}: got None. Did the function forget to `return` its result?")
    if type(got) is not np.ndarray:
        raise AssertionError(f"{name}: expected a numpy.ndarray, got {type(got).__qualname__}")
    if got.dtype.kind not in "iu":
        raise AssertionError(f"{name}: expected an integer array, got dtype {got.dtype}")
    if got.shape != expected.shape:
        raise AssertionError(f"{name}: expected shape {expected.shape}, got shape {got.shape}")
    if not np.array_equal(got, expected):
        index = tuple(int(i) for i in np.argwhere(got != expected)[0])
        raise AssertionError(f"{name}: at index {index} expected id {expected[index]}, got {got[index]}")


def check_embedding_lookup(rng, embedding_lookup):
    sizes = distinct_sizes(rng, ["N", "L", "K", "V", "E"], low=2, high=11)
    N, L, K, V, E = (sizes[name] for name in ("N", "L", "K", "V", "E"))
    table = rng.normal(size=(V, E))
    for shape in [(L,), (N, L), (N, L, K)]:
        ids = rng.integers(0, V, size=shape)
        ids.flat[0], ids.flat[-1] = 0, V - 1  # both ends of the vocabulary
        expected = numpy(F.embedding(torch.from_numpy(ids.copy()), tensor(table)))
        got = call_numpy_only(embedding_lookup, table.copy(), ids.copy())
        check_array(f"embedding_lookup(table {table.shape}, ids {ids.shape})", got, expected)


def check_embedding_out_of_range(rng, embedding_lookup):
    sizes = distinct_sizes(rng, ["N", "L", "V", "E"], low=2, high=11)
    N, L, V, E = (sizes[name] for name in ("N", "L", "V", "E"))
    table = rng.normal(size=(V, E))
    # A function that always raises must not pass: ids all in range are looked up without error
    # (whether the rows are right is test-embedding-lookup's job, so a wrong shape is not judged here).
    valid = rng.integers(0, V, size=(N, L))
    valid.flat[0], valid.flat[-1] = 0, V - 1
    try:
        got = call_numpy_only(embedding_lookup, table.copy(), valid.copy())
    except Exception as error:
        raise AssertionError(
            f"embedding_lookup(table of {V} rows, ids {valid.shape} all in 0..{V - 1}) raised "
            f"{type(error).__name__}; it should raise only for ids outside the vocabulary"
        ) from None
    if type(got) is not np.ndarray:
        raise AssertionError(
            f"embedding_lookup(table of {V} rows, ids {valid.shape} all in range) returned "
            f"{type(got).__qualname__}, not a numpy array"
        )
    for bad in [V, V + int(rng.integers(1, 5)), -1, -int(rng.integers(2, V + 1))]:
        ids = rng.integers(0, V, size=(N, L))
        ids[int(rng.integers(N)), int(rng.integers(L))] = bad
        # The oracle: F.embedding refuses the same ids.
        try:
            F.embedding(torch.from_numpy(ids.copy()), tensor(table))
        except IndexError:
            pass
        else:  # pragma: no cover - torch's behaviour, not the learner's
            raise RuntimeError(f"F.embedding accepted id {bad}")
        try:
            call_numpy_only(embedding_lookup, table.copy(), ids.copy())
        except IndexError as error:
            if str(bad) not in str(error):
                raise AssertionError(
                    f"embedding_lookup raised IndexError for id {bad} (vocabulary of {V}), "
                    f"but its message does not name the id: {error}"
                ) from None
        else:
            raise AssertionError(
                f"embedding_lookup(table of {V} rows, ids containing {bad}) returned a result; "
                "it should raise IndexError, as F.embedding does"
            )


def _torch_cosine(a, b, dim=-1):
    with quiet():
        return numpy(F.cosine_similarity(tensor(a), tensor(b), dim=dim))


def check_cosine(rng, cosine_similarity):
    sizes = distinct_sizes(rng, ["N", "L", "S", "E"], low=2, high=11)
    N, L, S, E = (sizes[name] for name in ("N", "L", "S", "E"))
    a, b = rng.normal(size=(N, L, E)), rng.normal(size=(N, L, E))
    check_array(f"cosine_similarity(a {a.shape}, b {b.shape})", call_numpy_only(cosine_similarity, a.copy(), b.copy()), _torch_cosine(a, b))
    a, b = rng.normal(size=(N, L, 1, E)), rng.normal(size=(1, S, E))
    check_array(
        f"cosine_similarity(a {a.shape}, b {b.shape}) (broadcast)",
        call_numpy_only(cosine_similarity, a.copy(), b.copy()),
        _torch_cosine(a, b),
    )
    a, b = rng.normal(size=(N, E, L)), rng.normal(size=(N, E, L))
    check_array(
        f"cosine_similarity(a {a.shape}, b {b.shape}, axis=1)",
        call_numpy_only(cosine_similarity, a.copy(), b.copy(), axis=1),
        _torch_cosine(a, b, dim=1),
    )


def check_cosine_small_norms(rng, cosine_similarity):
    sizes = distinct_sizes(rng, ["N", "L", "E"], low=3, high=11)
    N, L, E = (sizes[name] for name in ("N", "L", "E"))
    a, b = rng.normal(size=(N, L, E)), rng.normal(size=(N, L, E))
    a[0, 0] = 0.0  # a zero vector
    b[1, 1] = 0.0
    a[1, 0] *= 10.0 ** rng.uniform(-12, -9)  # norms below eps = 1e-8
    b[0, 2] *= 10.0 ** rng.uniform(-12, -9)
    a[2, 1] *= 1e-5  # two small norms whose product is below eps
    b[2, 1] *= 1e-5
    check_array(
        "cosine_similarity with zero and tiny vectors",
        call_numpy_only(cosine_similarity, a.copy(), b.copy()),
        _torch_cosine(a, b),
    )


def _torch_neighbours(table, query_ids, k):
    t = tensor(table)
    with quiet():
        sims = F.cosine_similarity(t[torch.from_numpy(query_ids.copy())][:, None, :], t[None, :, :], dim=-1)
    sims[torch.arange(len(query_ids)), torch.from_numpy(query_ids.copy())] = -torch.inf
    values, indices = torch.topk(sims, k, dim=-1)
    return numpy(indices), numpy(values)


def check_nearest_neighbours(rng, nearest_neighbours):
    sizes = distinct_sizes(rng, ["Q", "k", "E"], low=2, high=9)
    Q, k, E = sizes["Q"], sizes["k"], sizes["E"]
    V = int(rng.integers(k + Q + 3, 30))
    table = rng.normal(size=(V, E)) * rng.uniform(0.1, 10.0, size=(V, 1))  # rows of many lengths
    query_ids = rng.choice(V, size=Q, replace=False)
    ids, sims = call_numpy_only(nearest_neighbours, table.copy(), query_ids.copy(), k)
    expected_ids, expected_sims = _torch_neighbours(table, query_ids, k)
    _check_ids(f"nearest_neighbours(table {table.shape}, {Q} queries, k={k}): ids", ids, expected_ids)
    check_array(f"nearest_neighbours(table {table.shape}, {Q} queries, k={k}): similarities", sims, expected_sims)


CHECKS = {
    "embedding-lookup": check_embedding_lookup,
    "embedding-out-of-range": check_embedding_out_of_range,
    "cosine": check_cosine,
    "cosine-small-norms": check_cosine_small_norms,
    "nearest-neighbours": check_nearest_neighbours,
}

MISTAKES = [
    Mistake(
        name="lookup without a range check (negative ids wrap around silently)",
        cell="embedding-lookup",
        source="""
def embedding_lookup(table, ids):
    return table[np.asarray(ids)]
""",
        fails=frozenset({"test-embedding-out-of-range"}),
    ),
    Mistake(
        name="lookup that flattens the ids and forgets to restore their shape",
        cell="embedding-lookup",
        source="""
def embedding_lookup(table, ids):
    ids = np.asarray(ids)
    V = table.shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        bad = ids[(ids < 0) | (ids >= V)].flat[0]
        raise IndexError(f"token id {bad} is out of range for a vocabulary of {V}")
    return table[ids.reshape(-1)]
""",
        fails=frozenset({"test-embedding-lookup"}),
    ),
    Mistake(
        name="cosine similarity with no eps (0 / 0 gives NaN for a zero vector)",
        cell="cosine-similarity",
        source="""
def cosine_similarity(a, b, axis=-1, eps=1e-8):
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    return np.sum(a * b, axis=axis) / (np.linalg.norm(a, axis=axis) * np.linalg.norm(b, axis=axis))
""",
        fails=frozenset({"test-cosine-small-norms"}),
    ),
    Mistake(
        name="cosine similarity clamping the product of the norms instead of each norm",
        cell="cosine-similarity",
        source="""
def cosine_similarity(a, b, axis=-1, eps=1e-8):
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    norms = np.linalg.norm(a, axis=axis) * np.linalg.norm(b, axis=axis)
    return np.sum(a * b, axis=axis) / np.maximum(norms, eps)
""",
        fails=frozenset({"test-cosine-small-norms"}),
    ),
    Mistake(
        name="cosine similarity over the last axis whatever `axis` says",
        cell="cosine-similarity",
        source="""
def cosine_similarity(a, b, axis=-1, eps=1e-8):
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), eps)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), eps)
    return np.sum(a * b, axis=-1)
""",
        fails=frozenset({"test-cosine"}),
    ),
    Mistake(
        name="nearest neighbours that keep the query word itself",
        cell="nearest-neighbours",
        source="""
def nearest_neighbours(table, query_ids, k):
    query_ids = np.asarray(query_ids)
    sims = cosine_similarity(table[query_ids][:, None, :], table[None, :, :])
    ids = np.argsort(-sims, axis=-1, kind="stable")[:, :k]
    return ids, np.take_along_axis(sims, ids, axis=-1)
""",
        fails=frozenset({"test-nearest-neighbours"}),
    ),
    Mistake(
        name="nearest neighbours by dot product instead of cosine similarity",
        cell="nearest-neighbours",
        source="""
def nearest_neighbours(table, query_ids, k):
    query_ids = np.asarray(query_ids)
    sims = table[query_ids] @ table.T
    sims[np.arange(len(query_ids)), query_ids] = -np.inf
    ids = np.argsort(-sims, axis=-1, kind="stable")[:, :k]
    return ids, np.take_along_axis(sims, ids, axis=-1)
""",
        fails=frozenset({"test-nearest-neighbours"}),
    ),
]
