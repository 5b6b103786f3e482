"""Write a small demo class, laid out like nbgrader's submitted folder, for the instructor's flow.

``python -m autograder demo SUBMITTED`` writes ``<student>/<assignment>/<notebook>.ipynb`` for
each assignment in solutions/: student ``full-marks`` hands in the reference solution (full
marks), ``untouched`` the release (zero), ``not-json`` a file that is not valid JSON for every
assignment (each named in grades.csv with status error, nobody else affected), and
``mistakes-01`` ... each make one known mistake per assignment (the assignment's known mistakes
in turn, :func:`mistake_index`), which the feedback names. ``--copies K`` repeats every student but
``not-json`` K times, for the benchmark. Beside each notebook, a ``timestamp.txt`` says when it was
handed in, as nbgrader's collect writes it (:data:`HANDED_IN`, the same for everyone).
"""

import argparse
from pathlib import Path

import nbformat

from autograder import course
from autograder.checks.mistakes import known_mistakes
from autograder.course import notebook_format
from autograder.grade.collect import TIMESTAMP_FILE

HANDED_IN = "2026-12-01 09:00:00.000000 UTC"


def strip_solution_markers(notebook):
    """What a learner's correct notebook looks like: the answers without nbgrader's markers."""
    for cell in notebook.cells:
        if notebook_format.nbgrader_metadata(cell).get("solution"):
            lines = [
                line
                for line in cell.source.splitlines()
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            ]
            cell.source = "\n".join(lines)
    return notebook


def mistake_index(student: str, assignment: str) -> int:
    """Which of the assignment's known mistakes the demo student ``mistakes-NN[-copy]`` makes."""
    number = int(student.split("-")[1])
    return (number - 1) % len(known_mistakes(assignment))


def demo_class(assignments=None, copies: int = 1, broken: bool = True) -> dict:
    """student id -> {assignment: notebook (NotebookNode) or raw bytes}."""
    assignments = assignments or course.assignments()
    most = max(len(known_mistakes(assignment)) for assignment in assignments)
    students = {}
    for assignment in assignments:
        solution = course.read_notebook(course.solution_notebook(assignment))
        release = course.read_notebook(course.release_notebook(assignment))
        mistakes = known_mistakes(assignment)
        for copy in range(copies):
            suffix = "" if copies == 1 else f"-{copy + 1:02d}"
            students.setdefault(f"full-marks{suffix}", {})[assignment] = strip_solution_markers(
                nbformat.from_dict(nbformat.reads(nbformat.writes(solution), as_version=4))
            )
            students.setdefault(f"untouched{suffix}", {})[assignment] = release
            for number in range(1, most + 1):
                student = f"mistakes-{number:02d}{suffix}"
                wrong = notebook_format.apply_mistake(
                    solution, mistakes[mistake_index(student, assignment)]
                )
                students.setdefault(student, {})[assignment] = strip_solution_markers(wrong)
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
    write_class(demo_class(arguments.assignment, arguments.copies), arguments.folder)
    print(f"wrote a demo class to {arguments.folder}")
    return 0
