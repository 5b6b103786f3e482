"""autograder/report/autograded.py: the notebook formgrader renders holds the grader's own text
outputs, the course's cells and metadata, and learners' markdown cleaned; nothing a learner stored
or wrote can be active once nbconvert renders it as formgrader's template does. (The same page in
a real formgrader and Chromium: tests/test_formgrader_xss.py.)"""

import copy
import html.parser
import json

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course
from autograder.course.notebook_format import cell_grade_id, nbgrader_metadata
from autograder.grade.results import CellOutput, NotebookResult, Status, TestCellResult
from autograder.report import autograded

pytestmark = pytest.mark.unit

ASSIGNMENT = "06-why-multi-head"
ANSWER, TEST, WRITTEN = "positional-encoding", "test-positional-encoding", "why-two-heads"
HOSTILE_MARKDOWN = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<svg onload=alert(1)>",
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<details open ontoggle=alert(1)>",
    "[click](javascript:alert(1))",
    # nbconvert's strip_files_prefix, which formgrader's template applies after markdown2html,
    # turns href="files/javascript:..." into href="javascript:..."
    "[click](files/javascript:alert(1))",
    "<a href='/files/javascript:alert(1)'>click</a>",
    '<a href="jav&#x09;ascript:alert(1)">click</a>',
    "<div>\n\n<script>alert(1)</script>\n\n</div>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<!-- <script>alert(1)</script> -->",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "$$\\href{javascript:alert(1)}{x}$$",
]


class _Audit(html.parser.HTMLParser):
    """Every tag and attribute of an HTML fragment."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def rendered(source: str) -> str:
    """A markdown cell's HTML as formgrader's template makes it."""
    return autograded._markdown2html()(source)


def active_parts(markup: str) -> list:
    """What in `markup` could run or load something: tags and attributes outside the allowlist,
    event handlers, and links to anything but http, https, mailto or a relative address."""
    audit = _Audit()
    audit.feed(markup)
    found = []
    for tag, attributes in audit.tags:
        if tag not in autograded.ALLOWED_TAGS:
            found.append(tag)
        allowed = autograded.ALLOWED_ATTRIBUTES.get(tag, [])
        for name, value in attributes.items():
            if name not in allowed or name.startswith("on"):
                found.append(f"{tag}[{name}]")
            if name == "href":
                address = "".join((value or "").split()).lower()
                scheme = address.split(":", 1)[0] if ":" in address.split("/")[0] else ""
                if scheme not in ("", "http", "https", "mailto"):
                    found.append(f"{tag}[href={value}]")
    return found


def release():
    return copy.deepcopy(course.read_notebook(course.release_notebook(ASSIGNMENT)))


def cell_by_id(notebook, grade_id):
    return next(cell for cell in notebook.cells if cell_grade_id(cell) == grade_id)


def graded(tests=(), **fields) -> NotebookResult:
    return NotebookResult(
        "ada", ASSIGNMENT, Status.GRADED, "", max_score=12.0, tests=tests, **fields
    )


def build(notebook, result=None):
    """The autograded notebook of `notebook`, read as the grader reads a submission (JSON)."""
    cells = json.loads(nbformat.writes(notebook))["cells"]
    return autograded.autograded_notebook(result or graded(), cells)


@pytest.mark.parametrize("source", HOSTILE_MARKDOWN)
def test_hostile_markdown_renders_to_nothing_active(source):
    """Does each known trick in a learner's markdown render, through formgrader's chain, to
    HTML with no script, handler or javascript: link?"""
    shown = rendered(autograded.safe_markdown(source))
    assert active_parts(shown) == [], shown
    assert "<script" not in shown.lower()


def test_the_same_markdown_rendered_as_it_was_is_active():
    """Does the audit see the tricks when the markdown is rendered unchanged (so that the test
    above could fail)?"""
    caught = [source for source in HOSTILE_MARKDOWN if active_parts(rendered(source))]
    assert len(caught) >= 8, caught


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(
        st.sampled_from(
            [
                "<",
                ">",
                "/",
                "=",
                '"',
                "'",
                "`",
                "&",
                "#",
                ";",
                ":",
                "[",
                "]",
                "(",
                ")",
                "!",
                "$",
                "\n",
                " ",
                "\t",
                "files/",
                "javascript",
                "script",
                "img",
                "a",
                "href",
                "src",
                "onerror",
                "x",
                "alert(1)",
                "<!--",
                "-->",
                "```",
                "    ",
                "*",
                "_",
                "|",
                "\\",
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_any_text_renders_to_nothing_active(source):
    """Whatever text a learner writes, is the rendered cell free of anything active?"""
    assert active_parts(rendered(autograded.safe_markdown(source))) == []


def test_learners_formatting_is_kept():
    """Does a written answer keep its paragraphs, emphasis, lists, code and maths?"""
    shown = rendered(
        autograded.safe_markdown("One **head**, *one* softmax:\n\n- $a_{ij}$\n- `v`\n\n    code")
    )
    for part in ["<strong>head</strong>", "<em>one</em>", "<li>", "$a_{ij}$", "<code>v</code>"]:
        assert part in shown, shown


def test_stored_outputs_and_forged_metadata_are_dropped():
    """Does the copy drop every stored output, the notebook's and cells' own metadata, and a
    learner cell's forged nbgrader id, and validate as a notebook?"""
    notebook = release()
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"x": 1}}
    answer = cell_by_id(notebook, ANSWER)
    answer.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<img src=x onerror=1>"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(1)"}),
    ]
    answer.metadata["tags"] = ['x"><script>alert(1)</script>']
    forged = nbformat.v4.new_code_cell("print(1)")
    forged.metadata["nbgrader"] = {"grade_id": '"><img src=x onerror=1>', "grade": True}
    notebook.cells.insert(0, forged)
    built = build(notebook)
    nbformat.validate(built)
    assert built.metadata == course.read_notebook(course.solution_notebook(ASSIGNMENT)).metadata
    for cell in built.cells:
        assert set(cell.metadata) <= {"nbgrader"}
        assert all(output.output_type in ("stream", "error") for output in cell.get("outputs", []))
    assert "nbgrader" not in built.cells[0].metadata


def test_course_cells_come_from_the_course():
    """Are a test cell and a locked instruction cell the course's, however the learner edited
    them, and is only the first of two cells with one id kept as the course's?"""
    notebook = release()
    cell_by_id(notebook, TEST).source = "assert True"
    cell_by_id(notebook, "intro").source = "<script>alert(1)</script>"
    notebook.cells.append(copy.deepcopy(cell_by_id(notebook, TEST)))
    notebook.cells[-1].id = "a-copy"
    built = build(notebook)
    solution = course.read_notebook(course.solution_notebook(ASSIGNMENT))
    assert cell_by_id(built, TEST).source == cell_by_id(solution, TEST).source
    assert cell_by_id(built, "intro").source == cell_by_id(solution, "intro").source
    assert [cell_grade_id(cell) for cell in built.cells].count(TEST) == 1
    assert nbgrader_metadata(cell_by_id(built, TEST)) == nbgrader_metadata(
        cell_by_id(release(), TEST)
    )


def test_outputs_are_what_the_grader_observed():
    """Does an answer cell show what it printed and raised in the sandbox, and each test cell
    its result, a failure with its likely mistake?"""
    notebook = release()
    tests = (
        TestCellResult(TEST, 2.0, 0.0, False, "values differ \x1b[31mred\x1b[0m", ("sin, cos",)),
        TestCellResult("test-layer-norm", 1.0, 1.0, True, "passed"),
    )
    result = graded(
        tests,
        cell_outputs=(CellOutput(ANSWER, (("stdout", "shape (7, 10)\n"),), 12),),
        cell_errors={ANSWER: "ValueError: bad <b>"},
    )
    built = build(notebook, result)
    answer = cell_by_id(built, ANSWER).outputs
    assert [output.output_type for output in answer] == ["stream", "stream", "error"]
    assert answer[0].text == "shape (7, 10)\n" and "12 more characters" in answer[1].text
    assert (answer[2].ename, answer[2].evalue) == ("ValueError", "bad <b>")
    failed = cell_by_id(built, TEST).outputs[0]
    assert failed.output_type == "error" and "\x1b" not in "".join(failed.traceback)
    assert "This looks like a known mistake: sin, cos." in failed.traceback
    assert cell_by_id(built, "test-layer-norm").outputs[0].text == "passed (1 of 1 points)\n"


def test_missing_graded_cells_are_appended_from_the_course():
    """When a learner deletes a test cell and the written answer, are they shown after a note,
    the answer as released?"""
    notebook = release()
    notebook.cells = [cell for cell in notebook.cells if cell_grade_id(cell) not in (TEST, WRITTEN)]
    built = build(notebook, graded((TestCellResult(TEST, 2.0, 0.0, False, "missing"),)))
    assert "missing from the submission" in built.cells[-3].source
    assert cell_grade_id(built.cells[-1]) == WRITTEN or cell_grade_id(built.cells[-2]) == WRITTEN
    assert "YOUR ANSWER HERE" in cell_by_id(built, WRITTEN).source
    assert cell_by_id(built, TEST).outputs[0].output_type == "error"


def test_a_written_answer_keeps_its_grading_metadata_and_is_cleaned():
    """Does the written answer keep the course's nbgrader metadata (formgrader's score box) while
    its text is cleaned?"""
    notebook = release()
    cell_by_id(notebook, WRITTEN).source = "Two softmaxes. <img src=x onerror=alert(1)>"
    written = cell_by_id(build(notebook), WRITTEN)
    assert nbgrader_metadata(written)["points"] == 2 and nbgrader_metadata(written)["grade"]
    assert "&lt;img" in written.source and active_parts(rendered(written.source)) == []
