"""Write a small demo class, laid out like nbgrader's submitted folder, for the instructor's flow.

``python -m autograder demo SUBMITTED`` writes ``<student>/<assignment>/<notebook>.ipynb`` for
each assignment in solutions/, each handed in as a learner does (the release, answered; the
hidden tests are never in it): student ``full-marks`` hands in the reference answers (full
marks), ``untouched`` the release (zero), ``not-json`` a file that is not valid JSON for every
assignment (each named in grades.csv with status error, nobody else affected), and
``mistakes-01`` ... each make one known mistake per assignment (the assignment's known mistakes
in turn, :func:`mistake_index`), which the feedback names. ``--copies K`` repeats every student but
``not-json`` K times, for the benchmark. Beside each notebook, a ``timestamp.txt`` says when it was
handed in, as nbgrader's collect writes it (:data:`HANDED_IN`, the same for everyone).

Beside the class it writes a Canvas gradebook export for it, ``SUBMITTED-canvas-export.csv``, laid
out as Canvas exports one, to try ``python -m autograder report OUT --canvas-template`` on. Like a
real course's, it is not quite the class: one Canvas student handed nothing in and has a grade
entered by hand, one demo student already has a grade in Canvas that the import changes, and one
login differs from the folder name in case only, a match the report refuses.
"""

import argparse
import copy
import csv
import io
from pathlib import Path

import nbformat

from autograder import course
from autograder.checks.mistakes import known_mistakes
from autograder.course import notebook_format
from autograder.grade.collect import TIMESTAMP_FILE

HANDED_IN = "2026-12-01 09:00:00.000000 UTC"


def without_solution_markers(source: str) -> str:
    """An answer cell's source as a learner writes it: without nbgrader's solution markers."""
    return "\n".join(
        line
        for line in source.splitlines()
        if line.strip() not in (notebook_format.BEGIN_SOLUTION, notebook_format.END_SOLUTION)
    )


def strip_solution_markers(notebook):
    """What a learner's correct notebook looks like: the answers without nbgrader's markers."""
    for cell in notebook.cells:
        if notebook_format.is_solution(cell):
            cell.source = without_solution_markers(cell.source)
    return notebook


def as_handed_in(release, answered):
    """The notebook a learner hands in: the release, each answer cell holding `answered`'s answer
    (its cell of the same grade_id) without nbgrader's markers. Everything else is as released:
    the test cells without their hidden part, which a learner never sees."""
    answers = {
        notebook_format.cell_grade_id(cell): without_solution_markers(cell.source)
        for cell in answered.cells
        if notebook_format.is_solution(cell)
    }
    handed_in = copy.deepcopy(release)
    for cell in handed_in.cells:
        if notebook_format.is_solution(cell):
            cell.source = answers[notebook_format.cell_grade_id(cell)]
    return handed_in


def mistake_index(student: str, assignment: str) -> int:
    """Which of the assignment's known mistakes the demo student ``mistakes-NN[-copy]`` makes."""
    number = int(student.split("-")[1])
    return (number - 1) % len(known_mistakes(assignment))


def demo_class(
    assignments=None, copies: int = 1, broken: bool = True, each_mistake_once: bool = False
) -> dict:
    """student id -> {assignment: notebook (NotebookNode) or raw bytes}.

    Every ``mistakes-NN`` student hands in every assignment, taking its known mistakes in turn, so
    that an assignment with fewer known mistakes than the largest has some twice; with
    `each_mistake_once`, ``mistakes-NN`` hands in only the assignments that have an NN-th known
    mistake (the test suite's class: every mistake graded once, and some notebooks missing)."""
    assignments = assignments or course.assignments()
    most = max(len(known_mistakes(assignment)) for assignment in assignments)
    students = {}
    for assignment in assignments:
        solution = course.read_notebook(course.solution_notebook(assignment))
        release = course.read_notebook(course.release_notebook(assignment))
        mistakes = known_mistakes(assignment)
        for repeat in range(copies):
            suffix = "" if copies == 1 else f"-{repeat + 1:02d}"
            students.setdefault(f"full-marks{suffix}", {})[assignment] = as_handed_in(
                release, solution
            )
            students.setdefault(f"untouched{suffix}", {})[assignment] = release
            for number in range(1, (len(mistakes) if each_mistake_once else most) + 1):
                student = f"mistakes-{number:02d}{suffix}"
                wrong = notebook_format.apply_mistake(
                    solution, mistakes[mistake_index(student, assignment)]
                )
                students.setdefault(student, {})[assignment] = as_handed_in(release, wrong)
        if broken:
            students.setdefault("not-json", {})[assignment] = b'{"cells": [ this is not JSON'
    return students


def write_class(students: dict, folder: Path, handed_in: str | None = HANDED_IN) -> Path:
    """Write `students` as nbgrader's submitted folder, with a timestamp.txt holding `handed_in`
    beside each notebook (none if None)."""
    for student, notebooks in students.items():
        for assignment, notebook in notebooks.items():
            path = folder / student / assignment / course.notebook_name(assignment)
            path.parent.mkdir(parents=True, exist_ok=True)
            if handed_in is not None:
                (path.parent / TIMESTAMP_FILE).write_text(handed_in + "\n")
            if isinstance(notebook, bytes):
                path.write_bytes(notebook)
            else:
                nbformat.write(notebook, path)
    return folder


# Canvas's own columns, before the assignments, and its read-only score columns after them.
CANVAS_FIRST = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_LAST = ["Current Score", "Unposted Current Score", "Final Score", "Unposted Final Score"]
CANVAS_ONLY = "absent-ann"  # a Canvas student with no folder: their hand-entered grade is kept
CHANGED = "mistakes-01"  # a demo student with a grade in Canvas already (3, for the first one)
OTHER_CASE = {"untouched": "Untouched"}  # logins that differ from the folder name in case only


def canvas_export(students: list[str], assignments: list[str]) -> str:
    """A Canvas gradebook export (Grades > Export) for the demo class: a byte-order mark, CRLF,
    a Points Possible row, Canvas's test student, assignment columns titled "<id> (<number>)"."""
    notebooks = [course.read_notebook(course.solution_notebook(a)) for a in assignments]
    # the points of every scored cell: the tests and the written answers a person grades
    possible = [
        notebook_format.graded_tests(notebook) | notebook_format.manually_graded(notebook)
        for notebook in notebooks
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    columns = [f"{assignment} ({12340 + number})" for number, assignment in enumerate(assignments)]
    writer.writerow(CANVAS_FIRST + columns + CANVAS_LAST)
    writer.writerow(
        ["    Points Possible", "", "", "", ""]
        + [f"{sum(points.values()):.2f}" for points in possible]
        + ["(read only)"] * len(CANVAS_LAST)
    )
    rows = [(student, OTHER_CASE.get(student, student)) for student in students]
    rows.append((CANVAS_ONLY, CANVAS_ONLY))
    for number, (student, login) in enumerate(sorted(rows), start=1):
        cells = [""] * len(assignments)
        if student in (CANVAS_ONLY, CHANGED):
            cells[0] = "3.00"
        name = "Ann, Absent" if student == CANVAS_ONLY else f"Demo, {student}"
        writer.writerow(
            [name, 1000 + number, f"S-{number:04d}", login, "Section A"]
            + cells
            + [""] * len(CANVAS_LAST)
        )
    writer.writerow(["Student, Test", 9999, "", "", "Section A"] + [""] * (len(columns) + 4))
    return "\ufeff" + buffer.getvalue()


def canvas_export_path(folder: Path) -> Path:
    return folder.with_name(f"{folder.name}-canvas-export.csv")


DESCRIPTION = __doc__.split("\n\n")[0].replace("``", "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="where to write the submissions")
    parser.add_argument(
        "--assignment", action="append", help="assignment id (default: all; repeatable)"
    )
    parser.add_argument(
        "--copies", type=int, default=1, help="honest students per kind (default 1)"
    )


def run(arguments: argparse.Namespace) -> int:
    students = demo_class(arguments.assignment, arguments.copies)
    write_class(students, arguments.folder)
    export = canvas_export_path(arguments.folder)
    export.write_text(
        canvas_export(sorted(students), arguments.assignment or course.assignments()),
        encoding="utf-8",
        newline="",
    )
    print(
        f"wrote a demo class to {arguments.folder}, and its Canvas gradebook export to {export}. "
        f"Grade it with: python -m autograder grade {arguments.folder} --out OUT; then fill "
        f"the export with: python -m autograder report OUT --canvas-template {export}"
    )
    return 0
