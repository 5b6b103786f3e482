"""``nbgrader export`` for this course: nbgrader's CSV of scores, written by the course's one CSV
writer (reports.csv_text), so that a student id can neither start a spreadsheet formula nor, with
a comma or a quote, shift the columns (nbgrader's own plugin joins the cells with bare commas).

The course's nbgrader_config.py and the nbgrader_config.py that the grading command writes in OUT
select it as ``ExportApp.plugin_class``.
"""

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin

from autograder.report.outputs import csv_text

COLUMNS = [
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
]


class SpreadsheetSafeCsvExport(CsvExportPlugin):
    """nbgrader's CsvExportPlugin, same columns and rows, every cell made safe for a spreadsheet."""

    def export(self, gradebook: Gradebook) -> None:
        destination = self.to or "grades.csv"
        students, assignments = (
            [str(item) for item in self.student],
            [str(item) for item in self.assignment],
        )
        self.log.info("Exporting grades to %s", destination)
        rows = []
        for assignment in gradebook.assignments:
            if assignments and assignment.name not in assignments:
                continue
            for student in gradebook.students:
                if students and student.id not in students:
                    continue
                row = {
                    "assignment": assignment.name,
                    "duedate": assignment.duedate,
                    "student_id": student.id,
                    "last_name": student.last_name,
                    "first_name": student.first_name,
                    "email": student.email,
                    "max_score": assignment.max_score,
                }
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                except MissingEntry:  # nothing handed in: nbgrader counts it as zero
                    row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0)
                else:
                    penalty = submission.late_submission_penalty
                    row.update(
                        timestamp=submission.timestamp,
                        raw_score=submission.score,
                        late_submission_penalty=penalty,
                        score=max(0.0, submission.score - penalty),
                    )
                rows.append({key: "" if value is None else value for key, value in row.items()})
        with open(
            destination, "w", encoding="utf-8", errors="backslashreplace", newline=""
        ) as handle:
            handle.write(csv_text(COLUMNS, rows))
