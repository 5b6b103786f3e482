"""The book builds with `jupyter-book build . -W -n --keep-going`: every chapter executes, and any
warning (a broken reference, a cell that prints to stderr, a missing figure) fails the build.

The build goes to `_build/html`, the folder a learner opens and tests/test_browser.py reads. It runs
once per test run (the session fixture `built_book`), whichever of the two test files asks for it
first; `execute_notebooks: cache` makes a rebuild with unchanged chapters take seconds.
"""

import pytest
from book_build import HTML, build_report

# The browser tests read what this build writes: under xdist, both run on one worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("book")]


def test_book_builds_strictly(built_book):
    assert built_book["returncode"] == 0, (
        "jupyter-book build . -W -n --keep-going failed:\n" + build_report(built_book)
    )
    assert (HTML / "index.html").is_file()
