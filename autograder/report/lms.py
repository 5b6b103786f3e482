"""Grades for the learning platform: OUT/grades-wide.csv for any LMS, and a Canvas import file.

- ``grades-wide.csv``: one row per student, one column per assignment (points), and the total;
  an assignment not handed in (status ``missing``) is an empty cell, not 0, and so is one that
  could not be graded (status ``error``), whose student's total is left empty too: a total that
  leaves out an assignment nobody could grade would look complete.
- ``canvas-import.csv``: the gradebook CSV that Canvas exports (columns Student, ID, SIS User ID,
  SIS Login ID, Section, then one column per assignment titled ``<name> (<canvas id>)``, a
  ``Points Possible`` row under the header), with the course's assignment columns filled in.
  Only those cells change, and only where this grader has a grade: every other byte of the
  export is written back as it was, so Canvas sees the layout it produced and no grade it holds
  is cleared. Students are matched by SIS Login ID or e-mail, whichever the template holds, to
  the student ids of the grades (the folder names of SUBMITTED), exactly: an id that differs
  from Canvas's only in case or surrounding spaces, or that would match two rows (or a row that
  would match two ids), is refused and named.

Nothing happens silently: OUT/canvas-summary.txt (and stdout) names every graded student Canvas
does not list, every Canvas student with no grade here, every match refused, every notebook that
could not be graded (with the reason), and every grade Canvas holds that the import changes.
"""

import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.report.outputs import counted, csv_text, spreadsheet_value

CANVAS_FIXED_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MATCH_COLUMNS = ("sis login id", "email", "e-mail", "email address")  # header names, any case
ASSIGNMENT_COLUMN = re.compile(
    r"^(?P<name>.*\S)\s+\((?P<id>\d+)\)$"
)  # "05-multi-head-attention (12345)"
REASON_CHARACTERS = 300  # of grades.csv's message, in canvas-summary.txt
SOURCE_LINE = "Made from grades.csv with SHA-256 "  # canvas-summary.txt's last line


def points(value: float) -> str:
    """A score as a plain decimal: 12, 12.5, 3.3333 (never 1e+01)."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------
# The grades, from OUT/grades.csv


@dataclass
class Grades:
    assignments: list[str]  # course order
    scores: dict[str, dict[str, float]]  # student -> assignment -> points
    max_scores: dict[str, float] = field(default_factory=dict)
    ungradable: dict[str, dict[str, str]] = field(default_factory=dict)  # student -> assignment
    # -> why it could not be graded (grades.csv's status error)

    @property
    def students(self) -> list[str]:
        return sorted(set(self.scores) | set(self.ungradable))

    def ungradable_rows(self) -> list[tuple[str, str, str]]:
        return [
            (student, assignment, why)
            for student in sorted(self.ungradable)
            for assignment, why in sorted(self.ungradable[student].items())
        ]


def _reason(message: str) -> str:
    first = " ".join(message.split())
    return first if len(first) <= REASON_CHARACTERS else first[: REASON_CHARACTERS - 1] + "…"


def read_grades(path: Path, known: list[str]) -> Grades:
    """OUT/grades.csv (one row per student and assignment) for the course's assignments, each
    cell read back as grades.csv's writer made it (spreadsheet_value)."""
    scores, max_scores, ungradable = {}, {}, {}
    with open(path, newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            row = {key: spreadsheet_value(value or "") for key, value in raw.items() if key}
            student, assignment = row.get("student_id", ""), row.get("assignment", "")
            if not student or assignment not in known:
                continue  # an unknown assignment folder: grades.csv already names it
            scores.setdefault(student, {})
            if row.get("max_score"):
                max_scores[assignment] = float(row["max_score"])
            if row.get("status") == "missing":
                continue  # not handed in: an empty cell, not a grade of 0
            if row.get("status") == "error":  # no grade: an empty cell, and the reason named
                ungradable.setdefault(student, {})[assignment] = _reason(row.get("message", ""))
                continue
            scores[student][assignment] = float(row.get("score") or 0)
    present = {assignment for by_student in scores.values() for assignment in by_student}
    present |= {assignment for by_student in ungradable.values() for assignment in by_student}
    return Grades([a for a in known if a in present], scores, max_scores, ungradable)


def grades_wide_csv(grades: Grades) -> str:
    rows = []
    for student in grades.students:
        own = grades.scores.get(student, {})
        complete = not grades.ungradable.get(student)
        rows.append(
            {
                "student_id": student,
                "total": points(sum(own.values())) if complete else "",
                **{assignment: points(own[assignment]) for assignment in own},
            }
        )
    return csv_text(["student_id", *grades.assignments, "total"], rows)


def ungradable_lines(grades: Grades) -> list[str]:
    """Each notebook that could not be graded, with the reason (for the summaries)."""
    rows = grades.ungradable_rows()
    if not rows:
        return []
    return [
        f"{counted(len(rows), 'notebook')} could not be graded: their cells in grades-wide.csv "
        "and canvas-import.csv are empty, not 0, and so is the student's total in grades-wide.csv "
        "(fix the notebook or grade it by hand, then grade again):"
    ] + [f"  {student} / {assignment}: {why}" for student, assignment, why in rows]


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
    no_grade: list[str]  # Canvas students (as Canvas names them) not matched: cells kept
    not_in_canvas: list[str]  # graded students whom Canvas does not list
    missing_columns: list[str]  # our assignments with no column in the template
    warnings: list[str]
    refused: list[str] = field(default_factory=list)  # fuzzy or ambiguous matches, explained
    changed: list[str] = field(default_factory=list)  # grades Canvas holds that the import changes
    kept: list[str] = field(default_factory=list)  # Canvas grades kept where we have none
    ungradable: list[str] = field(default_factory=list)  # ungradable_lines of the grades
    source_sha256: str = ""  # of the grades.csv this was made from

    def summary(self) -> str:
        lines = [
            f"canvas-import.csv: {counted(len(self.matched), 'student')} matched, "
            f"{counted(len(self.filled), 'assignment column')} filled "
            f"({', '.join(f'{a} -> {c!r}' for a, c in self.filled.items()) or 'none'})."
        ]
        lines += self.ungradable
        sections = [
            (
                self.refused,
                f"{counted(len(self.refused), 'match', 'matches')} refused: ids are matched "
                "exactly (rename the student's folder to the id Canvas shows, or fix Canvas, and "
                "run again):",
            ),
            (
                self.changed,
                f"{counted(len(self.changed), 'grade')} that Canvas holds would change with this "
                "import (check before you upload):",
            ),
            (
                self.kept,
                f"{counted(len(self.kept), 'grade')} that Canvas holds and this grader has none "
                "for, left as in Canvas:",
            ),
        ]
        for items, title in sections:
            if items:
                lines += [title] + [f"  {item}" for item in items]
        if self.not_in_canvas:
            lines.append(
                f"{counted(len(self.not_in_canvas), 'graded student')} not in the Canvas export "
                "(no row for them; their grades are in grades-wide.csv): "
                f"{', '.join(self.not_in_canvas)}"
            )
        if self.no_grade:
            lines.append(
                f"{counted(len(self.no_grade), 'Canvas student')} with no grade here (their "
                f"cells are left as Canvas has them): {', '.join(self.no_grade)}"
            )
        if self.missing_columns:
            lines.append(
                f"no Canvas column for {', '.join(self.missing_columns)}: create the assignment "
                "in Canvas (named exactly as the assignment id), export again and re-run"
            )
        lines += self.warnings
        if self.source_sha256:
            lines.append(f"{SOURCE_LINE}{self.source_sha256}.")
        return "\n".join(lines) + "\n"


def _fold(value: str) -> str:
    return value.strip().casefold()


def _same_number(a: str, b: str) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-9
    except ValueError:
        return a == b


def canvas_import(template: str, grades: Grades) -> CanvasResult:
    """Fill the template's columns named after the course's assignments with the grades."""
    bom = "\ufeff" if template.startswith("\ufeff") else ""
    records = split_records(template[len(bom) :])
    if not records:
        raise ValueError("the Canvas export is empty")
    header = [unquote(raw).strip() for raw in records[0].fields]
    keys = [index for index, name in enumerate(header) if name.lower() in MATCH_COLUMNS]
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
    students = set(grades.students)
    rows = []  # (record, Canvas's name for the row, the ids it matches exactly)
    for record in records[1:]:
        if not any(unquote(raw).strip() for raw in record.fields):
            continue  # a blank line
        first = record.value(0).strip()
        if first.lower().startswith("points possible"):
            warnings += _points_possible_warnings(record, columns, grades)
            continue
        if first == "Student, Test" or not (first or any(record.value(i).strip() for i in keys)):
            continue  # Canvas's test student, or a row of column settings ("Manual Posting")
        found = {record.value(i) for i in keys} & students
        rows.append((record, first or record.value(keys[0]), found))
    matched_rows = {}  # id -> the rows that match it exactly
    for record, name, found in rows:
        for student in found:
            matched_rows.setdefault(student, []).append(name)
    refused, result = [], CanvasResult("", {}, [], [], [], [], warnings)
    for record, name, found in rows:
        student = next(iter(found)) if len(found) == 1 else None
        if len(found) > 1:
            ids = ", ".join(repr(student) for student in sorted(found))
            refused.append(f"Canvas row {name!r} matches {len(found)} ids: {ids}")
        elif student is not None and len(matched_rows[student]) > 1:
            why = f"{student!r} matches {len(matched_rows[student])} Canvas rows: " + ", ".join(
                repr(row) for row in matched_rows[student]
            )
            refused += [] if why in refused else [why]  # said once, not once a row
            student = None
        while len(record.fields) <= max(columns.values(), default=-1):
            record.fields.append("")
        if student is None:
            result.no_grade.append(name)
        else:
            result.matched.append(student)
        for assignment, index in columns.items():
            _fill(result, record, index, name, student, assignment, grades)
    matched = set(result.matched)
    for student in grades.students:
        if student in matched:
            continue
        near = sorted(
            {
                record.value(i)
                for record, _, _ in rows
                for i in keys
                if record.value(i) != student and _fold(record.value(i)) == _fold(student)
            }
        )
        if near:
            refused.append(
                f"{student!r} is not {', '.join(repr(value) for value in near)} in Canvas: they "
                "differ only in case or surrounding spaces"
            )
        elif student not in matched_rows:  # (one that matched two rows is refused above)
            result.not_in_canvas.append(student)
    result.text = bom + "".join(",".join(record.fields) + record.end for record in records)
    result.filled = {a: header[i] for a, i in columns.items()}
    result.missing_columns = [a for a in grades.assignments if a not in columns]
    result.refused = refused
    result.ungradable = ungradable_lines(grades)
    return result


def _fill(result, record, index, name, student, assignment, grades) -> None:
    """Write one cell: the grade if there is one; otherwise Canvas's value is kept (an import
    never clears a grade), and an ungradable notebook's cell is left empty."""
    held = record.value(index).strip()
    score = grades.scores.get(student, {}).get(assignment) if student else None
    if score is not None:
        new = points(score)
        if held and not _same_number(held, new):
            result.changed.append(f"{name} ({student}) / {assignment}: {held} -> {new}")
        record.fields[index] = quote(new)
    elif held:
        why = (
            "could not be graded"
            if student and assignment in grades.ungradable.get(student, {})
            else "no grade here"
        )
        result.kept.append(f"{name} / {assignment}: {held} ({why})")


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
