"""The similarity report: per assignment, the pairs of students whose code shares the most
evidence of copying, most first.

It is evidence for a person to look at, never a verdict. A pair ranks high when the two students
wrote long runs of the same code, once names, comments, layout and the arrangement of lines are
set aside, beyond what the released notebook and the book give everyone, and when that code is
rare in the class. It cannot say why.

The method, step by step:

1. **Read all the code a student wrote.** Every code cell of the notebook: the answer cells and
   any cell the learner added or changed. A cell equal to one of the released notebook's is
   skipped whole, and so is the learner's copy of a course cell (read-only or test), which the
   grader runs from the course's copy whatever it holds: a helper cell of an earlier release
   would otherwise count as code that every such learner shares. What is left of the release
   inside a changed cell is removed in step 3.
2. **Normalise** (autograder/report/similarity_tokens.py). Names, numbers, strings, comments,
   layout and grouping parentheses are set aside; helpers are inlined, definitions put first and
   independent assignments put in one order. Renaming, re-commenting, swapping lines, moving a
   helper or inlining it then leave the tokens as they were.
3. **Fingerprint** (winnowing: Schleimer, Wilkerson and Aiken, SIGMOD 2003, the method behind
   MOSS). Each run of ``KGRAM`` tokens within a cell is hashed (BLAKE2b: the same on every run
   and machine); the smallest hash of every window of ``WINDOW`` hashes is kept, so any match of
   ``KGRAM + WINDOW - 1`` tokens or more is seen. Every run that the released notebook's code or
   a code cell of the book holds is dropped: from the matches and from each student's total.
4. **Weigh by rarity, instead of cutting off.** A fingerprint that ``n`` of the ``N`` students
   hold is worth ``log2(N / (n - 1))`` bits to a pair that shares it: 10 bits when no one else
   in a class of 1,000 holds it, 1 bit when half the class does, nearly 0 when everyone does.
   This is the frequency weighting of JPlag's match weighting (rare matches count more), in
   place of MOSS's ``-m``, which drops a passage held by more than ``m`` students. A fixed
   cut-off throws away exactly the evidence a large class needs: in a class of 1,000 most
   correct code is held by more than 10 students, and so was all of what a copy shared.
5. **Evidence of a pair**, in bits: the rarity of every fingerprint they share, less
   ``UNSHARED_BITS`` for each fingerprint that the one whose code is more nearly contained in
   the other's does not share. It is the weight of evidence (the log-likelihood ratio, with
   fingerprints taken as independent) that one student's code was copied from the other's, a
   copy keeping each fingerprint of its source with probability 3/4, rather than that both wrote
   their own: shared rare code counts for, code of the source that the copy lacks counts
   against, and code a copier added of their own counts for nothing either way. So the score
   grows with the amount of matched code (as Dolos ranks by total overlap), counts rare code
   more (as JPlag's frequency weighting does), and is not fooled by a ratio: two notebooks whose
   only own code is one shared line score a few bits, a copied answer hundreds.
6. **A minimum of evidence.** A pair that shares fewer than ``MIN_SHARED`` fingerprints (about
   two lines of code) is not ranked, however rare they are, as JPlag ignores matches below a
   minimum number of tokens: the report lists such pairs apart and says why. A pair whose
   evidence is zero or less is left out and counted.
7. **The index.** Fingerprint -> students that hold it, as a sparse matrix (SciPy); the products
   ``X diag(bits) Xᵀ`` and ``X Xᵀ``, a block of students at a time, give every pair's evidence
   and shared count without visiting pairs that share nothing.

For the pairs shown, the report also counts the matched tokens (tokens in a run of ``KGRAM``
that both hold) and the longest matched fragment (the longest run both wrote in the same order),
and says what share of each student's fingerprints the other holds.

Why this differs from the method it replaced: that one scored a pair by the Dice ratio of their
fingerprint sets, after dropping every fingerprint held by more than 10 students, and compared
the answer cells only. A score of 1.00 could rest on one shared fingerprint; a copy that renamed,
reordered and inlined ranked below such a pair; at 1,000 students, 99-100 % of each original's
fingerprints were dropped as common, and four of five planted copies were not ranked at all; and
code copied into cells below an untouched answer cell was never compared.

Why not ``copydetect`` (PyPI, 0.5.0): its ``CopyDetector`` compares every pair of files in turn,
hashes k-grams with Python's ``hash()``, which is salted per process (the report would not be
reproducible), its HTML report loads Bootstrap from a CDN (this one must open offline), and it
reads files, not notebook cells.

The files written from the ranking are autograder/report/similarity_files.py.
"""

import functools
import hashlib
import io
import json
import os
import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autograder import REPO_ROOT, course
from autograder.course.notebook_format import cell_grade_id, is_solution
from autograder.grade.results import CodeFingerprints, Task
from autograder.grade.submission_file import MAX_NOTEBOOK_BYTES
from autograder.report import kgram_cache
from autograder.report.similarity_tokens import Token, normalise

if TYPE_CHECKING:
    from scipy import sparse

KGRAM = 10  # tokens per k-gram: shorter runs are noise (one line such as `V = V @ V . T + V ;`)
WINDOW = 5  # winnowing window: every match of KGRAM + WINDOW - 1 = 14 tokens is seen
UNSHARED_BITS = 2.0  # log2(1 / (1 - 3/4)): a copy is taken to keep 3/4 of its source's prints
MIN_SHARED = 8  # fewer shared fingerprints (about two lines of code) is too little to rank
KEPT_PAIRS = 500  # ranked pairs kept per assignment, most evidence first (the rest are counted)
BLOCK_ENTRIES = 4_000_000  # pairs scored at a time: bounds the memory of a very large class
SHOWN_PAIRS = 100  # ranked pairs per assignment whose matched code the files give (the CSV's)
HELD_NOTEBOOKS = 256  # an assignment's code kept in memory while its shown pairs are matched
READ_AGAIN = 64  # notebooks whose code is kept, read again, while the shown pairs are matched
BOOK = REPO_ROOT / "book"
# The largest notebook a grading worker fingerprints (fingerprint_notebook): a megabyte of code
# takes seconds to normalise (3.2 s measured), and a worker long past its notebook's time is
# stopped; the report reads a larger one itself. A learner's notebook is about 50 kB.
FINGERPRINTED_BYTES = 1 << 20


def kgram_hashes(tokens: list[Token], k: int = KGRAM) -> list[int]:
    """A stable 64-bit hash of every run of k tokens (index i covers tokens i ... i + k - 1).

    Each token's text has a 64-bit code (BLAKE2b: the same on every run and machine); a run's
    hash is the polynomial sum of its codes modulo 2**64, mixed (Rabin-Karp, as MOSS and Dolos
    hash k-grams), computed for all runs at once.
    """
    if len(tokens) < k:
        return []
    codes = np.array([_token_code(token.text) for token in tokens], dtype=np.uint64)
    runs = len(codes) - k + 1
    hashes = np.zeros(runs, dtype=np.uint64)
    for offset in range(k):  # uint64 arithmetic wraps: modulo 2**64
        hashes = hashes * _BASE + codes[offset : offset + runs]
    hashes ^= hashes >> np.uint64(31)
    hashes *= _MIX
    hashes ^= hashes >> np.uint64(29)
    return hashes.tolist()


_BASE = np.uint64(0x100000001B3)  # the 64-bit FNV prime: odd, so no code is ever lost
_MIX = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's multiplier: spreads the sum over all bits


@functools.lru_cache(maxsize=4096)
def _token_code(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def winnow(hashes: list[int], window: int = WINDOW) -> set[int]:
    """Winnowing: the smallest hash of every window of `window` consecutive k-gram hashes.

    Only the set of values is kept (the report needs no positions), so ties need no rule.
    """
    if len(hashes) <= window:
        return {min(hashes)} if hashes else set()
    return {min(hashes[start : start + window]) for start in range(len(hashes) - window + 1)}


# ------------------------------------------------------------------------------------------------
# What everyone shares: the released notebook and the book


def code_cells(notebook: dict, only_solutions: bool = False) -> list[tuple[str, str]]:
    """(label, source) of the code cells of a notebook read as JSON (solution cells only if
    asked). The label is the cell's nbgrader grade_id, else "cell N, added" (N counts every cell
    from 1): a cell without one is not the release's."""
    cells = []
    for number, cell in enumerate(notebook.get("cells") or [], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        metadata = cell.get("metadata") or {}
        nbgrader = (metadata.get("nbgrader") or {}) if isinstance(metadata, dict) else {}
        if only_solutions and not (isinstance(nbgrader, dict) and nbgrader.get("solution")):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        label = (
            nbgrader.get("grade_id")
            if isinstance(nbgrader, dict) and nbgrader.get("grade_id")
            else f"cell {number}, added"
        )
        cells.append((str(label), source))
    return cells


def book_code(book: Path = BOOK) -> list[str]:
    """The source of every `{code-cell}` in the book's MyST pages (their option lines dropped)."""
    sources = []
    for page in sorted(book.glob("*.md")):
        for block in re.findall(
            r"^```\{code-cell\}[^\n]*\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL
        ):
            lines = block.splitlines()
            if lines and lines[0].strip() == "---":  # a YAML block of options
                end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), 0)
                lines = lines[end + 1 :]
            sources.append("\n".join(line for line in lines if not line.startswith(":")))
    return sources


@dataclass(frozen=True)
class HandedOut:
    """What the released notebook gives everyone: a learner's code cell equal to one of its
    `sources`, or labelled with one of its `course_cells` (the nbgrader ids of its code cells
    that are not answers: read-only and test cells, which grading runs from the course's copy),
    is the release's, not theirs."""

    sources: frozenset[str] = frozenset()
    course_cells: frozenset[str] = frozenset()

    def holds(self, label: str, source: str) -> bool:
        return source in self.sources or label in self.course_cells


def release_sources(assignment: str) -> frozenset[str]:
    """The source of every code cell of the released notebook."""
    return release_code(assignment)[1].sources


def release_code(assignment: str) -> tuple[str, HandedOut]:
    """(the release notebook's SHA-256, what it hands out), as the file is now: read each time, as
    a worker outlives a change of the course."""
    return _handed_out(course.release_notebook(assignment).read_bytes())


@functools.lru_cache(maxsize=16)
def _handed_out(release: bytes) -> tuple[str, HandedOut]:
    notebook = json.loads(release)
    course_cells = {
        cell_grade_id(cell)
        for cell in notebook["cells"]
        if cell.get("cell_type") == "code" and cell_grade_id(cell) and not is_solution(cell)
    }
    handed_out = HandedOut(
        frozenset(source for _, source in code_cells(notebook)), frozenset(course_cells)
    )
    return hashlib.sha256(release).hexdigest(), handed_out


def shared_kgrams(assignment: str, book: Path = BOOK) -> frozenset[int]:
    """Every k-gram hash of the released notebook's code cells and of the book's code cells."""
    return _kgram_set(tuple(sorted(release_sources(assignment)))) | _kgram_set(
        tuple(book_code(book))
    )


@functools.lru_cache(maxsize=16)
def _kgram_set(sources: tuple[str, ...]) -> frozenset[int]:
    return kgram_cache.kgram_set(sources, _make_kgram_set)


def _make_kgram_set(sources: tuple[str, ...]) -> frozenset[int]:
    # The releases share cells (the helpers' cell is in every one): each text once.
    return frozenset().union(*map(_source_kgrams, sources))


@functools.lru_cache(maxsize=1024)
def _source_kgrams(source: str) -> frozenset[int]:
    return frozenset(kgram_hashes(normalise(source)))


# ------------------------------------------------------------------------------------------------
# Submissions


@dataclass(frozen=True)
class SubmissionCode:
    """What the report shows of one notebook: read again from its file when a pair needs it."""

    lines: list[str]  # the cells compared, as displayed: a `# cell <label>` line before each
    tokens: list[Token]  # normalised, in canonical order; each where the learner wrote it
    kgrams: list[tuple[int, int]]  # (first token, hash) of every k-gram; none spans two cells
    headers: set[int]  # the `# cell ...` lines this report added
    fingerprints: frozenset[int]


NO_CODE = SubmissionCode([], [], [], set(), frozenset())


@dataclass
class Submission:
    """One student's notebook in the ranking: its fingerprints (all the ranking needs) and where
    to read its code again. The code itself (tokens, k-grams, lines) is not kept: for a large
    class it is most of the report's memory, and only the pairs shown need it."""

    student: str
    fingerprints: set[int]
    path: Path
    handed_out: HandedOut = HandedOut()
    held: SubmissionCode | None = field(default=None, repr=False)  # while its pairs are matched

    @property
    def code(self) -> SubmissionCode:
        if self.held is not None:
            return self.held
        try:  # the file's size and time in the key: a notebook rewritten since is read anew
            status = os.lstat(self.path)
        except OSError:
            return NO_CODE
        return _code_again(self.path, self.handed_out, (status.st_size, status.st_mtime_ns))

    @property
    def lines(self) -> list[str]:
        return self.code.lines

    @property
    def tokens(self) -> list[Token]:
        return self.code.tokens

    @property
    def kgrams(self) -> list[tuple[int, int]]:
        return self.code.kgrams

    @property
    def headers(self) -> set[int]:
        return self.code.headers


def read_code(path: Path, handed_out: HandedOut = HandedOut()) -> SubmissionCode:
    """Every code cell of the learner's notebook, normalised, except those the release holds
    (`handed_out`)."""
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as handle:
        data = handle.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES >> 20} MB")
    notebook = json.loads(data)
    if not isinstance(notebook, dict):
        raise ValueError("not a notebook")
    lines, tokens, kgrams, fingerprints, headers = [], [], [], set(), set()
    for label, source in code_cells(notebook):
        if handed_out.holds(label, source):
            continue
        headers.add(len(lines))
        lines.append(f"# cell {label}")
        cell_tokens = normalise(source, first_line=len(lines))
        hashes = kgram_hashes(cell_tokens)
        kgrams += [(len(tokens) + offset, value) for offset, value in enumerate(hashes)]
        fingerprints |= winnow(hashes)
        tokens += cell_tokens
        # The tokenizer's lines: split at "\n" only, as it reads them.
        lines += [line.rstrip("\r\n") for line in io.StringIO(source).readlines()] or [""]
    return SubmissionCode(lines, tokens, kgrams, headers, frozenset(fingerprints))


# The pairs shown are taken in order of evidence, and the same students recur in them: a few
# dozen notebooks' code at a time is enough to read each about once.
@functools.lru_cache(maxsize=READ_AGAIN)
def _code_again(path: Path, handed_out: HandedOut, version: tuple) -> SubmissionCode:
    try:
        return read_code(path, handed_out)
    except (OSError, ValueError, TypeError, RecursionError):  # gone or broken since the ranking
        return NO_CODE


def read_submission(
    student: str, path: Path, handed_out: HandedOut = HandedOut(), hold: bool = False
) -> Submission:
    """The student's notebook, fingerprinted (read_code); its code is held if `hold`, else read
    again when shown."""
    code = read_code(path, handed_out)
    return Submission(student, set(code.fingerprints), path, handed_out, code if hold else None)


def fingerprint_notebook(path: Path, assignment: str) -> CodeFingerprints | None:
    """read_code's fingerprints of a notebook, for the report to use without reading it again
    (the worker that graded it calls this); None when it cannot be read, changed meanwhile or is
    larger than FINGERPRINTED_BYTES: the report then reads it itself, and says why it could not."""
    try:
        release_digest, release = release_code(assignment)
        before = os.lstat(path)
        if before.st_size > FINGERPRINTED_BYTES:
            return None
        code = read_code(path, release)
        after = os.lstat(path)
    except (OSError, ValueError, TypeError, RecursionError):
        return None
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        return None
    hashes = array("Q", sorted(code.fingerprints))
    return CodeFingerprints(after.st_size, after.st_mtime_ns, release_digest, hashes)


def fingerprinted_on_workers(tasks: list[Task]) -> list[Task]:
    """The tasks, each marked for its worker to fingerprint its notebook when its assignment has
    more notebooks than the report keeps read at a time (READ_AGAIN): the report then reads only
    the notebooks of the pairs it shows (at most 2 * SHOWN_PAIRS, whatever the class's size), and
    the rest are read and normalised on every worker at once instead of one after another on the
    client (1,000 notebooks of exercise 04: 3.8 s of the report's time, then 0.6 s). A smaller
    assignment's shown pairs hold nearly every notebook: its report reads them all anyway."""
    handed_in = Counter(task.assignment for task in tasks if task.path is not None)
    return [task._replace(fingerprint=handed_in[task.assignment] > READ_AGAIN) for task in tasks]


def _fingerprinted(
    student: str, path: Path, handed_out: HandedOut, release_digest: str, known
) -> Submission | None:
    """The submission from fingerprints taken on a worker (`known`), if they are of this very
    file and release; else None."""
    if known is None or known.release_digest != release_digest:
        return None
    try:
        status = os.lstat(path)
    except OSError:
        return None
    if (status.st_size, status.st_mtime_ns) != (known.size, known.mtime_ns):
        return None
    return Submission(student, set(known.hashes.tolist()), path, handed_out)


# ------------------------------------------------------------------------------------------------
# The evidence of every pair, from the index


@dataclass(frozen=True)
class Pair:
    student_a: str
    student_b: str
    evidence: float  # bits: see the module's docstring, step 5
    shared: int  # fingerprints both hold
    fingerprints_a: int  # A's fingerprints beyond what the release and the book hold
    fingerprints_b: int

    @property
    def share_a(self) -> float:
        """The share of A's fingerprints that B holds too."""
        return self.shared / self.fingerprints_a if self.fingerprints_a else 0.0

    @property
    def share_b(self) -> float:
        return self.shared / self.fingerprints_b if self.fingerprints_b else 0.0


@dataclass
class Ranking:
    pairs: list[Pair]  # ranked, most evidence first (the first KEPT_PAIRS)
    ranked: int  # pairs with positive evidence and at least MIN_SHARED shared fingerprints
    too_little: list[Pair]  # positive evidence, fewer shared fingerprints (the first KEPT_PAIRS)
    too_little_count: int
    no_evidence: int  # pairs that share a fingerprint but whose evidence is zero or less


def fingerprint_bits(holders: np.ndarray, students: int) -> np.ndarray:
    """The rarity, in bits, of fingerprints held by `holders` (each at least 2) of `students`."""
    return np.log2(students / (holders - 1.0))


def _entries(matrix: "sparse.csr_matrix", rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """matrix[rows, columns] of a CSR matrix, 0 where it holds no entry: looked up in its sorted
    (row, column) keys, where scipy's indexing by two arrays of a class's millions of pairs took
    most of the ranking's time (84 % for 3,000 notebooks of one assignment)."""
    matrix.sum_duplicates()  # sorted column indices in each row, no repeats
    width = np.int64(matrix.shape[1])
    keys = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr)) * width
    keys += matrix.indices
    wanted = rows.astype(np.int64) * width + columns
    if not len(keys):
        return np.zeros(len(wanted))
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, matrix.data[at], 0.0)


def rank_pairs(
    submissions: list[Submission], min_shared: int = MIN_SHARED, keep: int = KEPT_PAIRS
) -> Ranking:
    """Every pair's evidence, from a sparse matrix of who holds which fingerprint."""
    # Imported here: the grading workers import this module for its fingerprints alone.
    from scipy import sparse

    students = len(submissions)
    postings = defaultdict(list)
    for index, submission in enumerate(submissions):
        for value in submission.fingerprints:
            postings[value].append(index)
    # Only a fingerprint that two or more hold can be shared: one column of the matrix each.
    shared_prints = [holders for _, holders in sorted(postings.items()) if len(holders) > 1]
    sizes = np.array([len(submission.fingerprints) for submission in submissions], dtype=float)
    if not shared_prints:
        return Ranking([], 0, [], 0, 0)
    holders = np.array([len(h) for h in shared_prints], dtype=float)
    rows = np.concatenate([np.asarray(h) for h in shared_prints])
    columns = np.repeat(np.arange(len(shared_prints)), holders.astype(int))
    held = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, columns)), shape=(students, len(shared_prints))
    )
    bits = fingerprint_bits(holders, students)
    weighted_transpose = sparse.csr_matrix(held.multiply(bits)).T.tocsr()
    transpose = held.T.tocsr()
    found = {"ranked": [], "too_little": []}
    counts = {"ranked": 0, "too_little": 0, "no_evidence": 0}
    step = max(1, BLOCK_ENTRIES // students)
    for first in range(0, students, step):
        block = held[first : first + step]
        gain = (block @ weighted_transpose).tocoo()
        shared = (block @ transpose).tocsr()
        a, b = gain.row + first, gain.col
        upper = a < b
        a, b, gain_bits = a[upper], b[upper], gain.data[upper]
        count = _entries(shared, a - first, b)
        unshared = np.minimum(sizes[a] - count, sizes[b] - count)
        evidence = np.round(gain_bits - UNSHARED_BITS * unshared, 6)
        kinds = {
            "ranked": (evidence > 0) & (count >= min_shared),
            "too_little": (evidence > 0) & (count < min_shared),
        }
        counts["no_evidence"] += int(np.count_nonzero(evidence <= 0))
        for kind, chosen in kinds.items():
            counts[kind] += int(np.count_nonzero(chosen))
            best = np.lexsort((b[chosen], a[chosen], -count[chosen], -evidence[chosen]))[:keep]
            values = evidence[chosen], count[chosen].astype(int), a[chosen], b[chosen]
            found[kind] += [tuple(column[i].item() for column in values) for i in best]

    def pairs(kind: str) -> list[Pair]:
        ordered = sorted(found[kind], key=lambda item: (-item[0], -item[1], item[2], item[3]))
        return [
            Pair(
                submissions[a].student,
                submissions[b].student,
                evidence,
                count,
                int(sizes[a]),
                int(sizes[b]),
            )
            for evidence, count, a, b in ordered[:keep]
        ]

    return Ranking(
        pairs("ranked"),
        counts["ranked"],
        pairs("too_little"),
        counts["too_little"],
        counts["no_evidence"],
    )


# ------------------------------------------------------------------------------------------------
# What two students share, for the pairs shown


@dataclass(frozen=True)
class Match:
    tokens_a: frozenset[int]  # indices of A's tokens in a k-gram both hold
    tokens_b: frozenset[int]
    longest: int  # tokens in the longest run both wrote in the same order

    @property
    def tokens(self) -> int:
        """Matched tokens, on the side with fewer."""
        return min(len(self.tokens_a), len(self.tokens_b))


def match(a: Submission, b: Submission, excluded: frozenset[int]) -> Match:
    """The tokens of a and of b in a k-gram both hold, and the longest common run of k-grams
    (the release's and the book's set aside)."""
    common = ({value for _, value in a.kgrams} & {value for _, value in b.kgrams}) - excluded

    def covered(submission):
        indices = set()
        for start, value in submission.kgrams:
            if value in common:
                indices.update(range(start, start + KGRAM))
        return frozenset(indices)

    return Match(covered(a), covered(b), _longest_run(a, b, common))


def _longest_run(a: Submission, b: Submission, common: set[int]) -> int:
    """The longest run of consecutive k-grams of a, all in `common`, found consecutively in b
    (within one cell of each), in tokens."""
    where = defaultdict(list)  # hash -> first tokens of its k-grams in b (64 at most)
    for start, value in b.kgrams:
        if value in common and len(where[value]) < 64:
            where[value].append(start)
    longest, previous, previous_start = 0, {}, None
    for start, value in a.kgrams:
        if previous_start != start - 1:
            previous = {}  # a new cell of a
        current = {other: previous.get(other - 1, 0) + 1 for other in where.get(value, ())}
        longest = max([longest, *current.values()])
        previous, previous_start = current, start
    return longest + KGRAM - 1 if longest else 0


def matched_lines(submission: Submission, indices) -> set[int]:
    tokens = submission.tokens
    return {line for i in indices for line in range(tokens[i].line, tokens[i].last_line + 1)}


# ------------------------------------------------------------------------------------------------
# One assignment, end to end


@dataclass
class AssignmentReport:
    assignment: str
    submissions: dict[str, Submission]
    unreadable: dict[str, str]  # student -> why the notebook could not be read
    ranking: Ranking
    excluded: frozenset[int]  # k-grams the release or the book holds
    no_own_code: list[str]  # students with no fingerprint beyond what everyone shares
    _matches: dict = field(default_factory=dict, repr=False)
    _line_counts: dict = field(default_factory=dict, repr=False)
    # What a report file took from the code while it was held (compare_assignment's `prepare`):
    # the side-by-side HTML of the pairs it shows.
    prepared: dict = field(default_factory=dict, repr=False)

    @property
    def pairs(self) -> list[Pair]:
        return self.ranking.pairs

    def match(self, pair: Pair) -> Match:
        key = (pair.student_a, pair.student_b)
        if key not in self._matches:
            self._matches[key] = match(
                self.submissions[pair.student_a], self.submissions[pair.student_b], self.excluded
            )
        return self._matches[key]

    def matched_line_count(self, pair: Pair) -> int:
        """The smaller of the two students' counts of lines that lie in matched regions."""
        key = (pair.student_a, pair.student_b)
        if key not in self._line_counts:
            found = self.match(pair)
            a, b = self.submissions[pair.student_a], self.submissions[pair.student_b]
            self._line_counts[key] = min(
                len(matched_lines(a, found.tokens_a)), len(matched_lines(b, found.tokens_b))
            )
        return self._line_counts[key]


def compare_assignment(
    assignment: str,
    notebooks: dict[str, Path],
    min_shared: int = MIN_SHARED,
    book: Path = BOOK,
    keep: int = KEPT_PAIRS,
    prepare: Callable[[AssignmentReport], None] | None = None,
    fingerprinted: dict[str, CodeFingerprints] | None = None,
) -> AssignmentReport:
    """Read, fingerprint and rank the submissions (student -> notebook path) of one assignment;
    `prepare(report)` is called while their code is still held, so that a report file can take
    what it shows without reading the notebooks again. `fingerprinted` (student -> fingerprints
    the grading workers took) spares reading the notebooks of a large class on the client."""
    release_digest, release = release_code(assignment)
    fingerprinted = fingerprinted or {}
    submissions, unreadable = {}, {}
    # Each notebook is read once; its code is held until the shown pairs are matched, unless the
    # assignment has too many notebooks for that (the code is most of the report's memory), or
    # the workers fingerprinted them: then only the shown pairs are read (again).
    hold = len(notebooks) <= HELD_NOTEBOOKS and not fingerprinted
    for student, path in sorted(notebooks.items()):
        known = fingerprinted.get(student)  # none when held
        submission = _fingerprinted(student, path, release, release_digest, known)
        if submission is not None:
            submissions[student] = submission
            continue
        try:
            submissions[student] = read_submission(student, path, release, hold)
        except (
            OSError,
            ValueError,
            TypeError,
            RecursionError,
        ) as error:  # a hostile or broken notebook
            unreadable[student] = f"{type(error).__name__}: {error}"
    shared = shared_kgrams(assignment, book)
    for submission in submissions.values():
        submission.fingerprints -= shared
    ranking = rank_pairs(list(submissions.values()), min_shared, keep)
    no_own_code = [
        student for student, submission in submissions.items() if not submission.fingerprints
    ]
    report = AssignmentReport(assignment, submissions, unreadable, ranking, shared, no_own_code)
    for pair in ranking.pairs[:SHOWN_PAIRS]:
        report.matched_line_count(pair)  # and its match: what the files give of each pair
    if prepare is not None:
        prepare(report)
    for submission in submissions.values():
        submission.held = None
    return report


def find_notebooks(folder: Path, known: list[str]) -> dict[str, dict[str, Path]]:
    """assignment -> {student: notebook} from a folder laid out as
    <student>/<assignment>/*.ipynb."""
    found = defaultdict(dict)
    try:
        student_dirs = sorted(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        return {}
    for student_dir in student_dirs:
        for assignment in known:
            try:  # a folder that cannot be read is named in grades.csv; compare the others
                if (
                    student_dir.name.startswith(".")
                    or student_dir.is_symlink()
                    or not student_dir.is_dir()
                ):
                    break
                assignment_dir = student_dir / assignment
                if assignment_dir.is_symlink() or not assignment_dir.is_dir():
                    continue
                expected = assignment_dir / course.notebook_name(assignment)
                notebooks = sorted(
                    p for p in assignment_dir.glob("*.ipynb") if p.is_file() and not p.is_symlink()
                )
            except OSError:
                continue
            if expected in notebooks or len(notebooks) == 1:
                found[assignment][student_dir.name] = (
                    expected if expected in notebooks else notebooks[0]
                )
    return dict(found)


def compare_class(
    folder: Path,
    known: list[str] | None = None,
    min_shared: int = MIN_SHARED,
    prepare: Callable[[AssignmentReport], None] | None = None,
    fingerprinted: dict[tuple[str, str], CodeFingerprints] | None = None,
) -> list[AssignmentReport]:
    """Every assignment's report; `fingerprinted`: (student, assignment) -> the fingerprints the
    grading workers took (compare_assignment)."""
    known = known if known is not None else course.assignments()
    found = find_notebooks(folder, known)
    fingerprinted = fingerprinted or {}
    return [
        compare_assignment(
            assignment,
            found[assignment],
            min_shared,
            prepare=prepare,
            fingerprinted={
                student: fingerprinted[student, assignment]
                for student in found[assignment]
                if (student, assignment) in fingerprinted
            },
        )
        for assignment in known
        if assignment in found
    ]
