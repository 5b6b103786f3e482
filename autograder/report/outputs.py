"""What the grading command writes under OUT: grades.csv, results.json, one feedback page per
student and assignment, a score-distribution plot per assignment, the nbgrader gradebook, and what
makes OUT an nbgrader course root that formgrader opens: source/ and release/ (the course's
notebooks of each assignment graded), submitted/<student>/<assignment>/timestamp.txt, the
autograded notebooks (autograder/report/autograded.py), feedback named after the notebook as
nbgrader names it, and an nbgrader_config.py that names no path outside OUT (OUT can be moved),
turns on nbconvert's HTML sanitising and sends ``nbgrader export`` run in OUT to
nbgrader-grades.csv, never over the grader's own grades.csv.

Every file is written to a temporary name and then renamed, so a run that is interrupted leaves
the previous complete files, and a re-run with the same secret writes the same bytes. Text is
made safe where it enters (messages.py); the writers still replace anything UTF-8 cannot encode,
and every CSV cell that a spreadsheet would read as a formula is neutralised.
"""

import contextlib
import csv
import html
import io
import json
import os
import tempfile
from pathlib import Path

from autograder import course
from autograder.grade.results import NotebookResult, Status
from autograder.report.autograded import autograded_bytes
from autograder.report.gradebook import write_gradebook

FIELDS = ["student_id", "assignment", "score", "max_score", "status", "message"]
# What a spreadsheet reads as the start of a formula (OWASP's list for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# `nbgrader export` run inside OUT writes here: OUT/grades.csv is the grader's.
NBGRADER_EXPORT = "nbgrader-grades.csv"
EXPORT_PLUGIN = "autograder.report.nbgrader_export.SpreadsheetSafeCsvExport"
# Rows the score plots leave out, by status, with the words that count them under the title.
NOT_PLOTTED = {Status.MISSING: "missing (not handed in)", Status.ERROR: "could not be graded"}
# The process's umask (read by setting it), for files that mkstemp creates private.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _write(path: Path, data: bytes | str) -> None:
    """Write `path` whole or not at all: a temporary file beside it (its own name, so that nothing
    else writes it), renamed over `path`; removed if anything, Ctrl-C included, stops the write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "backslashreplace")
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes it 0600; a plain open() would not
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def spreadsheet_safe(value) -> str:
    """A CSV cell that no spreadsheet evaluates: text starting like a formula gets a leading
    quote, and so does text that starts with a quote, so that no two values are written alike
    (`=a` is `'=a`, `'=a` is `''=a`) and spreadsheet_value reads back each one as it was."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS + ("'",)) else text


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """ "1 grade", "3 grades": a count in the words of a summary."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def spreadsheet_value(cell: str) -> str:
    """The value a cell written by spreadsheet_safe holds: its one leading quote, if any, taken
    off."""
    return cell[1:] if cell.startswith("'") else cell


def csv_text(fields: list, rows: list) -> str:
    """Every CSV this course writes goes through here: a header, then each row's cells made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    writer.writerows([spreadsheet_safe(row.get(field, "")) for field in fields] for row in rows)
    return buffer.getvalue()


def _number(value):
    if value is None:
        return ""
    return f"{value:g}"


def grades_csv(results: list[NotebookResult]) -> str:
    """One row per notebook. A notebook that could not be graded (status error) has no score,
    not 0: its status and message say why, and no sum or upload mistakes it for a real 0."""
    return csv_text(
        FIELDS,
        [
            {
                "student_id": result.student,
                "assignment": result.assignment,
                "score": "" if result.status is Status.ERROR else _number(result.score),
                "max_score": _number(result.max_score),
                "status": result.status.value,
                "message": result.message,
            }
            for result in results
        ],
    )


def _not_graded(result: NotebookResult) -> str:
    if result.status is Status.MISSING:
        return "No notebook was handed in"
    return "Your notebook could not be graded"


def feedback_text(result: NotebookResult) -> str:
    """Plain-text feedback: what passed and failed, with the checks' messages, never their code."""
    lines = [
        f"Feedback for {result.student}, assignment {result.assignment}",
        f"Score: {_number(result.score)} / {_number(result.max_score)}",
        "",
    ]
    if result.status is not Status.GRADED:
        lines += [f"{_not_graded(result)}: {result.message}", ""]
    for test in result.tests:
        mark = "PASSED" if test.passed else "FAILED"
        lines.append(
            f"[{mark}] {test.grade_id} ({_number(test.score)} / {_number(test.points)} points)"
        )
        if not test.passed and test.message:
            lines.append(f"    {test.message}")
        for mistake in test.mistakes:
            lines.append(f"    This looks like a known mistake: {mistake}.")
    if result.cell_errors:
        lines += ["", "Cells of yours that raised an error when run from the top:"]
        lines += [f"    {label}: {error}" for label, error in result.cell_errors.items()]
    if result.events:
        lines += ["", "Your code was stopped:"] + [f"    {event}" for event in result.events]
    if result.notes:
        lines += ["", "About your notebook:"] + [f"    {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def feedback_html(result: NotebookResult) -> str:
    escape = html.escape
    rows = []
    for test in result.tests:
        detail = escape(test.message) if not test.passed else ""
        for mistake in test.mistakes:
            detail += f"<br><strong>Looks like a known mistake:</strong> {escape(mistake)}."
        colour = "#009E73" if test.passed else "#D55E00"
        rows.append(
            f"<tr><td><code>{escape(test.grade_id)}</code></td>"
            f"<td style='color:{colour}'>{'passed' if test.passed else 'failed'}</td>"
            f"<td>{_number(test.score)} / {_number(test.points)}</td><td>{detail}</td></tr>"
        )
    sections = []
    if result.status is not Status.GRADED:
        sections.append(f"<p><strong>{_not_graded(result)}:</strong> {escape(result.message)}</p>")
    for title, items in [
        (
            "Cells of yours that raised an error",
            [f"{k}: {v}" for k, v in result.cell_errors.items()],
        ),
        ("Your code was stopped", result.events),
        ("About your notebook", result.notes),
    ]:
        if items:
            sections.append(
                f"<h2>{title}</h2><ul>"
                + "".join(f"<li>{escape(item)}</li>" for item in items)
                + "</ul>"
            )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Feedback: {escape(result.assignment)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em "
        "auto}td,th{border-bottom:1px solid "
        "#ccc;padding:.4em;text-align:left;vertical-align:top}</style>"
        f"</head><body><h1>Feedback on {escape(result.assignment)}</h1>"
        f"<p>Student: {escape(result.student)}. Score: <strong>{_number(result.score)} / "
        f"{_number(result.max_score)}</strong>.</p>"
        "<table><tr><th>Test</th><th>Result</th><th>Points</th><th>What was checked and what "
        "went wrong</th></tr>" + "".join(rows) + "</table>" + "".join(sections) + "</body></html>\n"
    )


def pyplot():
    """matplotlib's pyplot, drawing to files (Agg). Imported when first needed, as it takes a
    second: the grading command has it imported while its cluster starts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def score_plot(
    assignment: str, scores: list, max_score: float, left_out: dict | None = None
) -> bytes:
    """A histogram of the graded notebooks' scores; `left_out` counts the rows not drawn, by
    reason ({"missing (not handed in)": 2}), and is said under the title."""
    plt = pyplot()

    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    top = max_score or max(scores, default=1) or 1
    bins = [x - 0.25 for x in range(int(top) + 2)] if float(top).is_integer() and top <= 40 else 20
    axes.hist(scores, bins=bins, color="#0072B2", edgecolor="white")
    axes.set_xlabel(f"score (out of {top:g})")
    axes.set_ylabel("number of students")
    title = f"{assignment}: {len(scores)} graded, mean {sum(scores) / max(len(scores), 1):.2f}"
    not_drawn = ", ".join(
        f"{count} {reason}" for reason, count in (left_out or {}).items() if count
    )
    axes.set_title(title + (f"\nnot drawn: {not_drawn}" if not_drawn else ""), fontsize=10)
    axes.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


NBGRADER_CONFIG = """\
\"\"\"Written by `python -m autograder grade`, and rewritten by every run. nbgrader run in this
folder (nbgrader's commands, or a Jupyter server started here for formgrader) takes it as the
course root: source/, release/, submitted/ (timestamps only: no notebook that `nbgrader
autograde` could run), autograded/ and feedback/, and its gradebook. nbconvert sanitises the HTML
of the notebooks formgrader renders; nbgrader's feedback leaves the hidden tests out; and
`nbgrader export` writes {export} (grades.csv here is the grader's own). It names
no path outside this folder: the folder can be moved.\"\"\"

from pathlib import Path

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)
OUT = Path(__file__).resolve().parent
c.CourseDirectory.root = str(OUT)
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = {db_url}
# formgrader renders the autograded notebooks: clean their outputs' HTML too (the notebooks hold
# text outputs only, and learners' markdown already cleaned).
c.HTMLExporter.sanitize_html = True
# nbgrader's own feedback (formgrader's "Generate Feedback") is made from the autograded notebooks:
# without the hidden tests' code, as the course's feedback pages.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.ExportPlugin.to = str(OUT / {export!r})  # `--to FILE` still wins
try:  # the course's CSV writer, where the course's package is installed (its virtual environment)
    import {plugin_module}  # noqa: F401
except ImportError:  # nbgrader of another environment: its own writer
    pass
else:
    c.ExportApp.plugin_class = {plugin!r}
"""


def nbgrader_config(db_url: str | None = None) -> str:
    """OUT/nbgrader_config.py: nbgrader reads it when run inside OUT (after any other
    configuration), so that there it uses OUT as its course root and the run's gradebook (OUT's,
    or `db_url`), exports with the course's spreadsheet-safe CSV writer, and writes
    nbgrader-grades.csv, never the grader's grades.csv."""
    db_url = repr(db_url) if db_url else "f\"sqlite:///{OUT / 'gradebook.db'}\""
    return NBGRADER_CONFIG.format(
        export=NBGRADER_EXPORT,
        plugin=EXPORT_PLUGIN,
        plugin_module=EXPORT_PLUGIN.rsplit(".", 1)[0],
        db_url=db_url,
    )


def feedback_files(out: Path, result: NotebookResult) -> tuple[Path, Path]:
    """The feedback page and its text version, named after the notebook as nbgrader names them:
    feedback/<student>/<assignment>/<notebook>.html (and .txt)."""
    folder = out / "feedback" / result.student / result.assignment
    notebook = Path(course.notebook_name(result.assignment)).stem
    return folder / f"{notebook}.html", folder / f"{notebook}.txt"


def _write_course_root(results: list[NotebookResult], out: Path, known: list) -> None:
    """What makes OUT an nbgrader course root for formgrader: each graded assignment's source/ and
    release/ notebooks, submitted/<student>/<assignment>/timestamp.txt for each notebook handed in
    (the time the gradebook records: formgrader counts a submission as autograded only when the
    two agree), and the autograded notebooks."""
    for assignment in sorted({result.assignment for result in results} & set(known)):
        name = course.notebook_name(assignment)
        for folder, notebook in [
            ("source", course.solution_notebook(assignment)),
            ("release", course.release_notebook(assignment)),
        ]:
            _write(out / folder / assignment / name, notebook.read_bytes())
    for result in results:
        if result.submitted is not None and result.assignment in known:
            stamp = out / "submitted" / result.student / result.assignment / "timestamp.txt"
            _write(stamp, result.submitted.timestamp + "\n")
        if result.status is Status.GRADED and result.notebook:
            data = autograded_bytes(result)
            if data is not None:
                name = course.notebook_name(result.assignment)
                _write(out / "autograded" / result.student / result.assignment / name, data)


def write_reports(
    results: list[NotebookResult],
    out: Path,
    known: list,
    db_url: str | None = None,
    gradebook: bool = True,
) -> None:
    """Every file under OUT. The gradebook too, at OUT/gradebook.db or `db_url`, unless
    `gradebook` is False: the grading command writes it as results arrive (GradebookWriter)."""
    _write(out / "grades.csv", grades_csv(results))
    _write(
        out / "results.json",
        json.dumps([result.to_dict() for result in results], indent=1, sort_keys=True, default=str),
    )
    _write(out / "nbgrader_config.py", nbgrader_config(db_url))
    for result in results:
        if result.student and result.assignment:  # a folder that is no id has no feedback page
            page, text = feedback_files(out, result)
            _write(text, feedback_text(result))
            _write(page, feedback_html(result))
            for old in ("feedback.html", "feedback.txt"):  # the names of earlier versions
                with contextlib.suppress(FileNotFoundError):
                    (page.parent / old).unlink()
    _write_course_root(results, out, known)
    for assignment in sorted(
        {result.assignment for result in results if result.assignment in known}
    ):
        rows = [
            result
            for result in results
            if result.assignment == assignment and result.max_score is not None
        ]
        if rows:
            scores = [row.score for row in rows if row.status is Status.GRADED]
            left_out = {
                label: sum(row.status is status for row in rows)
                for status, label in NOT_PLOTTED.items()
            }
            plot = score_plot(assignment, scores, rows[0].max_score, left_out)
            _write(out / "plots" / f"{assignment}.png", plot)
    if gradebook:
        write_gradebook(results, db_url or out / "gradebook.db", known)
