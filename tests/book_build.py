"""The strict build of the book, shared by tests/test_book.py and tests/test_browser.py: it runs
once per test session, whichever asks first (`execute_notebooks: cache` makes a rebuild with
unchanged chapters take seconds).
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
    """Build the whole book strictly into _build/; return the finished process (not checked)."""
    return subprocess.run(
        [str(JUPYTER_BOOK), "build", ".", "-W", "-n", "--keep-going"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )


def build_report(result: subprocess.CompletedProcess) -> str:
    """The lines that explain a failed build: its warnings and errors, then the end of its
    output."""
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + "\n" + result.stderr)
    problems = [
        line for line in output.splitlines() if re.search(r"WARNING|ERROR|Error|Traceback", line)
    ]
    return "\n".join(problems[:60]) + "\n...\n" + output[-3000:]
