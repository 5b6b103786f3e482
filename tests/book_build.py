"""The strict build of the book, shared by tests/test_book.py and tests/test_browser.py through the
session fixture `built_book` (tests/conftest.py): it runs once per test run, on whichever worker
asks first, while the others wait (`execute_notebooks: cache` makes a rebuild with unchanged
chapters take seconds).
"""

import re
import subprocess
import sys
from pathlib import Path

from autograder import REPO_ROOT

HTML = REPO_ROOT / "_build" / "html"
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"


def build_book() -> dict:
    """Build the whole book strictly into _build/; {"returncode", "output"} of the build (not
    checked)."""
    result = subprocess.run(
        [str(JUPYTER_BOOK), "build", ".", "-W", "-n", "--keep-going"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return {"returncode": result.returncode, "output": result.stdout + "\n" + result.stderr}


def build_report(build: dict) -> str:
    """The lines that explain a failed build: its warnings and errors, then the end of its
    output."""
    output = re.sub(r"\x1b\[[0-9;]*m", "", build["output"])
    problems = [
        line for line in output.splitlines() if re.search(r"WARNING|ERROR|Error|Traceback", line)
    ]
    return "\n".join(problems[:60]) + "\n...\n" + output[-3000:]
