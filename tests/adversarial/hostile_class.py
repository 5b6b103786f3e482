"""A class of hostile, broken and honest submissions of exercise 04, each with the score and the
message the grading command must give it. Built from the solution notebook, so it follows it."""

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import course
from autograder.checks.mistakes import known_mistakes
from autograder.course import notebook_format
from autograder.tools.demo import strip_solution_markers

ASSIGNMENT = "04-scaling-softmax-masks"
# The scores below are written as MAX_SCORE less what a case loses, so that a new part of the
# exercise moves them all alike.
_POINTS = notebook_format.graded_tests(course.read_notebook(course.solution_notebook(ASSIGNMENT)))
MAX_SCORE, TESTS = sum(_POINTS.values()), len(_POINTS)
ALL_PASSED = f"{TESTS} of {TESTS} tests passed"
NOTEBOOK = course.notebook_name(ASSIGNMENT)

SOFTMAX = """def softmax(x, axis=-1):
    x = np.asarray(x)  # a float32 x stays float32, as the docstring promises
    exps = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return exps / np.sum(exps, axis=axis, keepdims=True)"""
CAUSAL = """def causal_mask(L, S=None):
    S = L if S is None else S
    return np.arange(S)[None, :] > np.arange(L)[:, None]"""
PADDING = """def padding_mask(lengths, S):
    return np.arange(S)[None, :] >= np.asarray(lengths)[:, None]"""
TO_SDPA = """def to_sdpa_mask(mask):
    mask = np.asarray(mask)
    return ~mask if mask.dtype == bool else mask"""


@dataclass
class Case:
    student: str
    score: float
    message: str  # must appear (case-insensitively) in the student's feedback text
    status: str = "graded"


def solution():
    return strip_solution_markers(course.read_notebook(course.solution_notebook(ASSIGNMENT)))


def with_cell(notebook, grade_id, source):
    notebook = copy.deepcopy(notebook)
    cells = [
        cell
        for cell in notebook.cells
        if notebook_format.nbgrader_metadata(cell).get("grade_id") == grade_id
    ]
    assert len(cells) == 1, grade_id
    cells[0].source = source
    return notebook


def build(paths: dict) -> tuple[dict, list]:
    """(student -> notebook, bytes, or None for a folder without a notebook), and the cases.
    `paths` holds submitted, out, canary, repo and port, which hostile code aims at."""
    good = solution()
    cases, class_ = [], {}

    def add(student, content, score, message, status="graded"):
        class_[student] = content
        cases.append(Case(student, score, message, status))

    # Honest work, including output on stderr and warnings, magics, an extra helper cell.
    add("honest-full", good, MAX_SCORE, ALL_PASSED)
    add(
        "honest-stderr-warnings",
        with_cell(
            good,
            "softmax",
            SOFTMAX.replace(
                "    x = np.asarray",
                (
                    "    import sys, warnings, os\n    print('debug: computing softmax', "
                    "file=sys.stderr)\n"
                    "    warnings.warn('this is only a warning')\n    os.write(2, b'raw "
                    "stderr\\n')\n    x = np.asarray"
                ),
            ),
        ),
        MAX_SCORE,
        ALL_PASSED,
    )
    add(
        "honest-magics",
        with_cell(good, "softmax", "%matplotlib inline\n!echo hello\n" + SOFTMAX),
        MAX_SCORE,
        ALL_PASSED,
    )
    extra = copy.deepcopy(good)
    extra.cells.insert(1, nbformat.v4.new_code_cell("def positions(S):\n    return np.arange(S)"))
    add(
        "honest-extra-cell",
        with_cell(
            extra,
            "padding-mask",
            "def padding_mask(lengths, S):\n    return positions(S)[None, :] >= "
            "np.asarray(lengths)[:, None]",
        ),
        MAX_SCORE,
        ALL_PASSED,
    )
    add("honest-renamed-file", ("renamed", good), MAX_SCORE, "is named my-work.ipynb")
    add(
        "honest-stdout-flood",
        with_cell(
            good, "padding-mask", PADDING + "\nfor i in range(100000):\n    print('spam ' * 40)"
        ),
        MAX_SCORE,
        ALL_PASSED,
    )
    wrong = notebook_format.apply_mistake(
        course.read_notebook(course.solution_notebook(ASSIGNMENT)),
        known_mistakes(ASSIGNMENT)[2],
    )
    add(
        "honest-mistake-no-scaling",
        strip_solution_markers(wrong),
        MAX_SCORE - 4,
        "looks like a known mistake: no scaling by sqrt(d_k)",
    )

    # Broken files.
    add("broken-invalid-json", b'{"cells": [ {"cell_type": "code", ', 0, "not valid JSON", "error")
    add("broken-empty-file", b"", 0, "empty", "error")
    add("broken-json-not-notebook", b"[1, 2, 3]", 0, "not a Jupyter notebook", "error")
    add("broken-missing-notebook", None, 0, "missing notebook", "missing")

    # Text no encoder accepts: a lone surrogate in an error message (issue 16, finding 1).
    add(
        "text-lone-surrogate",
        with_cell(good, "to-sdpa-mask", TO_SDPA + "\nraise ValueError('\\ud800')"),
        MAX_SCORE,
        "ValueError: \\ud800",
    )

    # Test cells deleted, duplicated, edited; metadata stripped; points changed.
    deleted = copy.deepcopy(good)
    deleted.cells = [
        cell
        for cell in deleted.cells
        if not (
            notebook_format.nbgrader_metadata(cell).get("grade")
            and not notebook_format.nbgrader_metadata(cell).get("solution")
        )
    ]
    add("cells-deleted-tests", deleted, MAX_SCORE, "test cells missing from the submission")
    doubled = copy.deepcopy(good)
    index = next(
        i
        for i, cell in enumerate(doubled.cells)
        if notebook_format.nbgrader_metadata(cell).get("grade_id") == "test-softmax"
    )
    doubled.cells.insert(index, copy.deepcopy(doubled.cells[index]))
    doubled.cells[index]["id"] = "test-softmax-copy"
    add("cells-duplicated-test", doubled, MAX_SCORE, "appear more than once")
    edited = with_cell(good, "softmax", "def softmax(x, axis=-1):\n    return np.exp(x)")
    edited = with_cell(
        with_cell(edited, "test-softmax", "print('all good')"), "test-softmax-stable", "pass"
    )
    add("cells-edited-tests", edited, MAX_SCORE - 7, "test cells edited in the submission")
    stripped = copy.deepcopy(good)
    for cell in stripped.cells:
        cell.metadata.pop("nbgrader", None)
    add("cells-stripped-metadata", stripped, MAX_SCORE, "no nbgrader metadata")
    points = with_cell(
        good,
        "causal-mask",
        "def causal_mask(L, S=None):\n    S = L if S is None else S\n    return "
        "np.tril(np.ones((L, S), dtype=bool))",
    )
    for cell in points.cells:
        if notebook_format.nbgrader_metadata(cell).get("grade_id") == "test-causal-mask":
            cell.metadata["nbgrader"]["points"] = 100
    add("cells-changed-points", points, MAX_SCORE - 1, "test cells edited in the submission")
    patched = with_cell(
        good,
        "padding-mask",
        "np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n"
        "def padding_mask(lengths, S):\n    return np.zeros((len(lengths), S), dtype=bool)",
    )
    add("cheat-patched-allclose", patched, MAX_SCORE - 1, "padding_mask")

    # Runaway code: loops, sleeps, exits.
    add(
        "runaway-loop-in-cell",
        with_cell(good, "causal-mask", "while True:\n    pass\n" + CAUSAL),
        MAX_SCORE - 1,
        "did not finish within",
    )
    add(
        "runaway-sleep-in-cell",
        with_cell(
            good, "padding-mask", "import time\nwhile True:\n    time.sleep(0.5)\n" + PADDING
        ),
        MAX_SCORE - 1,
        "did not finish within",
    )
    add(
        "runaway-loop-in-function",
        with_cell(good, "to-sdpa-mask", "def to_sdpa_mask(mask):\n    while True:\n        pass"),
        MAX_SCORE - 1,
        "did not finish within",
    )
    add(
        "runaway-stdout-flood",
        with_cell(
            good,
            "padding-mask",
            "def padding_mask(lengths, S):\n    while True:\n        print('x' * 1000)",
        ),
        MAX_SCORE - 1,
        "did not finish within",
    )
    add(
        "exit-os-exit-in-cell",
        with_cell(good, "to-sdpa-mask", "import os\nos._exit(0)\n" + TO_SDPA),
        MAX_SCORE - 1,
        "exited with code 0",
    )
    add(
        "exit-os-exit-in-function",
        with_cell(
            good, "padding-mask", "def padding_mask(lengths, S):\n    import os\n    os._exit(3)"
        ),
        MAX_SCORE - 1,
        "exited with code 3",
    )
    add(
        "exit-systemexit-in-function",
        with_cell(good, "causal-mask", "def causal_mask(L, S=None):\n    raise SystemExit('bye')"),
        MAX_SCORE - 1,
        "SystemExit",
    )
    add(
        "exit-systemexit-in-cell",
        with_cell(good, "to-sdpa-mask", TO_SDPA + "\nraise SystemExit('stop grading here')"),
        MAX_SCORE,
        "SystemExit: stop grading here",
    )

    # Resource exhaustion.
    add(
        "hog-memory-in-function",
        with_cell(
            good,
            "to-sdpa-mask",
            "def to_sdpa_mask(mask):\n    hog = bytearray(8 << 30)\n    return ~mask",
        ),
        MAX_SCORE - 1,
        "MemoryError",
    )
    add(
        "hog-memory-in-cell",
        with_cell(
            good, "to-sdpa-mask", TO_SDPA + "\nblocks = [np.empty(1 << 24) for _ in range(4000)]"
        ),
        MAX_SCORE,
        "MemoryError",
    )
    add(
        "hog-fork-bomb",
        with_cell(good, "causal-mask", CAUSAL + "\nimport os\nwhile True:\n    os.fork()"),
        MAX_SCORE,
        "Operation not permitted",
    )
    add(
        "hog-subprocess",
        with_cell(
            good,
            "causal-mask",
            CAUSAL + "\nimport subprocess\nsubprocess.run(['sh', '-c', 'echo pwned > "
            f"{paths['canary']}/from-shell'])",
        ),
        MAX_SCORE,
        "Operation not permitted",
    )

    # Answers that are not plain arrays.
    add(
        "answer-object-array",
        with_cell(
            good,
            "causal-mask",
            "def causal_mask(L, S=None):\n    S = L if S is None else S\n    return "
            "np.array(np.arange(S)[None, :] > np.arange(L)[:, None], dtype=object)",
        ),
        MAX_SCORE - 1,
        "dtype object",
    )
    add(
        "answer-ndarray-subclass",
        with_cell(
            good,
            "to-sdpa-mask",
            "class Always(np.ndarray):\n    def __eq__(self, other):\n        return True\n    "
            "__ne__ = lambda self, other: False\n"
            "def to_sdpa_mask(mask):\n    return np.asarray(mask).view(Always)",
        ),
        MAX_SCORE - 1,
        "ndarray subclass",
    )
    add(
        "answer-custom-object",
        with_cell(
            good,
            "padding-mask",
            "class Sneaky:\n    def __reduce__(self):\n        return (print, ('pwned',))\n"
            "def padding_mask(lengths, S):\n    return Sneaky()",
        ),
        MAX_SCORE - 1,
        "returned a __main__.Sneaky",
    )
    add(
        "answer-uses-torch",
        with_cell(
            good,
            "causal-mask",
            "def causal_mask(L, S=None):\n    S = L if S is None else S\n    return "
            "torch.triu(torch.ones(L, S, dtype=torch.bool), 1).numpy()",
        ),
        MAX_SCORE - 1,
        "numpy only",
    )

    # Escapes: network, ctypes, other people's files, writing outside.
    add(
        "escape-connect-loopback",
        with_cell(
            good,
            "padding-mask",
            "import socket\n"
            + PADDING.replace(
                "    return",
                f"    socket.create_connection(('127.0.0.1', {paths['port']}), "
                "timeout=2).sendall(b'pwned')\n    return",
            ),
        ),
        MAX_SCORE - 1,
        "Operation not permitted",
    )
    # The local workers are forks of Python's forkserver (autograder/grade/cluster.py
    # start_worker_template), which runs whatever a connection to its Unix socket asks for.
    add(
        "escape-connect-worker-template",
        with_cell(
            good,
            "padding-mask",
            "import glob, socket, tempfile\n"
            + PADDING.replace(
                "    return",
                "    for path in glob.glob(tempfile.gettempdir() + '/pymp-*/listener-*') + "
                "[None]:\n"
                "        socket.socket(socket.AF_UNIX).connect(path or '/tmp/listener')\n"
                "    return",
            ),
        ),
        MAX_SCORE - 1,
        "Operation not permitted",
    )
    add(
        "escape-ctypes-kill",
        with_cell(
            good,
            "to-sdpa-mask",
            TO_SDPA + "\nimport ctypes, os, signal\nlibc = ctypes.CDLL(None)\n"
            "results = [libc.kill(os.getppid(), signal.SIGKILL), libc.kill(-1, signal.SIGKILL), "
            "libc.syscall(57), libc.syscall(62, 1, 9)]",
        ),
        MAX_SCORE,
        ALL_PASSED,
    )
    add(
        "escape-ctypes-segfault",
        with_cell(
            good,
            "to-sdpa-mask",
            "import ctypes\ndef to_sdpa_mask(mask):\n    ctypes.string_at(0)\n    return ~mask",
        ),
        MAX_SCORE - 1,
        "segmentation fault",
    )
    add(
        "escape-read-other-student",
        with_cell(
            good,
            "to-sdpa-mask",
            "def to_sdpa_mask(mask):\n    "
            f"open({str(paths['submitted'] / 'honest-full' / ASSIGNMENT / NOTEBOOK)!r})"
            ".read()\n    "
            "return ~mask",
        ),
        MAX_SCORE - 1,
        "Permission denied",
    )
    add(
        "escape-read-solutions",
        with_cell(
            good,
            "padding-mask",
            "def padding_mask(lengths, S):\n    source = "
            f"open({str(course.solution_notebook(ASSIGNMENT))!r}).read()\n    return None",
        ),
        MAX_SCORE - 1,
        "Permission denied",
    )
    add(
        "escape-read-gradebook",
        with_cell(
            good,
            "causal-mask",
            f"def causal_mask(L, S=None):\n    open({str(paths['out'] / 'gradebook.db')!r}, "
            "'rb').read()\n    return None",
        ),
        MAX_SCORE - 1,
        "Permission denied",
    )
    add(
        "escape-write-outside",
        with_cell(
            good,
            "causal-mask",
            CAUSAL + f"\nfor target in [{str(paths['canary'] / 'pwned')!r}, "
            f"{str(paths['repo'] / 'autograder' / 'checks' / 'hidden.py')!r}, "
            f"{str(paths['out'] / 'grades.csv')!r}]:\n"
            "    try:\n        open(target, 'a').write('pwned')\n    except OSError as "
            "error:\n        last = error\nraise last",
        ),
        MAX_SCORE,
        "Permission denied",
    )
    return class_, cases


def write(class_: dict, submitted: Path) -> None:
    for student, content in class_.items():
        folder = submitted / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        if content is None:
            (folder / "README.txt").write_text("I forgot to upload my notebook\n")
        elif isinstance(content, bytes):
            (folder / NOTEBOOK).write_bytes(content)
        elif isinstance(content, tuple):
            nbformat.write(content[1], folder / "my-work.ipynb")
        else:
            nbformat.write(content, folder / NOTEBOOK)
