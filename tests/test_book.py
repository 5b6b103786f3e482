"""The book builds with `jupyter-book build . -W -n --keep-going`: every chapter executes, and any
warning (a broken reference, a cell that prints to stderr, a missing figure) fails the build.

The build goes to `_build/html`, the folder a learner opens and tests/test_browser.py reads. It runs
once per test session, whichever of the two test files asks for it first; `execute_notebooks: cache`
makes a rebuild with unchanged chapters take seconds.
"""

import pytest
from book_build import HTML, build_book, build_report

pytestmark = pytest.mark.slow


def test_book_builds_strictly():
    result = build_book()
    assert result.returncode == 0, (
        "jupyter-book build . -W -n --keep-going failed:\n" + build_report(result)
    )
    assert (HTML / "index.html").is_file()
