"""The similarity report: per assignment, the pairs of students whose solution cells are most alike.

It is evidence for a human to look at, never a verdict. A high score says that two students'
code shares long runs of tokens once names, comments, whitespace and literal values are set
aside, beyond what the released notebook and the book give everyone. It cannot say why.

The method is winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003, the method behind MOSS):

1. **Normalise.** Python's own tokenizer reads each solution cell. Comments, blank lines,
   indentation and docstrings are dropped; every name the learner chose becomes ``V``, every
   number ``0`` and every string ``S``. Keywords, operators, builtins, ``np`` and attribute
   names (``.reshape``, ``.T``) are kept: the library fixes them, the learner does not.
2. **Fingerprint.** Each run of ``KGRAM`` tokens is hashed (BLAKE2b: the same on every run and
   machine); winnowing keeps the smallest hash of every window of ``WINDOW`` hashes, so any
   match of ``KGRAM + WINDOW - 1`` tokens or more is guaranteed to be seen.
3. **Leave out what everyone shares.** Every k-gram of the released notebook's code and of the
   code cells in book/ is dropped, and so is a fingerprint that more than ``COMMON`` students
   hold (a common way of writing a line is no evidence about two of them).
4. **Index.** Fingerprint -> students that hold it (an inverted index). A pair's count of shared
   fingerprints is summed from the posting lists, so pairs that share nothing are never visited.
5. **Score** a pair by the Dice coefficient of their remaining fingerprint sets,
   2|A ∩ B| / (|A| + |B|): 1 when both hold the same fingerprints, 0 when they share none.

Why not ``copydetect`` (PyPI, 0.5.0, read for this module): its ``CopyDetector`` compares every
pair of files in turn (O(n²) full comparisons), hashes k-grams with Python's ``hash()``, which is
salted per process, so winnowing keeps different fingerprints on every run and the report is not
reproducible; its HTML report loads Bootstrap from a CDN (the report must open offline); it reads
files rather than notebook cells, and keeps numbers as they are.

The files written from the ranked pairs are autograder/report/similarity_files.py. This module
keeps the method whole, from tokens to ranked pairs, as the five steps above describe it.
"""

import builtins
import functools
import hashlib
import io
import json
import keyword
import os
import re
import tokenize
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder import REPO_ROOT, course
from autograder.grade.submission_file import MAX_NOTEBOOK_BYTES

KGRAM = 10  # tokens per k-gram: shorter runs are noise (one line such as `V = V @ V . T + V ;`)
WINDOW = 5  # winnowing window: every match of KGRAM + WINDOW - 1 = 14 tokens is seen
COMMON = 10  # a fingerprint held by more students than this is common, not evidence (MOSS's -m)
BOOK = REPO_ROOT / "book"

KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | {"np", "numpy", "math"}
_DROPPED = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}
_FALLBACK_TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|'[^']*'|\"[^\"]*\"|\*\*|//|[^\s\w]")


# ------------------------------------------------------------------------------------------------
# Normalised tokens


@dataclass(frozen=True)
class Token:
    text: str  # normalised: V, 0, S, a keyword, an operator, a kept name
    line: int  # 0-based line of the document's text
    start: int  # column where the token starts on that line
    end: int  # column where it ends (on its last line, for a multi-line string)
    last_line: int


def normalise(source: str, first_line: int = 0) -> list[Token]:
    """The tokens of `source` with names, numbers and strings replaced, and layout dropped."""
    try:
        raw = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return _normalise_loosely(source, first_line)
    tokens, previous = [], None
    for index, token in enumerate(raw):
        kind, text = token.type, token.string
        if kind in _DROPPED or (kind == tokenize.NEWLINE and (previous is None or previous == ";")):
            continue
        if kind == tokenize.STRING and previous in (None, ";", ":") and _ends_statement(raw, index):
            continue  # a docstring, or a string standing alone as a comment
        if kind == tokenize.NAME:
            text = text if text in KEPT_NAMES or previous == "." else "V"
        elif kind == tokenize.NUMBER:
            text = "0"
        elif kind == tokenize.STRING:
            text = "S"
        elif kind == tokenize.NEWLINE:
            text = ";"
        (row, column), (last_row, end) = token.start, token.end
        tokens.append(Token(text, first_line + row - 1, column, end, first_line + last_row - 1))
        previous = text
    return tokens


def _ends_statement(raw, index) -> bool:
    following = [token for token in raw[index + 1 : index + 3] if token.type not in _DROPPED]
    return not following or following[0].type == tokenize.NEWLINE


def _normalise_loosely(source: str, first_line: int) -> list[Token]:
    """For code Python cannot tokenize (a syntax error): a regex tokenizer, comments dropped."""
    tokens = []
    for row, line in enumerate(source.splitlines()):
        line = line.split("#", 1)[0]
        for match in _FALLBACK_TOKEN.finditer(line):
            text = match.group()
            if text[0] in "'\"":
                text = "S"
            elif text[0].isdigit():
                text = "0"
            elif text[0].isalpha() or text[0] == "_":
                previous = tokens[-1].text if tokens else None
                text = text if text in KEPT_NAMES or previous == "." else "V"
            tokens.append(
                Token(text, first_line + row, match.start(), match.end(), first_line + row)
            )
        if tokens and tokens[-1].text != ";" and line.strip():
            tokens.append(Token(";", first_line + row, len(line), len(line), first_line + row))
    return tokens


def kgram_hashes(tokens: list[Token], k: int = KGRAM) -> list[int]:
    """A stable 64-bit hash of every run of k tokens (index i covers tokens i ... i + k - 1)."""
    texts = [token.text for token in tokens]
    return [
        int.from_bytes(
            hashlib.blake2b("\x1f".join(texts[i : i + k]).encode(), digest_size=8).digest(),
            "little",
        )
        for i in range(len(texts) - k + 1)
    ]


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
    asked)."""
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
            else f"cell {number}"
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


def shared_kgrams(assignment: str, book: Path = BOOK) -> set[int]:
    """Every k-gram hash of the released notebook's code cells and of the book's code cells."""
    release = json.loads(course.release_notebook(assignment).read_text())
    return _kgram_set(tuple(source for _, source in code_cells(release))) | _kgram_set(
        tuple(book_code(book))
    )


@functools.lru_cache(maxsize=16)
def _kgram_set(sources: tuple[str, ...]) -> frozenset[int]:
    return frozenset(value for source in sources for value in kgram_hashes(normalise(source)))


# ------------------------------------------------------------------------------------------------
# Submissions


@dataclass
class Submission:
    student: str
    lines: list[str]  # the solution cells as displayed: a `# cell <grade_id>` line before each
    tokens: list[Token]
    kgrams: list[tuple[int, int]]  # (first token, hash) of every k-gram; none spans two cells
    headers: set[int] = field(default_factory=set)  # the `# cell ...` lines this report added
    fingerprints: set[int] = field(default_factory=set)


def read_submission(student: str, path: Path, only_solutions: bool = True) -> Submission:
    """The learner's solution cells, normalised; all code cells if no cell is marked as a
    solution."""
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as handle:
        data = handle.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES >> 20} MB")
    notebook = json.loads(data)
    if not isinstance(notebook, dict):
        raise ValueError("not a notebook")
    cells = code_cells(notebook, only_solutions) or code_cells(notebook)
    lines, tokens, kgrams, fingerprints, headers = [], [], [], set(), set()
    for label, source in cells:
        headers.add(len(lines))
        lines.append(f"# cell {label}")
        cell_tokens = normalise(source, first_line=len(lines))
        hashes = kgram_hashes(cell_tokens)
        kgrams += [(len(tokens) + offset, value) for offset, value in enumerate(hashes)]
        fingerprints |= winnow(hashes)
        tokens += cell_tokens
        lines += source.splitlines() or [""]
    return Submission(student, lines, tokens, kgrams, headers, fingerprints)


# ------------------------------------------------------------------------------------------------
# The index and the ranking


@dataclass(frozen=True)
class Pair:
    student_a: str
    student_b: str
    score: float  # Dice coefficient of the fingerprint sets, 0 ... 1
    shared: int  # fingerprints held by both
    fingerprints_a: int  # A's fingerprints beyond what everyone shares and what is common
    fingerprints_b: int


def rank_pairs(submissions: list[Submission], common: int = COMMON) -> tuple[list[Pair], set[int]]:
    """Every pair that shares a fingerprint, most alike first; and the set of common fingerprints.

    Built from an inverted index: each fingerprint's posting list adds one to each pair in it.
    """
    postings = defaultdict(list)
    for index, submission in enumerate(submissions):
        for value in submission.fingerprints:
            postings[value].append(index)
    too_common = {value for value, holders in postings.items() if len(holders) > common}
    by_length = defaultdict(list)
    for value, holders in postings.items():
        if 2 <= len(holders) <= common:
            by_length[len(holders)].append(holders)
    count = len(submissions)
    codes = []
    for length, lists in by_length.items():
        holders = np.sort(np.array(lists, dtype=np.int64), axis=1)  # (fingerprints, length)
        first, second = np.triu_indices(length, k=1)
        codes.append((holders[:, first] * count + holders[:, second]).ravel())
    if not codes:
        return [], too_common
    pair_codes, shared = np.unique(np.concatenate(codes), return_counts=True)
    sizes = np.array([len(submission.fingerprints - too_common) for submission in submissions])
    first, second = pair_codes // count, pair_codes % count
    scores = 2 * shared / (sizes[first] + sizes[second])
    order = np.lexsort((second, first, -shared, -scores))
    pairs = []
    for i in order:
        a, b = submissions[first[i]], submissions[second[i]]
        pairs.append(
            Pair(
                a.student,
                b.student,
                round(float(scores[i]), 4),
                int(shared[i]),
                int(sizes[first[i]]),
                int(sizes[second[i]]),
            )
        )
    return pairs, too_common


def matched_tokens(a: Submission, b: Submission, excluded: set[int]) -> tuple[set[int], set[int]]:
    """Indices of the tokens of a and of b that lie in a k-gram both hold (excluded ones aside)."""
    common = ({value for _, value in a.kgrams} & {value for _, value in b.kgrams}) - excluded

    def covered(submission):
        indices = set()
        for start, value in submission.kgrams:
            if value in common:
                indices.update(range(start, start + KGRAM))
        return indices

    return covered(a), covered(b)


def matched_lines(submission: Submission, indices: set[int]) -> set[int]:
    return {
        line
        for i in indices
        for line in range(submission.tokens[i].line, submission.tokens[i].last_line + 1)
    }


# ------------------------------------------------------------------------------------------------
# One assignment, end to end


@dataclass
class AssignmentReport:
    assignment: str
    submissions: dict[str, Submission]
    unreadable: dict[str, str]  # student -> why the notebook could not be read
    pairs: list[Pair]
    excluded: set[int]  # shared with the release or the book, or common
    no_own_code: list[str]  # students with no fingerprint beyond what everyone shares

    def matches(self, pair: Pair):
        a, b = self.submissions[pair.student_a], self.submissions[pair.student_b]
        return matched_tokens(a, b, self.excluded)

    def matched_line_count(self, pair: Pair) -> int:
        """The smaller of the two students' counts of lines that lie in matched regions."""
        tokens_a, tokens_b = self.matches(pair)
        a, b = self.submissions[pair.student_a], self.submissions[pair.student_b]
        return min(len(matched_lines(a, tokens_a)), len(matched_lines(b, tokens_b)))


def compare_assignment(
    assignment: str, notebooks: dict[str, Path], common: int = COMMON, book: Path = BOOK
) -> AssignmentReport:
    """Read, fingerprint and rank the submissions (student -> notebook path) of one assignment."""
    submissions, unreadable = {}, {}
    for student, path in sorted(notebooks.items()):
        try:
            submissions[student] = read_submission(student, path)
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
    pairs, too_common = rank_pairs(list(submissions.values()), common)
    no_own_code = [
        student for student, submission in submissions.items() if not submission.fingerprints
    ]
    return AssignmentReport(
        assignment, submissions, unreadable, pairs, shared | too_common, no_own_code
    )


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
    folder: Path, known: list[str] | None = None, common: int = COMMON
) -> list[AssignmentReport]:
    known = known if known is not None else course.assignments()
    found = find_notebooks(folder, known)
    return [
        compare_assignment(assignment, found[assignment], common)
        for assignment in known
        if assignment in found
    ]
