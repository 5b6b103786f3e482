"""OUT/autograded/<student>/<assignment>/<notebook>.ipynb: the notebook formgrader shows a
grader, built as nbgrader builds an autograded notebook, and safe to render.

nbgrader's autograde clears a submission's outputs, puts the course's locked and test cells back
(OverwriteCells) and executes it, so its notebook shows the outputs of its own run. This one is
built the same way from what the grading run observed, and holds nothing a learner stored:

- cells: the submission's, in its order. A cell with a course cell's nbgrader id takes the course's
  metadata (the release's, with its checksum) and, unless it is an answer, the course's source and
  cell type; only the first of several cells with one id keeps it (nbgrader's DeduplicateIds).
  Every other cell keeps its source and no metadata at all: tags, attachments, widget state and
  forged nbgrader fields are dropped, and so is the notebook's metadata (the course's is used).
  Test and written-answer cells the submission lacks are appended from the course, after a note.
- outputs: the grader's own, as text. What each of the learner's code cells printed and raised in
  the sandbox (autograder/grade/learner_session.py keeps it, bounded), and for each test cell its
  result: an error output with the failure message and the likely mistake, as nbgrader's autograded
  notebook shows a traceback, or "passed". Every output the learner stored is dropped.
- markdown the learner wrote (a written answer, an added cell, edited instructions) and raw cells
  are rendered to HTML by nbconvert's own markdown renderer and cleaned by bleach (an allowlist of
  tags and attributes; links to http, https and mailto only); anything else, raw HTML included, is
  escaped and shows as text. The cleaned HTML is stored as one HTML block, which nbconvert's
  renderer passes through unchanged; that is checked for every cell, and a cell for which it does
  not hold is shown as escaped plain text instead. nbgrader 0.9.6's formgrade template renders
  markdown cells without cleaning them, so the copy itself must hold nothing active; nbconvert's
  HTMLExporter.sanitize_html, which OUT/nbgrader_config.py turns on, cleans outputs only and is a
  second layer.
"""

import copy
import functools
import html
import json
import re
from typing import NamedTuple

from autograder import course
from autograder.course.notebook_format import cell_grade_id, cell_source, nbgrader_metadata
from autograder.grade.cell_plan import NotebookProblem, code_cell_labels, read_submission
from autograder.grade.results import NotebookResult, clipped

# What a learner's markdown may keep once rendered: text structure, code, tables and links.
ALLOWED_TAGS = frozenset(
    "a abbr b blockquote br code del div em h1 h2 h3 h4 h5 h6 hr i kbd li ol p pre s span strong "
    "sub sup table tbody td th thead tr ul".split()
)
ALLOWED_ATTRIBUTES = {
    "a": ["href", "title"],
    "code": ["class"],  # pygments' highlighting of fenced code
    "div": ["class"],
    "pre": ["class"],
    "span": ["class"],
    "td": ["align"],
    "th": ["align"],
}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
LEARNER_BLOCK = '<div class="learner-markdown">{}</div>'
# Characters of a learner's markdown rendered and cleaned per notebook; the rest is shown as
# escaped text, which costs little, so that a notebook of 20 MB of markdown stays cheap.
MAX_RENDERED_MARKDOWN_CHARS = 1 << 20
# ANSI escape sequences and control characters other than newline and tab: text outputs show as
# written, not as a terminal would draw them.
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")


def plain_text(text: str) -> str:
    return _CONTROL.sub("", text)


@functools.cache
def _markdown2html():
    """nbconvert's markdown to HTML, as formgrader's template renders a markdown cell
    (``cell.source | markdown2html | strip_files_prefix``). strip_files_prefix turns
    ``href="files/javascript:..."`` into ``href="javascript:..."``: what is checked is the whole
    chain's output."""
    from nbconvert.exporters import HTMLExporter
    from nbconvert.filters import strip_files_prefix

    exporter = HTMLExporter()
    return lambda source: strip_files_prefix(exporter.markdown2html({}, source))


def _clean(markup: str) -> str:
    import bleach

    return bleach.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        protocols=ALLOWED_PROTOCOLS,
        strip=False,  # a tag that is not allowed is escaped: the grader sees what was written
        strip_comments=True,
    )


def _verbatim_block(markup: str) -> str | None:
    """`markup` as a markdown cell that renders to exactly `markup`: one HTML block on one line
    (a newline inside it written as a character reference), or None if the renderer would
    change it."""
    block = LEARNER_BLOCK.format(markup.replace("\r", "").replace("\n", "&#10;"))
    return block if _markdown2html()(block).strip() == block else None


def safe_text(source: str) -> str:
    """Text (a raw cell, or markdown past the budget) as markdown that shows it as preformatted
    text ("/" written as a character reference, so that no ``files/`` prefix is ever stripped)."""
    escaped = html.escape(plain_text(source)).replace("/", "&#47;")
    shown = _verbatim_block(f"<pre>{escaped}</pre>")
    return shown if shown is not None else "*(this cell could not be shown safely)*"


def safe_markdown(source: str) -> str:
    """A learner's markdown as markdown that renders to cleaned HTML, nothing active in it; as
    preformatted text when the cleaned HTML would not pass through unchanged."""
    cleaned = _verbatim_block(_clean(_markdown2html()(source)))
    return cleaned if cleaned is not None else safe_text(source)


# Cells and outputs are built as plain nbformat 4.5 dicts: nbformat's constructors validate each
# one against the schema, which cost 40 ms a notebook (a unit test validates the whole notebook).


def _stream(name: str, text: str) -> dict:
    return {"output_type": "stream", "name": name, "text": plain_text(text)}


def _error(text: str) -> dict:
    """An error output from a "Type: message" text, as nbgrader's notebook shows a traceback."""
    text = plain_text(text)
    kind, _, message = text.partition(": ")
    if not message or " " in kind:
        kind, message = "Error", text
    return {"output_type": "error", "ename": kind, "evalue": message, "traceback": [text]}


def _test_outputs(test) -> list:
    if test.passed:
        return [_stream("stdout", f"passed ({test.score:g} of {test.points:g} points)\n")]
    lines = [f"failed ({test.score:g} of {test.points:g} points): {test.message}"]
    lines += [f"This looks like a known mistake: {mistake}." for mistake in test.mistakes]
    return [
        {
            "output_type": "error",
            "ename": "Test failed",
            "evalue": plain_text(test.message),
            "traceback": [plain_text(line) for line in lines],
        }
    ]


def _learner_outputs(result: NotebookResult, label: str | None) -> list:
    if label is None:
        return []
    label = clipped(label, 100)  # as the learner session keys cell errors and outputs
    outputs = []
    for output in result.cell_outputs:
        if output.label == label:
            outputs += [_stream(name, text) for name, text in output.streams]
            if output.omitted:
                note = f"[{output.omitted} more characters of output not kept]\n"
                outputs.append(_stream("stderr", note))
            break
    if label in result.cell_errors:
        outputs.append(_error(result.cell_errors[label]))
    return outputs


class CourseCell(NamedTuple):
    solution: dict  # the solution notebook's cell
    release: dict | None  # the release's, when it has one
    metadata: dict  # its nbgrader metadata, the release's (with its checksum) if any


@functools.cache
def _course_cells(assignment: str) -> dict[str, CourseCell]:
    """grade_id -> CourseCell, for each cell of the course's notebook that has an id."""
    solution = course.read_notebook(course.solution_notebook(assignment))
    release = course.read_notebook(course.release_notebook(assignment))
    released = {cell_grade_id(cell): cell for cell in release.cells}
    cells = {}
    for cell in solution.cells:
        grade_id = cell_grade_id(cell)
        if grade_id:
            twin = released.get(grade_id)
            metadata = nbgrader_metadata(twin) if twin is not None else {}
            cells[grade_id] = CourseCell(cell, twin, metadata or nbgrader_metadata(cell))
    return cells


@functools.cache
def _solution_metadata(assignment: str) -> dict:
    return course.read_notebook(course.solution_notebook(assignment)).metadata


def _new_cell(cell_type: str, source: str) -> dict:
    cell = {"cell_type": cell_type, "id": "", "metadata": {}, "source": source}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _course_copy(course_cell: CourseCell, source: str) -> dict:
    new = _new_cell(course_cell.solution.cell_type, source)
    new["metadata"]["nbgrader"] = dict(course_cell.metadata)  # its values are plain scalars
    return new


def autograded_notebook(result: NotebookResult, cells: list):
    """The autograded notebook of `result`, from the submission's `cells` (read_submission)."""
    import nbformat  # here: the grading command writes the notebook's JSON without it

    return nbformat.from_dict(_autograded(result, cells))


def _autograded(result: NotebookResult, cells: list) -> dict:
    """The autograded notebook as plain JSON data."""
    courses = _course_cells(result.assignment)
    tests = {test.grade_id: test for test in result.tests}
    labels = {id(cell): label for label, cell in code_cell_labels(cells)}
    budget = MAX_RENDERED_MARKDOWN_CHARS
    built, seen = [], set()
    for cell in cells:
        grade_id, source, kind = cell_grade_id(cell), cell_source(cell), cell.get("cell_type")
        course_cell = courses.get(grade_id) if grade_id not in seen else None
        if course_cell is not None:
            seen.add(grade_id)
            kind = course_cell.solution.cell_type
            if not course_cell.metadata.get("solution"):  # instructions, tests, read-only code
                new = _course_copy(course_cell, course_cell.solution.source)
            elif kind == "markdown":  # a written answer
                budget -= len(source)
                new = _course_copy(
                    course_cell, safe_markdown(source) if budget >= 0 else safe_text(source)
                )
            else:
                new = _course_copy(course_cell, source)
        elif kind == "code":
            new = _new_cell("code", source)
        elif kind == "markdown":
            budget -= len(source)
            new = _new_cell("markdown", safe_markdown(source) if budget >= 0 else safe_text(source))
        elif kind == "raw":
            new = _new_cell("markdown", safe_text(source))
        else:
            continue
        if new["cell_type"] == "code":
            if course_cell is not None and grade_id in tests:
                new["outputs"] = _test_outputs(tests[grade_id])
            elif course_cell is None or course_cell.metadata.get("solution"):
                new["outputs"] = _learner_outputs(result, labels.get(id(cell)))
        built.append(new)
    missing = [
        grade_id
        for grade_id, course_cell in courses.items()
        if grade_id not in seen and course_cell.metadata.get("grade")
    ]
    if missing:
        note = "*The cells below were missing from the submission: they are the course's copy.*"
        built.append(_new_cell("markdown", note))
    for grade_id in missing:
        course_cell = courses[grade_id]
        released = course_cell.metadata.get("solution") and course_cell.release is not None
        new = _course_copy(
            course_cell, (course_cell.release if released else course_cell.solution).source
        )
        if grade_id in tests and new["cell_type"] == "code":
            new["outputs"] = _test_outputs(tests[grade_id])
        built.append(new)
    for index, cell in enumerate(built):
        cell["id"] = f"cell-{index:04d}"  # stable: a re-run writes the same bytes
    metadata = copy.deepcopy(_solution_metadata(result.assignment))  # never the submission's
    return {"cells": built, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def autograded_bytes(result: NotebookResult) -> bytes | None:
    """The autograded notebook of a graded result, as file bytes; None when its submission cannot
    be read any more (it changed or went away since it was graded)."""
    try:
        cells = read_submission(result.notebook)
    except NotebookProblem:
        return None
    # Compact JSON: json's C encoder, ten times nbformat's indented writer (any JSON layout is a
    # notebook to nbformat and formgrader).
    text = json.dumps(_autograded(result, cells), sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode("utf-8", "backslashreplace")
