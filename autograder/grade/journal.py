"""OUT/.journal.jsonl: every result recorded the moment it arrives, so that a grading run that is
killed loses nothing it had graded, and the same command run again grades only what is missing.

The first line is a header saying what makes results comparable: a digest of the grading secret
(never the secret), a digest of the assignments' checks and solution notebooks, a digest of the
rest of the grader's own code (every file of the autograder package), and the limits a notebook
was graded under. A journal whose header differs is not reused (the command regrades everything
and says why): a fixed grader does not reuse the results of the broken one. A result that records
a fault of the grader rather than of the notebook (NotebookResult.retryable: a worker that crashed
twice, an internal error, a sandbox that could not start) is kept, but graded again by the next
run. Then one JSON line per notebook: its (student, assignment), the path
and SHA-256 of the notebook's bytes when it was graded, and the result. A later line for the same
(student, assignment) replaces an earlier one. Each line is written whole, flushed and fsynced
before the next result is taken; a torn last line (the process died while writing it) is ignored,
with a note, and cut off before anything is appended.
"""

import hashlib
import json
import os
from pathlib import Path

from autograder import REPO_ROOT, course
from autograder.grade.results import NotebookResult
from autograder.grade.submission_file import MAX_NOTEBOOK_BYTES, file_problem, open_submission

JOURNAL_NAME = ".journal.jsonl"
FORMAT = 1
PACKAGE = REPO_ROOT / "autograder"
CHECKS = PACKAGE / "checks"


def result_to_record(result: NotebookResult) -> dict:
    """A result as stored in the journal: the form results.json has."""
    return result.to_dict()


def result_from_record(record: dict) -> NotebookResult:
    """The result a journal line stores, as the grader returned it."""
    return NotebookResult.from_dict(record)


def file_digest(path: Path | None) -> str | None:
    """SHA-256 of a submitted notebook's bytes (None when nothing was handed in, or it cannot be
    read or must not be, as submission_file says: such a notebook is graded again, which reports
    why). Never more than the size limit is read."""
    if path is None:
        return None
    digest = hashlib.sha256()
    try:
        handle, status = open_submission(path)
        with handle:
            if file_problem(status):
                return None
            digest.update(handle.read(MAX_NOTEBOOK_BYTES + 1))
    except OSError:
        return None
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    """The files under `folder` that make up the code (not Python's compiled caches)."""
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]


def _digest(files: dict[str, Path]) -> str:
    """SHA-256 over {name: file}: each name and its file's bytes, in the names' order."""
    digest = hashlib.sha256()
    for name, path in sorted(files.items()):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def code_digests(package: Path = PACKAGE) -> dict:
    """{"checks_sha256": the assignments' checks (and known mistakes) and solution notebooks,
    "grader_sha256": every other file of the autograder package at `package`}."""
    checks = package / CHECKS.relative_to(PACKAGE)
    named = {str(path.relative_to(package.parent)): path for path in _files(package)}
    solutions = [course.solution_notebook(assignment) for assignment in course.assignments()]
    return {
        "checks_sha256": _digest(
            {name: path for name, path in named.items() if path.is_relative_to(checks)}
            | {str(path.relative_to(REPO_ROOT)): path for path in solutions}
        ),
        "grader_sha256": _digest(
            {name: path for name, path in named.items() if not path.is_relative_to(checks)}
        ),
    }


def comparable(secret: str, limits, budget: float) -> dict:
    """What two runs must share for one's results to stand for the other's."""
    return {
        # Salted so that the digest of a short secret is not found in a table of common ones.
        "secret_sha256": hashlib.sha256(b"mha-autograder journal\0" + secret.encode()).hexdigest(),
        **code_digests(),
        "limits": {
            "timeout": limits.timeout,
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_bytes,
            "budget": budget,
        },
    }


def _differences(recorded: dict, current: dict) -> list[str]:
    words = {
        "secret_sha256": "grading secret",
        "checks_sha256": "assignment checks",
        "grader_sha256": "grader code",
        "limits": "limits (--timeout, --memory, --cpu, --budget)",
    }
    return [
        words.get(key, key)
        for key in sorted(set(recorded) | set(current))
        if recorded.get(key) != current.get(key)
    ]


class Journal:
    """The journal of one OUT, opened by the (single) grading process that holds OUT's lock."""

    def __init__(self, out: Path, comparable: dict):
        self.path = out / JOURNAL_NAME
        self.comparable = comparable
        self.entries = {}  # (student, assignment) -> {"path", "sha256", "result"}
        self.notes = []  # what was found and not reused, for the instructor
        self.recorded = 0  # lines appended by this run
        self._handle = None
        self._keep = None  # bytes of the existing journal to append after (None: start a new one)

    def load(self) -> None:
        """Read what earlier runs recorded, if their header matches this run's."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        lines = data.split(b"\n")
        complete_bytes = len(data) - len(lines[-1])  # what ends in a newline
        if lines[-1]:
            self.notes.append(
                f"{self.path.name}: its last line was cut off (the grader was "
                "stopped while writing it) and is ignored"
            )
        try:
            header = json.loads(lines[0]) if complete_bytes else None
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("journal") != FORMAT:
            self.notes.append(
                f"{self.path.name} has no header this grader can read: regrading everything"
            )
            return
        differences = _differences(header.get("comparable") or {}, self.comparable)
        if differences:
            self.notes.append(
                f"{self.path.name} was written under other settings "
                f"({', '.join(differences)}): its results are not reused; "
                "regrading everything"
            )
            return
        unreadable = 0
        for line in lines[1:-1]:
            try:
                entry = json.loads(line)
                key = (entry["student"], entry["assignment"])
                self.entries[key] = {
                    "path": entry["path"],
                    "sha256": entry["sha256"],
                    "result": result_from_record(entry["result"]),
                }
            except (ValueError, KeyError, TypeError):
                unreadable += 1
        if unreadable:
            self.notes.append(f"{self.path.name}: {unreadable} unreadable lines ignored")
        faults = sum(entry["result"].retryable for entry in self.entries.values())
        if faults:
            self.notes.append(
                f"{self.path.name}: {faults} notebooks met a fault of the grader last time (a "
                "worker that crashed, an internal error, a sandbox that could not start): they "
                "are graded again"
            )
        self._keep = complete_bytes  # appended to after its last complete line

    def recorded_result(self, student: str, assignment: str, path: Path | None, sha256: str | None):
        """The recorded result for this submission, or None when it must be graded (never
        graded, a fault of the grader's, or the notebook's path or bytes changed since)."""
        entry = self.entries.get((student, assignment))
        path_text = None if path is None else str(path)
        if entry is None or entry["path"] != path_text or entry["sha256"] != sha256:
            return None
        if entry["result"].retryable:
            return None
        if path is not None and sha256 is None:  # unreadable now: grading says why
            return None
        return entry["result"]

    def open(self) -> None:
        """Start appending: after what load() kept, or as a fresh journal with this header."""
        if self._keep is None:
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            with open(temporary, "wb") as handle:
                header = {"journal": FORMAT, "comparable": self.comparable}
                handle.write(json.dumps(header, sort_keys=True).encode() + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            self.entries = {}
            self._keep = self.path.stat().st_size
        self._handle = open(self.path, "r+b")
        self._handle.truncate(self._keep)  # drops a torn last line
        self._handle.seek(self._keep)

    def start_fresh(self) -> None:
        """Forget what was recorded (--regrade): open() then writes a new journal."""
        self.entries, self._keep = {}, None

    def record(
        self, student: str, assignment: str, path: Path | None, sha256: str | None, result: dict
    ) -> dict:
        """Append one result, durably, before the next is taken; return it as a later run will
        read it back, so that a resumed run and an uninterrupted one write the same files."""
        line = json.dumps(
            {
                "student": student,
                "assignment": assignment,
                "path": None if path is None else str(path),
                "sha256": sha256,
                "result": result_to_record(result),
            },
            sort_keys=True,
            default=str,
        )
        # The caller holds Ctrl-C back meanwhile (grade/interrupts.py), so that a line written
        # is a line counted.
        self._handle.write(line.encode() + b"\n")  # ASCII: json.dumps escapes the rest
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.recorded += 1
        return result_from_record(json.loads(line)["result"])

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
