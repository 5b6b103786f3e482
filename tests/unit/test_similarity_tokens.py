"""The similarity report's normalisation (autograder/report/similarity_tokens.py) and its ranking
(autograder/report/similarity.py), on hand-made code: fast, no notebook is built."""

import itertools
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.report import similarity
from autograder.report.similarity_tokens import normalise

pytestmark = pytest.mark.unit


def texts(source: str) -> list[str]:
    return [token.text for token in normalise(textwrap.dedent(source))]


def test_independent_lines_swapped_give_the_same_tokens():
    """Is the order of independent assignments set aside, and a dependency kept?"""
    one = texts("""
        def f(x, W):
            n = x.shape[0]
            h, e, d = W.shape
            y = np.zeros((n, h))
            return y
    """)
    two = texts("""
        def f(x, W):
            h, e, d = W.shape
            n = x.shape[0]
            y = np.zeros((n, h))
            return y
    """)
    dependent = texts("""
        def f(x, W):
            y = np.zeros((n, h))
            n = x.shape[0]
            h, e, d = W.shape
            return y
    """)
    assert one == two
    assert one != dependent, "a line that reads a name must stay after the line that writes it"


def test_a_line_moved_up_past_lines_of_equal_text_gives_the_same_tokens():
    """Three projections that normalise alike, and a line that needs two of them moved up to
    just after those two: the same tokens (a sort that picks the next line by text alone
    places it by which projection came last)."""
    written = texts("""
        def f(x, a, b, c, s):
            k = x @ a
            v = x @ b
            q = x @ c
            e = q / s @ k
            return e, v
    """)
    moved = texts("""
        def f(x, a, b, c, s):
            k = x @ a
            q = x @ c
            e = q / s @ k
            v = x @ b
            return e, v
    """)
    assert written == moved


def test_a_helper_inlined_gives_the_same_tokens_as_the_helper():
    """Does inlining a helper (its locals and tuple unpacking substituted) change nothing?"""
    with_helper = texts("""
        def pack(W_Q, W_K):
            def rows(W):
                h, e, d = W.shape
                flat = W.transpose(1, 0, 2)
                return flat.reshape(e, h * d).T
            return np.concatenate([rows(W_Q), rows(W_K)], axis=0)
    """)
    inlined = texts("""
        def pack(A, B):
            return np.concatenate([A.transpose(1, 0, 2).reshape(A.shape[1], A.shape[0] * A.shape[2]).T,
                                   B.transpose(1, 0, 2).reshape(B.shape[1], B.shape[0] * B.shape[2]).T],
                                  axis=0)
    """)  # noqa: E501
    assert with_helper == inlined


def test_helpers_that_are_passed_or_recursive_are_kept():
    """Is a helper kept when it is used other than by calling it, or calls itself?"""
    passed = texts("""
        def f(x):
            def g(y):
                return y + 1
            return list(map(g, x)) + [g(x)]
    """)
    recursive = texts("""
        def f(x):
            def g(y):
                return g(y - 1)
            return g(x)
    """)
    assert passed.count("def") == 2 and recursive.count("def") == 2


def test_a_helper_moved_and_comments_changed_give_the_same_tokens():
    one = texts("""
        def f(x):
            y = x + 1  # first
            def g(z):
                return (z, z)
            return g(y), np.sum(y)
    """)
    two = texts("""
        def f(x):
            def g(z):
                # a helper
                return z, z
            y = x + 1
            return (g(y), np.sum(y))
    """)
    assert one == two


def test_names_inside_f_strings_and_non_ascii_lines_are_handled():
    """Does an f-string (one STRING token) or a non-ASCII line keep every token?"""
    source = """
        def f(x, label):
            def g(y):
                return f"{y} é {label}"
            ρ = "ü" + g(x)
            return ρ
    """
    assert texts(source).count("S") >= 1
    assert "V" in texts(source)


def test_code_that_is_not_python_keeps_its_tokens_in_order():
    """Do a syntax error and an IPython magic fall back to the plain tokens, in order?"""
    assert texts("x = = (1)\n") == ["V", "=", "=", "0", ";"]  # tokens, but not Python
    assert texts("x = (1 +\n") == ["V", "=", "(", "0", "+", ";"]  # not even tokens: a regex
    assert texts("%timeit f(x)\ny = 2\n")[-4:] == ["V", "=", "0", ";"]


def test_every_token_is_kept_where_the_learner_wrote_it():
    """After reordering, does each token still point at its own text in the learner's source?"""
    source = "c = 3\nb = 2\na = c + b\nprint(a)\n"
    lines = source.splitlines()
    tokens = normalise(source)
    assert [t.text for t in tokens] == "V = 0 ; V = 0 ; V = V + V ; print ( V ) ;".split()
    assert len({(t.line, t.start) for t in tokens}) == len(tokens)
    for token in tokens:
        written = lines[token.line][token.start : token.end] or ";"
        assert normalise(written)[0].text == token.text, (token, written)


def _submission(name: str, fingerprints: set[int]) -> similarity.Submission:
    return similarity.Submission(name, set(fingerprints), Path(f"{name}.ipynb"))  # never read


def test_evidence_ranks_amount_and_rarity_not_the_ratio():
    """Does a copy of common code outrank a pair whose only code is one rare shared fingerprint
    (ratio 1.00), and is that pair set apart?"""
    common = set(range(100))
    students = [
        _submission("copy", common | {500}),
        _submission("original", common | {501}),
        _submission("lone-a", {900}),
        _submission("lone-b", {900}),
    ] + [_submission(f"honest-{n}", set(range(n * 7, n * 7 + 60))) for n in range(8)]
    ranking = similarity.rank_pairs(students)
    first = ranking.pairs[0]
    assert (first.student_a, first.student_b) == ("copy", "original")
    lone = [p for p in ranking.too_little if {p.student_a, p.student_b} == {"lone-a", "lone-b"}]
    assert lone and lone[0].shared == 1 and lone[0].share_a == 1.0
    assert not any({p.student_a, p.student_b} == {"lone-a", "lone-b"} for p in ranking.pairs)
    assert lone[0].evidence < first.evidence / 10


def test_rarity_counts_more_than_commonness():
    """Does a shared fingerprint that only the pair holds weigh more than one everyone holds?"""
    rare = similarity.fingerprint_bits(np.array([2.0, 500.0, 1000.0]), 1000)
    assert rare[0] > 9.9 and 0.9 < rare[1] < 1.1 and rare[2] < 0.01


def test_code_of_the_contained_student_that_the_other_lacks_counts_against():
    """Does a pair that shares much but each wrote as much apart score less than a copy that kept
    all of its source and added its own?"""
    base = set(range(50))
    students = [
        _submission("source", base),
        _submission("copy-plus", base | set(range(1000, 1050))),  # copied all, added its own
        _submission("half-a", set(range(25)) | set(range(2000, 2025))),
        _submission("half-b", set(range(25)) | set(range(3000, 3025))),
    ]
    ranking = similarity.rank_pairs(students)
    evidence = {frozenset((p.student_a, p.student_b)): p.evidence for p in ranking.pairs}
    copied, halves = frozenset(("source", "copy-plus")), frozenset(("half-a", "half-b"))
    assert evidence[copied] > 2 * evidence.get(halves, 0)


def test_code_made_to_explode_when_inlined_is_kept_as_written():
    """Does a helper whose inlined form doubles at every line (or a call nested in itself) stay a
    helper, in bounded time, instead of growing exponentially?"""
    doubling = (
        "def f(x):\n    def g(a):\n"
        + "".join(f"        a{n + 1} = a{n} + a{n}\n" for n in range(40)).replace("a0", "a")
        + "        return a40\n    return g(x)\n"
    )
    tokens = texts(doubling)
    assert len(tokens) < 1000 and tokens.count("def") == 2
    nested = (
        "def f(x):\n    def g(a):\n        return a + a\n    return " + "g(" * 30 + "x" + ")" * 30
    )
    assert len(texts(nested)) < 2000


def _ranking_by_hand(students: list[similarity.Submission]) -> tuple:
    """rank_pairs' pairs and counts, pair by pair from the sets themselves."""
    holders = Counter(value for student in students for value in student.fingerprints)
    ranked, too_little, no_evidence = [], [], 0
    for (a, first), (b, second) in itertools.combinations(enumerate(students), 2):
        shared = first.fingerprints & second.fingerprints
        if not shared:
            continue
        bits = similarity.fingerprint_bits(
            np.array([holders[v] for v in shared], float), len(students)
        )
        unshared = min(len(first.fingerprints), len(second.fingerprints)) - len(shared)
        evidence = round(float(bits.sum()) - similarity.UNSHARED_BITS * unshared, 6)
        pair = (-evidence, -len(shared), a, b)
        if evidence <= 0:
            no_evidence += 1
        else:
            (ranked if len(shared) >= similarity.MIN_SHARED else too_little).append(pair)
    return sorted(ranked), sorted(too_little), no_evidence


@settings(max_examples=60, deadline=None)
@given(
    classes=st.lists(st.sets(st.integers(0, 40), max_size=25), min_size=2, max_size=14),
    block=st.integers(1, 60),
)
def test_rank_pairs_agrees_with_each_pair_counted_by_hand(classes, block):
    """Does the sparse ranking, in blocks of any size, give every pair's shared count and evidence
    as counting the pair's own sets does?"""
    students = [_submission(f"s{i:02d}", prints) for i, prints in enumerate(classes)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(similarity, "BLOCK_ENTRIES", block)
        ranking = similarity.rank_pairs(students)
    ranked, too_little, no_evidence = _ranking_by_hand(students)

    def listed(pairs):
        index = {student.student: i for i, student in enumerate(students)}
        return [(-p.evidence, -p.shared, index[p.student_a], index[p.student_b]) for p in pairs]

    assert listed(ranking.pairs) == ranked[: similarity.KEPT_PAIRS]
    assert listed(ranking.too_little) == too_little[: similarity.KEPT_PAIRS]
    assert (ranking.ranked, ranking.too_little_count, ranking.no_evidence) == (
        len(ranked),
        len(too_little),
        no_evidence,
    )
