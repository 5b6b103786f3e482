"""The built book as a learner meets it: every page of `_build/html` opened from disk (file://) in
headless Chromium (Debian's `chromium` package, driven by Playwright), with every request to another
host blocked, as on a machine with no network.

On every page: no JavaScript error and no console error (a fresh browser profile per page, so a
first visit is what is tested); nothing is fetched from another host; every math expression is
typeset by the MathJax shipped in book/_static, with no raw TeX left on screen; every image loads
and has alt text; every local link and every download link answers; each chapter links to the
glossary, says its objectives, prerequisites and time, and ends with its exercise notebook,
identical to exercises/.
Search finds pages. A full-page screenshot of every page under book/ goes to _build/screenshots/:
look at them.

The HTML is the strict build of tests/test_book.py (built once per run). To test another build
folder, set BOOK_HTML=/path/to/_build/html.
"""

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from autograder import course

# One worker builds the book, then opens it (tests/test_book.py is in the same group).
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("book")]

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHAPTER = re.compile(r"^\d\d-[a-z0-9-]+$")  # book/04-scaling-softmax-masks.html and its siblings
LOCAL = ("file:", "data:", "blob:", "about:")
PAGE_TIMEOUT_MS = 60_000

# What a reader sees at the top of the page, before scrolling: where the site title of the left
# sidebar is, whether anything is drawn over it, and how many search fields are on screen.
DESCRIBE_LAYOUT = """
const describeLayout = () => {
    const box = element => {
        const r = element.getBoundingClientRect();
        return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,
                width: r.width, height: r.height};
    };
    const shown = element => {
        const r = element.getBoundingClientRect(), style = getComputedStyle(element);
        return r.width > 0 && r.height > 0
            && style.visibility !== 'hidden' && style.display !== 'none'
            && element.closest('[hidden], dialog:not([open])') === null;
    };
    window.scrollTo(0, 0);
    const title = document.querySelector('.bd-sidebar-primary .navbar-brand');
    let covered = [];
    if (title) {
        const r = box(title), inset = 2;
        const points = [[r.left + inset, r.top + inset], [r.right - inset, r.top + inset],
                        [r.left + r.width / 2, r.top + r.height / 2],
                        [r.left + inset, r.bottom - inset], [r.right - inset, r.bottom - inset]];
        covered = points.filter(([x, y]) => {
            const hit = document.elementFromPoint(x, y);
            return !(hit && (hit === title || title.contains(hit)));
        }).map(([x, y]) => {
            const hit = document.elementFromPoint(x, y);
            const name = hit ? hit.tagName.toLowerCase() + (hit.id ? '#' + hit.id : '')
                + (hit.className && typeof hit.className === 'string'
                    ? '.' + hit.className.trim().split(/\\s+/).join('.') : '')
                : 'nothing (outside the window)';
            return `(${Math.round(x)}, ${Math.round(y)}) shows ${name}`;
        });
    }
    const header = document.querySelector('#pst-header');
    const searchFields = [...document.querySelectorAll(
        'input[type=search], input[name=q], button.search-button__button, .search-button-field')]
        .filter(shown)
        .filter((element, index, all) =>
            !all.some(other => other !== element && other.contains(element)));
    return {
        title: title && shown(title)
            ? {box: box(title), text: title.textContent.trim(), covered} : null,
        header: header && shown(header) ? box(header) : null,
        window: {width: window.innerWidth, height: window.innerHeight},
        searchFields: searchFields.map(element => element.outerHTML.slice(0, 120)),
    };
};
"""

# Runs in the page once it has loaded: wait for MathJax and the images, then describe the page.
INSPECT_PAGE = (
    """async () => {
    """
    + DESCRIBE_LAYOUT
    + """
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        await MathJax.startup.promise;
    }
    const images = [...document.images];
    images.forEach(image => { image.loading = 'eager'; });
    await Promise.all(images.map(image => image.complete ? null : new Promise(done => {
        image.addEventListener('load', done); image.addEventListener('error', done);
    })));
    const main = document.querySelector('main') || document.body;
    const prose = main.cloneNode(true);
    prose.querySelectorAll('pre, code, script, style, textarea, mjx-container')
        .forEach(e => e.remove());
    const math = [...document.querySelectorAll('.math')];
    return {
        mathjax: window.MathJax && window.MathJax.version ? window.MathJax.version : null,
        math: math.length,
        untypeset: math.filter(e => !e.querySelector('mjx-container'))
            .map(e => e.textContent.slice(0, 80)),
        mathErrors: [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
            .map(e => e.getAttribute('data-mjx-error') || e.textContent.slice(0, 80)),
        images: images.map(image => ({
            src: image.getAttribute('src'), alt: (image.getAttribute('alt') || '').trim(),
            width: image.naturalWidth, complete: image.complete,
        })),
        downloads: [...document.querySelectorAll('a.download, a[download]')]
            .map(a => ({href: a.href, text: a.textContent.trim()})),
        links: [...document.querySelectorAll('a[href], link[href], script[src]')]
            .map(e => e.href || e.src),
        text: prose.textContent,
        layout: describeLayout(),
    };
}"""
)


@dataclass
class Visit:
    name: str  # the page, relative to the HTML folder
    url: str  # where the browser ended up (index.html redirects)
    errors: list = field(default_factory=list)  # uncaught exceptions and console errors
    blocked: list = field(default_factory=list)  # requests to another host
    failed: list = field(default_factory=list)  # local files that did not load
    content: dict = field(default_factory=dict)  # what INSPECT_PAGE returned


@pytest.fixture(scope="module")
def html_root(request):
    if os.environ.get("BOOK_HTML"):
        root = Path(os.environ["BOOK_HTML"]).resolve()
    else:
        from book_build import HTML

        # The same build as test_book.py's, made once per run; not made when BOOK_HTML is set.
        if request.getfixturevalue("built_book")["returncode"] != 0:
            pytest.fail("the book does not build; tests/test_book.py says why")
        root = HTML
    assert (root / "index.html").is_file(), f"no built book at {root}"
    return root


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install -r requirements.txt")
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y "
            "chromium)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


def recording_page(browser, record: Visit, **options):
    """A page in a fresh context (`options` go to new_context) that blocks every other host and
    writes into `record` what a learner would meet: blocked requests, uncaught errors, console
    errors and local resources that failed to load. Returns (context, page)."""
    context = browser.new_context(**options)

    def route(request_route):
        if request_route.request.url.startswith(LOCAL):
            request_route.continue_()
        else:
            record.blocked.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.on("pageerror", lambda error: record.errors.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: (
            record.errors.append(f"console.{message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.on(
        "requestfailed",
        lambda request: (
            record.failed.append(f"{request.url} ({request.failure})")
            if request.url.startswith(LOCAL)
            else None
        ),
    )
    return context, page


def visit(browser, path: Path, name: str, *, screenshot: Path | None = None) -> Visit:
    """Open `path` in a fresh profile with other hosts blocked, and record what a learner would
    meet."""
    url = path.as_uri()
    redirects = 'http-equiv="refresh"' in path.read_text().lower()
    record = Visit(name=name, url=url)
    context, page = recording_page(browser, record, viewport={"width": 1280, "height": 900})
    try:
        page.goto(url, wait_until="load")
        if redirects:  # index.html sends the reader on to the intro
            page.wait_for_url(lambda address: address != url)
            page.wait_for_load_state("load")
        record.url = page.url
        record.content = page.evaluate(INSPECT_PAGE)
        page.wait_for_timeout(250)  # let late scripts (theme, toggles) report their errors too
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        context.close()
    return record


def local_path(url: str) -> Path:
    parts = urlsplit(url)
    path = Path(unquote(parts.path))
    return path / "index.html" if parts.path.endswith("/") else path


def pages_of(root: Path) -> list[Path]:
    """Every HTML page of the book, without the assets (_static, _images, _downloads, _sources)."""
    return sorted(
        path for path in root.rglob("*.html") if not path.relative_to(root).parts[0].startswith("_")
    )


@pytest.fixture(scope="module")
def screenshots(html_root):
    """_build/screenshots, next to _build/html: emptied, then one PNG per page under book/."""
    folder = html_root.parent / "screenshots"
    shutil.rmtree(folder, ignore_errors=True)
    return folder


@pytest.fixture(scope="module")
def visits(html_root, browser, screenshots):
    records = {}
    for path in pages_of(html_root):
        name = path.relative_to(html_root).as_posix()
        shot = (
            screenshots / (name.removeprefix("book/").removesuffix(".html") + ".png")
            if name.startswith("book/")
            else None
        )
        records[name] = visit(browser, path, name, screenshot=shot)
    return records


def chapters(visits) -> dict[str, Visit]:
    return {
        Path(name).stem: record
        for name, record in visits.items()
        if name.startswith("book/") and CHAPTER.match(Path(name).stem)
    }


def problems(visits, check) -> str:
    found = {name: check(record) for name, record in visits.items()}
    return "\n".join(
        f"{name}: {issue}" for name, issues in found.items() if issues for issue in issues
    )


def test_book_has_its_pages(visits):
    names = set(visits)
    assert {
        "index.html",
        "search.html",
        "book/intro.html",
        "book/glossary.html",
        "book/references.html",
    } <= names
    assert all(
        visit.url.endswith("book/intro.html")
        for name, visit in visits.items()
        if name == "index.html"
    )


def test_no_javascript_or_console_error(visits):
    assert not (report := problems(visits, lambda v: v.errors)), report


def test_nothing_is_fetched_from_another_host(visits):
    assert not (report := problems(visits, lambda v: v.blocked)), report


def test_every_local_resource_and_link_answers(visits):
    def missing(record):
        links = [url for url in record.content["links"] if url.startswith("file:")]
        broken = [url for url in links if not local_path(url).is_file()]
        return record.failed + [f"broken link {url}" for url in broken]

    assert not (report := problems(visits, missing)), report


def test_math_is_typeset_with_no_raw_tex_on_screen(visits):
    raw_tex = re.compile(
        r"\\\(|\\\)|\\\[|\\\]|\$\$|\\(?:frac|sqrt|text|mathbb|mathrm|operatorname|sum|cdot)\b"
        r"|\$[^$\s][^$\n]{0,80}?[^$\s\\]\$"
    )

    def check(record):
        content = record.content
        issues = [f"math not typeset: {text!r}" for text in content["untypeset"]]
        issues += [f"MathJax error: {text!r}" for text in content["mathErrors"]]
        issues += [
            f"raw TeX on screen: {match!r}"
            for match in sorted(set(raw_tex.findall(content["text"])))
        ]
        if content["math"] and not content["mathjax"]:
            issues.append("the page has math but MathJax did not load")
        return issues

    assert not (report := problems(visits, check)), report
    typeset = sum(record.content["math"] for record in visits.values())
    assert typeset > 0, "no page has any math: the check above tested nothing"


def test_every_image_loads_and_has_alt_text(visits):
    file_name = re.compile(r"\S+\.(?:png|jpe?g|svg|gif|webp)", re.IGNORECASE)

    def check(record):
        images = record.content["images"]
        # With no alt text given, Sphinx writes the image's file name as its alt: that is no
        # description.
        return [
            f"image does not load: {image['src']}" for image in images if not image["width"]
        ] + [
            f"image without alt text (describe it in the cell's mystnb.image.alt): {image['src']}"
            for image in images
            if not image["alt"] or file_name.fullmatch(image["alt"])
        ]

    assert not (report := problems(visits, check)), report


def test_every_download_link_answers(visits, html_root):
    downloads = html_root / "_downloads"

    def check(record):
        issues = []
        for link in record.content["downloads"]:
            path = local_path(link["href"])
            if not path.is_file():
                issues.append(f"download link does not answer: {link['text']!r} -> {link['href']}")
            elif downloads not in path.parents:
                issues.append(f"download outside _build/html/_downloads: {link['href']}")
            elif path.suffix == ".ipynb":
                release = course.release_notebook(path.stem)
                if not release.is_file() or json.loads(path.read_text()) != json.loads(
                    release.read_text()
                ):
                    issues.append(
                        f"{path.name} is not the released exercises/{path.stem}/{path.name}"
                    )
        return issues

    assert not (report := problems(visits, check)), report


def test_each_chapter_links_the_glossary_and_ends_with_its_exercise(visits):
    def check(record):
        stem = Path(record.name).stem
        text = " ".join(record.content["text"].split()).lower()
        names = [
            Path(unquote(urlsplit(link["href"]).path)).name for link in record.content["downloads"]
        ]
        issues = []
        if stem not in course.assignments():
            issues.append(f"no assignment {stem} in solutions/ for this chapter")
        if f"{stem}.ipynb" not in names:
            issues.append(f"no download link to its exercise {stem}.ipynb (found {names})")
        if not any(local_path(url).name == "glossary.html" for url in record.content["links"]):
            issues.append("no link to the glossary")
        for words, pattern in [
            ("learning objectives", r"objective"),
            ("prerequisites", r"prerequisite"),
            ("an estimated time", r"\b\d+\s*(?:-\s*\d+\s*)?(?:min|minutes|hours?)\b"),
            ("how to check your work", r"restart"),
        ]:
            if not re.search(pattern, text):
                issues.append(f"does not state {words}")
        return issues

    assert not (report := problems(chapters(visits), check)), report


def test_screenshot_of_every_chapter(visits, screenshots):
    for stem in chapters(visits):
        shot = screenshots / f"{stem}.png"
        assert shot.is_file() and shot.stat().st_size > 10_000, f"no screenshot {shot}"


def test_search_finds_pages(browser, html_root):
    page_url = (html_root / "search.html").as_uri() + "?q=attention"
    record = Visit(name="search.html?q=attention", url=page_url)
    context, page = recording_page(browser, record)
    try:
        page.goto(page_url, wait_until="load")
        page.wait_for_function(
            "() => document.querySelectorAll('#search-results ul.search li').length > 0"
            " || /did not match|finished/i.test((document.querySelector('#search-results') || "
            "{}).textContent || '')",
            timeout=PAGE_TIMEOUT_MS,
        )
        page.wait_for_timeout(500)
        results = page.eval_on_selector_all(
            "#search-results ul.search li a", "links => links.map(a => a.href)"
        )
    finally:
        context.close()
    assert results, "search.html?q=attention found nothing"
    assert all(local_path(url).is_file() for url in results), results
    assert not record.errors and not record.blocked, record.errors + record.blocked


def book_pages(visits) -> dict[str, Visit]:
    """The pages a learner reads (book/*.html), without Sphinx's own search and index pages."""
    return {name: record for name, record in visits.items() if name.startswith("book/")}


def test_sidebar_title_is_fully_visible(visits):
    """At 1280 x 900, before scrolling, is the site title in the left sidebar whole and
    uncovered?"""

    def check(record):
        layout = record.content["layout"]
        title, window = layout["title"], layout["window"]
        if title is None:
            return ["no visible site title in the left sidebar (.bd-sidebar-primary .navbar-brand)"]
        box, issues = title["box"], []
        if (
            box["top"] < 0
            or box["left"] < 0
            or box["bottom"] > window["height"]
            or box["right"] > window["width"]
        ):
            issues.append(f"the title {title['text']!r} is not wholly inside the window: {box}")
        header = layout["header"]
        if (
            header
            and header["bottom"] > box["top"]
            and header["top"] < box["bottom"]
            and header["right"] > box["left"]
            and header["left"] < box["right"]
        ):
            issues.append(f"the top bar {header} overlaps the title {box}")
        issues += [
            f"something is drawn over the title {title['text']!r}: {point}"
            for point in title["covered"]
        ]
        return issues

    assert not (report := problems(book_pages(visits), check)), report


def test_one_search_field_per_page(visits):
    """Does each page show exactly one search field (not one in a top bar and one in the
    sidebar)?"""

    def check(record):
        fields = record.content["layout"]["searchFields"]
        return [] if len(fields) == 1 else [f"{len(fields)} search fields on screen: {fields}"]

    assert not (report := problems(book_pages(visits), check)), report
