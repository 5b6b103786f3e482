"""Grades for the learning platform: OUT/grades-wide.csv for any LMS, and a Canvas import file.

- ``grades-wide.csv``: one row per student, one column per assignment (points), and the total;
  an assignment not handed in (status ``missing``) is an empty cell, not 0.
- ``canvas-import.csv``: the gradebook CSV that Canvas exports (columns Student, ID, SIS User ID,
  SIS Login ID, Section, then one column per assignment titled ``<name> (<canvas id>)``, a
  ``Points Possible`` row under the header), with the course's assignment columns filled in.
  Only those cells change: every other byte of the export is written back as it was, so Canvas
  sees the layout it produced. Students are matched by SIS Login ID or e-mail, whichever the
  template holds, to the student ids of the grades (the folder names of SUBMITTED).

Nothing is dropped silently: a Canvas student with no grade gets an empty cell, and a graded
student whom Canvas does not list is named in the summary (stderr and OUT/canvas-summary.txt).
"""

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.report.outputs import csv_text

CANVAS_FIXED_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MATCH_COLUMNS = ("sis login id", "email", "e-mail", "email address")  # compared case-insensitively
ASSIGNMENT_COLUMN = re.compile(
    r"^(?P<name>.*\S)\s+\((?P<id>\d+)\)$"
)  # "05-multi-head-attention (12345)"


def points(value: float) -> str:
    """A score as a plain decimal: 12, 12.5, 3.3333 (never 1e+01)."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


# ------------------------------------------------------------------------------------------------
# The grades, from OUT/grades.csv


@dataclass
class Grades:
    assignments: list[str]  # course order
    scores: dict[str, dict[str, float]]  # student -> assignment -> points
    max_scores: dict[str, float] = field(default_factory=dict)

    @property
    def students(self) -> list[str]:
        return sorted(self.scores)


def read_grades(path: Path, known: list[str]) -> Grades:
    """OUT/grades.csv (one row per student and assignment) for the course's assignments."""
    scores, max_scores = {}, {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            student, assignment = row.get("student_id") or "", row.get("assignment") or ""
            if not student or assignment not in known:
                continue  # an unknown assignment folder: grades.csv already names it
            scores.setdefault(student, {})
            if row.get("status") == "missing":
                continue  # not handed in: an empty cell, not a grade of 0
            scores[student][assignment] = float(row.get("score") or 0)
            if row.get("max_score"):
                max_scores[assignment] = float(row["max_score"])
    present = {assignment for by_student in scores.values() for assignment in by_student}
    return Grades([a for a in known if a in present], scores, max_scores)


def grades_wide_csv(grades: Grades) -> str:
    rows = []
    for student in grades.students:
        own = grades.scores[student]
        rows.append(
            {
                "student_id": student,
                "total": points(sum(own.values())),
                **{assignment: points(own[assignment]) for assignment in own},
            }
        )
    return csv_text(["student_id", *grades.assignments, "total"], rows)


# ------------------------------------------------------------------------------------------------
# Canvas: a CSV read field by field, so that every untouched field keeps its bytes


@dataclass
class Record:
    fields: list[str]  # each field's raw text, quotes included
    end: str  # the line ending that followed it ("\r\n", "\n" or "" at the end of the file)

    def value(self, index: int) -> str:
        return unquote(self.fields[index]) if index < len(self.fields) else ""


def split_records(text: str) -> list[Record]:
    """RFC 4180 records with their raw fields; a quoted field may hold commas and line breaks."""
    records, fields, position, size = [], [], 0, len(text)
    while position < size:
        if text[position] == '"':
            end = position + 1
            while True:
                end = text.find('"', end)
                if end < 0:
                    raise ValueError("a quoted field is never closed")
                if text.startswith('""', end):
                    end += 2
                    continue
                end += 1
                break
        else:
            match = re.compile(r"[,\r\n]").search(text, position)
            end = match.start() if match else size
        fields.append(text[position:end])
        if end < size and text[end] == ",":
            position = end + 1
            if position == size:
                fields.append("")
            continue
        line_end = "\r\n" if text.startswith("\r\n", end) else text[end : end + 1]
        records.append(Record(fields, line_end))
        fields, position = [], end + len(line_end)
    return records


def unquote(raw: str) -> str:
    return (
        raw[1:-1].replace('""', '"')
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2
        else raw
    )


def quote(value: str) -> str:
    return f'"{value.replace(chr(34), chr(34) * 2)}"' if re.search(r'[",\r\n]', value) else value


@dataclass
class CanvasResult:
    text: str  # canvas-import.csv
    filled: dict[str, str]  # our assignment -> the Canvas column it filled
    matched: list[str]  # graded students found in Canvas
    no_grade: list[str]  # Canvas students (as Canvas names them) with no grade: empty cells
    not_in_canvas: list[str]  # graded students whom Canvas does not list
    missing_columns: list[str]  # our assignments with no column in the template
    warnings: list[str]

    def summary(self) -> str:
        lines = [
            f"canvas-import.csv: {len(self.matched)} students matched, "
            f"{len(self.filled)} assignment columns filled "
            f"({', '.join(f'{a} -> {c!r}' for a, c in self.filled.items()) or 'none'})."
        ]
        if self.not_in_canvas:
            lines.append(
                f"{len(self.not_in_canvas)} graded students are not in the Canvas export "
                "(no row for them; their grades are in grades-wide.csv): "
                f"{', '.join(self.not_in_canvas)}"
            )
        if self.no_grade:
            lines.append(
                f"{len(self.no_grade)} Canvas students have no grade here (their cells are "
                f"left empty): {', '.join(self.no_grade)}"
            )
        if self.missing_columns:
            lines.append(
                f"no Canvas column for {', '.join(self.missing_columns)}: create the assignment "
                "in Canvas (named exactly as the assignment id), export again and re-run"
            )
        return "\n".join(lines + self.warnings) + "\n"


def canvas_import(template: str, grades: Grades) -> CanvasResult:
    """Fill the template's columns named after the course's assignments with the grades."""
    bom = "\ufeff" if template.startswith("\ufeff") else ""
    records = split_records(template[len(bom) :])
    if not records:
        raise ValueError("the Canvas export is empty")
    header = [unquote(raw).strip() for raw in records[0].fields]
    lowered = [name.lower() for name in header]
    keys = [index for index, name in enumerate(lowered) if name in MATCH_COLUMNS]
    if not keys:
        raise ValueError(
            "the Canvas export has no SIS Login ID or Email column to match students by"
        )
    columns, warnings = {}, []
    for index, name in enumerate(header):
        match = ASSIGNMENT_COLUMN.match(name)
        title = match.group("name") if match else name
        for assignment in grades.assignments:
            if title.lower() == assignment.lower():
                columns[assignment] = index
    by_key = {student.strip().lower(): student for student in grades.students}
    matched, no_grade, seen = [], [], set()
    for record in records[1:]:
        if not any(unquote(raw).strip() for raw in record.fields):
            continue  # a blank line
        first = record.value(0).strip()
        if first.lower().startswith("points possible"):
            warnings += _points_possible_warnings(record, columns, grades)
            continue
        if first == "Student, Test" or not (first or any(record.value(i).strip() for i in keys)):
            continue  # Canvas's test student, or a row of column settings ("Manual Posting")
        student = next(
            (
                by_key[record.value(i).strip().lower()]
                for i in keys
                if record.value(i).strip().lower() in by_key
            ),
            None,
        )
        while len(record.fields) <= max(columns.values(), default=-1):
            record.fields.append("")
        if student is None:
            no_grade.append(first or record.value(keys[0]))
        else:
            matched.append(student)
            seen.add(student)
        for assignment, index in columns.items():
            score = grades.scores.get(student, {}).get(assignment) if student else None
            record.fields[index] = "" if score is None else quote(points(score))
    text = bom + "".join(",".join(record.fields) + record.end for record in records)
    return CanvasResult(
        text,
        {a: header[i] for a, i in columns.items()},
        matched,
        no_grade,
        [student for student in grades.students if student not in seen],
        [a for a in grades.assignments if a not in columns],
        warnings,
    )


def _points_possible_warnings(record: Record, columns: dict, grades: Grades) -> list[str]:
    warnings = []
    for assignment, index in columns.items():
        possible, ours = record.value(index).strip(), grades.max_scores.get(assignment)
        try:
            differs = ours is not None and possible and abs(float(possible) - ours) > 1e-9
        except ValueError:
            differs = False
        if differs:
            warnings.append(
                f"warning: Canvas has {assignment} out of {possible} points, the grader "
                f"out of {points(ours)}; the grader's points are written"
            )
    return warnings
