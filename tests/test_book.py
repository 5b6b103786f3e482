"""The book builds with `jupyter-book build . -W -n --keep-going`: every chapter executes, and any
warning (a broken reference, a cell that prints to stderr, a missing figure) fails the build.

The build goes to `_build/html`, the folder a learner opens and tests/test_browser.py reads. It runs
once per test session, whichever of the two test files asks for it first; `execute_notebooks: cache`
makes a rebuild with unchanged chapters take seconds.
"""

import functools
import re
import subprocess
import sys
from pathlib import Path

from autograder import REPO_ROOT

HTML = REPO_ROOT / "_build" / "html"
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"


@functools.cache
def build_book() -> subprocess.CompletedProcess:
    """Build the whole book strictly into _build/; return the finished process (it is not checked)."""
    return subprocess.run(
        [str(JUPYTER_BOOK), "build", ".", "-W", "-n", "--keep-going"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=3600,
    )


def build_report(result: subprocess.CompletedProcess) -> str:
    """The lines that explain a failed build: its warnings and errors, then the end of its output."""
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + "\n" + result.stderr)
    problems = [line for line in output.splitlines() if re.search(r"WARNING|ERROR|Error|Traceback", line)]
    return "\n".join(problems[:60]) + "\n...\n" + output[-3000:]


def test_book_builds_strictly():
    result = build_book()
    assert result.returncode == 0, "jupyter-book build . -W -n --keep-going failed:\n" + build_report(result)
    assert (HTML / "index.html").is_file()
