"""Nothing a learner stores in a notebook runs in the instructor's browser (issue 22): a submission
carrying forged text/html and application/javascript outputs, raw HTML and a javascript: link in
its markdown (an added cell and the written answer), HTML printed by its code, a forged nbgrader
grade id and widget state, is graded, and formgrader renders its autograded notebook in headless
Chromium. Every payload calls a function the test exposes to the page (and some alert()), so
anything that runs is recorded.

The control: the same notebook stored byte for byte in autograded/, as the grader did before it
rebuilt those notebooks. There, in the same formgrader, with nbconvert's HTML sanitising on (OUT's
nbgrader_config.py), the markdown payloads run: the test can see what it looks for, and
sanitize_html alone is not enough.
"""

import copy
import os
import subprocess

import nbformat
import pytest
from browsers import Seen, chromium, server_page
from servers import JupyterServer

from autograder import REPO_ROOT, command_argv, course
from autograder.course.notebook_format import cell_grade_id

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ASSIGNMENT = "06-why-multi-head"
SANITISED, STORED = "hostile", "hostile-as-stored"


def pwned(where: str) -> str:
    return f"window.__pwned && window.__pwned('{where}'); alert('{where}')"


def hostile_notebook():
    """The release of exercise 6 with every way we know to store something active in it."""
    notebook = copy.deepcopy(course.read_notebook(course.release_notebook(ASSIGNMENT)))
    cells = {cell_grade_id(cell): cell for cell in notebook.cells}
    cells["positional-encoding"].outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": f'<img src=x onerror="{pwned("html output")}">'},
        ),
        nbformat.v4.new_output(
            "display_data", data={"application/javascript": pwned("javascript output")}
        ),
        nbformat.v4.new_output(
            "execute_result",
            data={"text/markdown": f'<img src=x onerror="{pwned("markdown output")}">'},
            execution_count=1,
        ),
    ]
    cells[
        "why-two-heads"
    ].source = (
        f'Two softmaxes keep the relations apart. <img src=x onerror="{pwned("written answer")}">'
    )
    added = nbformat.v4.new_markdown_cell(
        f'<img src=x onerror="{pwned("markdown img")}">\n\n'
        f"<script>{pwned('markdown script')}</script>\n\n"
        f'<svg onload="{pwned("markdown svg")}"></svg>\n\n'
        f'<details open ontoggle="{pwned("markdown details")}">x</details>\n\n'
        "[a link](files/javascript:alert('link'))"
    )
    printed = nbformat.v4.new_code_cell(f"print('<script>{pwned('printed')}</script>')")
    forged = nbformat.v4.new_code_cell("x = 1")
    forged.metadata["nbgrader"] = {
        "grade_id": f'"><img src=x onerror="{pwned("grade id")}">',
        "grade": True,
        "solution": False,
        "locked": False,
        "points": 1,
        "schema_version": 3,
    }
    raw = nbformat.v4.new_raw_cell(f'<img src=x onerror="{pwned("raw cell")}">')
    raw.metadata["raw_mimetype"] = "text/html"
    notebook.cells[1:1] = [added, printed, forged, raw]
    notebook.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {},
            "x": f"</script><script>{pwned('widget state')}</script>",
        }
    }
    return notebook


@pytest.fixture(scope="module")
def course_root(tmp_path_factory):
    """The hostile notebook graded for two students; the second's autograded copy is then
    replaced by the notebook as handed in (the control)."""
    root = tmp_path_factory.mktemp("hostile")
    name = course.notebook_name(ASSIGNMENT)
    for student in (SANITISED, STORED):
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(hostile_notebook(), folder / name)
    out = root / "out"
    run = subprocess.run(
        command_argv("grade", root / "submitted", "--out", out, "--no-progress"),
        cwd=REPO_ROOT,
        env=dict(os.environ, MHA_GRADING_SECRET="hostile-secret"),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    stored = (root / "submitted" / STORED / ASSIGNMENT / name).read_bytes()
    (out / "autograded" / STORED / ASSIGNMENT / name).write_bytes(stored)
    return out


@pytest.fixture(scope="module")
def rendered(course_root, tmp_path_factory):
    """What each student's autograded notebook did in formgrader: student -> (calls of the
    exposed function, Seen, DOM audit)."""
    found = {}
    shots = tmp_path_factory.mktemp("screenshots")
    with JupyterServer(course_root) as server, chromium() as browser:
        notebooks = server.get(f"formgrader/api/submitted_notebooks/{ASSIGNMENT}/{ASSIGNMENT}")
        for student in (SANITISED, STORED):
            notebook_id = next(item["id"] for item in notebooks if item["student"] == student)
            seen, calls = Seen(), []
            context, page = server_page(browser, server, seen)
            try:
                page.expose_binding("__pwned", lambda source, where: calls.append(where))
                page.goto(f"{server.url}formgrader/submissions/{notebook_id}/", wait_until="load")
                page.wait_for_timeout(2000)  # handlers of images that fail to load, toggles
                audit = page.evaluate(AUDIT)
                page.screenshot(path=str(shots / f"{student}.png"), full_page=True)
            finally:
                context.close()
            found[student] = (calls, seen, audit)
    return found


# In the notebook's part of the page: scripts, event-handler attributes, javascript: links, and
# the text shown.
AUDIT = """() => {
    const notebook = document.querySelector('#notebook-container');
    const all = [...notebook.querySelectorAll('*')];
    return {
        scripts: all.filter(e => e.tagName === 'SCRIPT').map(e => e.outerHTML.slice(0, 120)),
        handlers: all.flatMap(e => [...e.attributes].filter(a => a.name.startsWith('on'))
            .map(a => `${e.tagName.toLowerCase()}[${a.name}]`)),
        links: all.filter(e => e.href && String(e.href).toLowerCase().startsWith('javascript:'))
            .map(e => e.outerHTML.slice(0, 120)),
        text: notebook.innerText,
    };
}"""


def test_nothing_a_learner_stored_runs_in_formgrader(rendered):
    """Does the autograded notebook render with no payload run, no dialog, no script, handler or
    javascript: link in the notebook, and the payloads shown as text?"""
    calls, seen, audit = rendered[SANITISED]
    assert calls == [] and seen.dialogs == [], (calls, seen.dialogs)
    assert audit["scripts"] == [] and audit["handlers"] == [] and audit["links"] == [], audit
    assert '<img src=x onerror="window.__pwned' in audit["text"]  # shown, as text
    assert "<script>window.__pwned && window.__pwned('printed')" in audit["text"]  # printed
    assert "failed (0 of 2 points)" in audit["text"]  # the grader's own result


def test_the_same_notebook_as_stored_runs_its_payloads(rendered):
    """The control: stored byte for byte, is the notebook's markdown run by formgrader, although
    nbconvert's sanitize_html is on?"""
    calls, seen, audit = rendered[STORED]
    assert "markdown img" in calls and "written answer" in calls, calls
    assert audit["handlers"] or audit["scripts"], audit
