"""Typed results of grading, as Otter-Grader has TestCaseResult and GradingResults: what one test
cell earned, and what became of one student's notebook for one assignment.

A result crosses process boundaries (the workers' pipes, a journal file) and is written to
results.json as ``to_dict()``; ``from_dict()`` reads one back. Fields added since the journal's
first format are optional in ``from_dict()``, so a journal written before them is still read.

A worker fills in what grading found (test cells, the written answers' state, what the learner's
cells printed); the grading command adds what only the course's gradebook knows (when the notebook
was handed in, the late penalty, the scores a grader gave written answers) with ``replace``.
"""

from array import array
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
    submission was found (a notebook under another name...); `fingerprint`: the worker also takes
    the similarity report's fingerprints of it (a large class: see fingerprinted_on_workers)."""

    student: str
    assignment: str
    path: Path | None
    notes: list
    fingerprint: bool = False


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
class CellOutput:
    """What one of the learner's cells printed when the grader ran it in the sandbox: text only,
    in the order written, as ("stdout" | "stderr", text) pieces, cut at the caps of
    autograder/grade/learner_session.py; `omitted` counts the characters left out."""

    label: str  # the cell's label in the plan: its nbgrader id, else "cell N" (cell_plan.py)
    streams: tuple[tuple[str, str], ...] = ()
    omitted: int = 0

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "streams": [list(piece) for piece in self.streams],
            "omitted": self.omitted,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "CellOutput":
        return cls(
            label=data["label"],
            streams=tuple((name, text) for name, text in data["streams"]),
            omitted=data["omitted"],
        )


@dataclass(frozen=True)
class WrittenAnswer:
    """A manually graded answer cell (nbgrader's grade + solution): a person gives its points.
    `answered` is False when the learner left the release's text as it was, which nbgrader scores
    0 with the comment "No response."; `score` is the grader's score from the gradebook, None while
    it awaits grading (and 0.0 when unanswered)."""

    grade_id: str
    points: float
    answered: bool
    score: float | None = None

    def to_dict(self) -> dict:
        return {
            "grade_id": self.grade_id,
            "points": self.points,
            "answered": self.answered,
            "score": self.score,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "WrittenAnswer":
        return cls(data["grade_id"], data["points"], data["answered"], data["score"])


@dataclass(frozen=True)
class Submitted:
    """When a notebook was handed in, and what that cost: `timestamp` is UTC, written as nbgrader
    writes timestamp.txt ("2026-12-01 17:05:00.000000 UTC"); `source` says where it was read
    ("timestamp.txt", or "file time" when there was none); `late_penalty` is what the course's
    late-submission policy took off (nbgrader's LateSubmissionPlugin), against the due date
    recorded in the gradebook, if any."""

    timestamp: str
    source: str
    duedate: str | None = None
    seconds_late: float = 0.0
    late_penalty: float = 0.0

    def to_dict(self) -> dict:
        return {
            "timestamp": self.timestamp,
            "source": self.source,
            "duedate": self.duedate,
            "seconds_late": self.seconds_late,
            "late_penalty": self.late_penalty,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Submitted":
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class CodeFingerprints:
    """The similarity report's fingerprints of one notebook's code (read_code in
    autograder/report/similarity.py), taken on the worker that graded it so that the client need
    not read and normalise every notebook again. Valid for the file of this size and time, and the
    release notebook of this digest; the report reads any other notebook itself."""

    size: int
    mtime_ns: int
    release_digest: str
    hashes: array  # of 'Q': 64-bit fingerprints, sorted; 8 bytes each (a set of ints takes ~60)


@dataclass(frozen=True)
class NotebookResult:
    """One student's notebook for one assignment. `max_score` is None when the assignment is
    unknown (a folder that is no assignment of this course), else every point of the assignment,
    written answers included; `score` is the test cells' points plus the written answers' graded
    points, less any late penalty; `notebook` is the file that was read, None when none was."""

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
    cell_outputs: tuple[CellOutput, ...] = ()  # what the learner's cells printed, when run
    written: tuple[WrittenAnswer, ...] = ()  # the manually graded answers
    submitted: Submitted | None = None  # set by the grading command, from the submission's folder
    # For the similarity report, from the worker; not recorded (a result read back has none).
    fingerprints: CodeFingerprints | None = field(default=None, compare=False, repr=False)

    @property
    def awaiting(self) -> tuple[WrittenAnswer, ...]:
        """The written answers that still await a grader."""
        return tuple(answer for answer in self.written if answer.score is None)

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
            "cell_outputs": [output.to_dict() for output in self.cell_outputs],
            "written": [answer.to_dict() for answer in self.written],
            "submitted": None if self.submitted is None else self.submitted.to_dict(),
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
            # Optional: a journal written before these fields existed is still read.
            cell_outputs=tuple(CellOutput.from_dict(item) for item in data.get("cell_outputs", [])),
            written=tuple(WrittenAnswer.from_dict(item) for item in data.get("written", [])),
            submitted=(Submitted.from_dict(data["submitted"]) if data.get("submitted") else None),
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
