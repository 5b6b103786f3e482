"""Typed results of grading, as Otter-Grader has TestCaseResult and GradingResults: what one test
cell earned, and what became of one student's notebook for one assignment.

A result crosses process boundaries (the workers' pipes, a journal file) and is written to
results.json as ``to_dict()``; ``from_dict()`` reads one back.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

# What one notebook's result records, whatever the notebook holds: the first MAX_LISTED cell
# errors, events and notes, then how many more, each text at most MAX_TEXT characters, so that OUT
# and the client's memory stay small for any notebook under the size limit (10,000 cells that
# each raised a 500-character error wrote 21 MB under OUT).
MAX_LISTED = 20
MAX_TEXT = 500


def clipped(text: str, limit: int = MAX_TEXT) -> str:
    """`text`, cut to `limit` characters (ending "…") if it is longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bounded(texts, what: str) -> tuple[str, ...]:
    """The first MAX_LISTED of `texts`, each clipped, then "… and N more `what`" for the rest."""
    texts = list(texts)
    kept = tuple(clipped(text) for text in texts[:MAX_LISTED])
    more = len(texts) - len(kept)
    return kept + (
        (f"… and {more} more {what} (the first {MAX_LISTED} are listed)",) if more else ()
    )


class Status(StrEnum):
    """What became of a notebook. A StrEnum: it is written, in grades.csv and results.json, as
    its value."""

    GRADED = "graded"  # its test cells ran (a score of 0 is still graded)
    MISSING = "missing"  # not handed in
    ERROR = "error"  # handed in, but it could not be graded: the message says why


class Task(NamedTuple):
    """One notebook to grade: `path` is None when it was not handed in; `notes` say how the
    submission was found (a notebook under another name...)."""

    student: str
    assignment: str
    path: Path | None
    notes: list


@dataclass(frozen=True)
class TestCellResult:
    """One test cell of a notebook: its points, the points earned, and why it failed."""

    __test__ = False  # a result, not a pytest test class

    grade_id: str
    points: float
    score: float = 0.0
    passed: bool = False
    message: str = ""
    mistakes: tuple[str, ...] = ()  # the known mistakes that the failed answers look like

    def to_dict(self) -> dict:
        return {
            "grade_id": self.grade_id,
            "points": self.points,
            "score": self.score,
            "passed": self.passed,
            "message": self.message,
            "mistakes": list(self.mistakes),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "TestCellResult":
        return cls(
            grade_id=data["grade_id"],
            points=data["points"],
            score=data["score"],
            passed=data["passed"],
            message=data["message"],
            mistakes=tuple(data["mistakes"]),
        )


@dataclass(frozen=True)
class NotebookResult:
    """One student's notebook for one assignment. `max_score` is None when the assignment is
    unknown (a folder that is no assignment of this course); `notebook` is the file that was
    read, None when none was."""

    student: str
    assignment: str
    status: Status
    message: str
    max_score: float | None = None
    score: float = 0.0
    notebook: str | None = None
    tests: tuple[TestCellResult, ...] = ()
    notes: tuple[str, ...] = ()  # how the submission differs from the course's notebook
    events: tuple[str, ...] = ()  # what stopped the learner's code (a crash, a time-out)
    cell_errors: dict = field(default_factory=dict)  # the learner's cell label -> its error
    # A fault of the grading infrastructure, not of the notebook (a worker that crashed twice, an
    # internal error, a sandbox that could not start): the journal has the next run grade it again.
    retryable: bool = False

    def to_dict(self) -> dict:
        data = {
            "student": self.student,
            "assignment": self.assignment,
            "score": self.score,
            "max_score": self.max_score,
            "status": self.status.value,
            "message": self.message,
            "tests": [test.to_dict() for test in self.tests],
            "notes": list(self.notes),
            "events": list(self.events),
            "cell_errors": dict(self.cell_errors),
            "retryable": self.retryable,
        }
        if self.notebook is not None or self.status is not Status.ERROR:
            # results.json has no "notebook" for a row whose notebook was never opened (an error
            # found before reading it), as before the results were typed.
            data["notebook"] = self.notebook
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "NotebookResult":
        return cls(
            student=data["student"],
            assignment=data["assignment"],
            status=Status(data["status"]),
            message=data["message"],
            max_score=data["max_score"],
            score=data["score"],
            notebook=data.get("notebook"),
            tests=tuple(TestCellResult.from_dict(test) for test in data["tests"]),
            notes=tuple(data["notes"]),
            events=tuple(data["events"]),
            cell_errors=dict(data["cell_errors"]),
            retryable=data.get("retryable", False),
        )


def not_graded(student: str, assignment: str, message: str) -> NotebookResult:
    """The result of a notebook that could not be graded at all (a folder name that cannot be an
    id, an unreadable folder...): status error, no test cells."""
    return NotebookResult(student, assignment, Status.ERROR, message)


RETRIED = "a fault of the grader, not of the notebook: the next run grades it again"


def grader_fault(student: str, assignment: str, message: str) -> NotebookResult:
    """The result of a notebook that the grading infrastructure failed (a worker that crashed, an
    internal error): status error, retryable, and the message says so."""
    return NotebookResult(
        student, assignment, Status.ERROR, f"{message} ({RETRIED})", retryable=True
    )
