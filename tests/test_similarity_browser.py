"""similarity.html as an instructor meets it: opened from disk in headless Chromium (Debian's
`chromium`, driven by Playwright) with every request to another host blocked. It must load with
no error and fetch nothing, say that it is evidence and not a verdict, and show the copied pair
side by side with the matched code highlighted. A screenshot goes to the test's tmp folder.
"""

import os
from pathlib import Path

import pytest

from autograder.report import similarity, similarity_files
from autograder.tools import honest_answers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
LOCAL = ("file:", "data:", "about:")


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("similarity")
    students = honest_answers.constructed_class(honest=6, seed=3)
    honest_answers.write_notebooks(students, folder / "submitted")
    reports = similarity.compare_class(folder / "submitted", [honest_answers.ASSIGNMENT])
    path = folder / "similarity.html"
    path.write_text(similarity_files.similarity_html(reports))
    return path


def test_similarity_report_opens_offline_and_shows_the_pair(page_file):
    """Does the page load with no error and no outside request, and show the top pair side by
    side?"""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install -r requirements.txt")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    errors, blocked = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith(LOCAL)
                    else (blocked.append(route.request.url), route.abort())
                ),
            )
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda message: errors.append(message.text) if message.type == "error" else None,
            )
            page.goto(page_file.as_uri(), wait_until="load")
            seen = page.evaluate("""() => {
                const panels = [...document.querySelectorAll('.pair')][0].querySelectorAll('pre');
                const [left, right] = [...panels].map(p => p.getBoundingClientRect());
                return {
                    note: document.querySelector('.note').innerText,
                    first: document.querySelector('h3').innerText,
                    rows: document.querySelectorAll('table tr').length,
                    marks: document.querySelectorAll('.pair')[0].querySelectorAll('mark').length,
                    sideBySide: left.right <= right.left && Math.abs(left.top - right.top) < 5,
                    markColour: getComputedStyle(document.querySelector('mark')).backgroundColor,
                };
            }""")
            page.screenshot(path=str(page_file.with_suffix(".png")), full_page=False)
        finally:
            browser.close()
    assert not errors and not blocked, errors + blocked
    assert "never a verdict" in seen["note"] and "evidence" in seen["note"]
    assert "copier" in seen["first"] and "honest-000" in seen["first"], seen["first"]
    assert seen["rows"] > 2
    assert seen["marks"] > 10, "the matched regions are not highlighted"
    assert seen["sideBySide"], "the two students' code is not shown side by side"
    assert seen["markColour"] not in ("rgba(0, 0, 0, 0)", "transparent")
    assert page_file.with_suffix(".png").stat().st_size > 10_000
