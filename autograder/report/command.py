"""``python -m autograder report OUT``: what an instructor reads after grading a class.

Written under OUT, from OUT/grades.csv and the submitted notebooks:

- ``similarity.csv`` and ``similarity.html``: per assignment, the pairs of students whose code
  carries the most evidence of copying (autograder/report/similarity.py): evidence for a person
  to look at, never a verdict;
- ``grades-wide.csv``: one row per student, one column per assignment, and the total;
- with ``--canvas-template FILE`` (the gradebook CSV exported from Canvas): ``canvas-import.csv``,
  the same file with the course's assignment columns filled, and ``canvas-summary.txt``, which
  names the students on one side and not the other (autograder/report/lms.py).

The grading command writes the first three at its end; run this command again to add the
Canvas file, or after changing the grades. A canvas-import.csv made from other grades than
grades.csv's (a regrade since) is removed, and the output says so. What the command found goes
to stdout; errors go to stderr.
"""

import argparse
import sys
from pathlib import Path

from autograder import course
from autograder.report import lms, similarity, similarity_files
from autograder.report.outputs import _write

DESCRIPTION = __doc__.split("\n")[0].replace("``", "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "out", type=Path, help="the --out folder of a grading run (holds grades.csv)"
    )
    parser.add_argument(
        "--submitted",
        type=Path,
        default=None,
        help="the notebooks to compare, <student>/<assignment>/<notebook>.ipynb "
        "(default: OUT/autograded, the notebooks that were graded)",
    )
    parser.add_argument(
        "--canvas-template",
        type=Path,
        default=None,
        help="the gradebook CSV exported from Canvas, to fill in as OUT/canvas-import.csv",
    )
    parser.add_argument(
        "--min-shared",
        type=int,
        default=similarity.MIN_SHARED,
        metavar="N",
        help="rank only pairs that share at least N fingerprints; others are listed apart "
        f"(default {similarity.MIN_SHARED}, about two lines of code)",
    )


def similarity_reports(
    out: Path,
    submitted: Path,
    known: list[str],
    min_shared: int = similarity.MIN_SHARED,
    fingerprinted: dict | None = None,
) -> list[similarity.AssignmentReport]:
    """Compare the class, write OUT/similarity.csv and OUT/similarity.html, return the reports;
    `fingerprinted`: what the grading workers took (similarity.compare_class)."""
    reports = similarity.compare_class(
        submitted,
        known,
        min_shared,
        prepare=similarity_files.prepare_html,
        fingerprinted=fingerprinted,
    )
    _write(out / "similarity.csv", similarity_files.similarity_csv(reports))
    _write(
        out / "similarity.html", similarity_files.similarity_html(reports, min_shared=min_shared)
    )
    return reports


def write_similarity(
    out: Path,
    submitted: Path,
    known: list[str],
    min_shared: int = similarity.MIN_SHARED,
    fingerprinted: dict | None = None,
) -> str:
    reports = similarity_reports(out, submitted, known, min_shared, fingerprinted)
    top = [
        f"{r.assignment}: {r.pairs[0].student_a} and {r.pairs[0].student_b} "
        f"({r.pairs[0].evidence:.0f} bits)"
        for r in reports
        if r.pairs
    ]
    return (
        f"similarity.html: {sum(len(r.submissions) for r in reports)} notebooks compared; the "
        "pair with the most evidence per assignment (to read, not a verdict): "
        f"{'; '.join(top) or 'none'}"
    )


def write_grades(out: Path, known: list[str], canvas_template: Path | None = None) -> str:
    grades = lms.read_grades(out / "grades.csv", known)
    _write(out / "grades-wide.csv", lms.grades_wide_csv(grades))
    lines = [
        f"grades-wide.csv: {len(grades.students)} students, {len(grades.assignments)} assignments"
    ]
    source = lms.file_sha256(out / "grades.csv")
    if canvas_template is not None:
        template = canvas_template.read_bytes().decode("utf-8")
        result = lms.canvas_import(template, grades)
        result.source_sha256 = source
        _write(out / "canvas-import.csv", result.text.encode("utf-8"))
        _write(out / "canvas-summary.txt", result.summary())
        lines.append(result.summary().rstrip("\n"))
    else:
        lines += lms.ungradable_lines(grades)
        lines += remove_stale_canvas_import(out, source)
    return "\n".join(lines)


def remove_stale_canvas_import(out: Path, source_sha256: str) -> list[str]:
    """Remove canvas-import.csv and canvas-summary.txt when they were made from other grades
    than grades.csv's (a regrade since): an upload of them would undo it."""
    imported, summary = out / "canvas-import.csv", out / "canvas-summary.txt"
    if not imported.exists():
        return []
    try:
        made_from = summary.read_text(encoding="utf-8")
    except OSError:
        made_from = ""
    if f"{lms.SOURCE_LINE}{source_sha256}." in made_from:
        return []
    for path in (imported, summary):
        path.unlink(missing_ok=True)
    return [
        "removed canvas-import.csv and canvas-summary.txt: they were made from other grades "
        "than grades.csv's. Write them again with: python -m autograder report "
        f"{out} --canvas-template EXPORT.csv"
    ]


def after_grading(out: Path, submitted: Path, fingerprinted: dict | None = None) -> None:
    """The grading command's last step. A failure here is reported and costs no grade.
    `fingerprinted`: (student, assignment) -> the fingerprints the grading workers took."""
    try:
        known = course.assignments()
        print(write_grades(out, known))
        print(write_similarity(out, submitted, known, fingerprinted=fingerprinted))
    except Exception as error:  # grades.csv is written already: say so, and how to retry
        print(
            f"warning: the after-grading reports failed ({type(error).__name__}: {error}); "
            "grades.csv "
            f"is complete. Retry with: python -m autograder report {out} --submitted {submitted}",
            file=sys.stderr,
        )


def run(arguments: argparse.Namespace) -> int:
    out = arguments.out
    if not (out / "grades.csv").is_file():
        print(
            f"error: {out / 'grades.csv'} is missing: run python -m autograder grade SUBMITTED "
            f"--out {out} "
            "first",
            file=sys.stderr,
        )
        return 2
    if arguments.canvas_template is not None and not arguments.canvas_template.is_file():
        print(f"error: no Canvas export at {arguments.canvas_template}", file=sys.stderr)
        return 2
    known = course.assignments()
    try:
        print(write_grades(out, known, arguments.canvas_template))
    except (ValueError, UnicodeDecodeError) as error:
        print(
            f"error: {arguments.canvas_template} is not a Canvas gradebook export: {error}",
            file=sys.stderr,
        )
        return 2
    submitted = arguments.submitted or out / "autograded"
    print(write_similarity(out, submitted, known, arguments.min_shared))
    return 0
