"""Finding the submissions: one grading task per (student, assignment), a ready-made error row
for whatever cannot be graded (a folder name that cannot be an id, an unknown assignment, a
symbolic link, a notebook over the size limit or with several names...), and when each notebook
was handed in."""

import datetime
import os
import stat
from pathlib import Path

from autograder import course
from autograder.grade.messages import name_problem, shown_name
from autograder.grade.results import NotebookResult, Submitted, Task, not_graded
from autograder.grade.submission_file import file_problem
from autograder.report.gradebook import student_id_problem

# nbgrader's, beside the notebook, one line: "2015-02-02 14:58:23.948203 America/Los_Angeles"
TIMESTAMP_FILE = "timestamp.txt"
MAX_TIMESTAMP_BYTES = 256


def collect(
    submitted: Path, known: list[str], assignments: list[str] | None = None
) -> tuple[list[Task], list[NotebookResult]]:
    """(tasks, rows): a Task per notebook to grade, and
    ready-made error rows for what cannot be graded (a folder name that cannot be an id, an unknown
    assignment folder...).

    Only `assignments` are graded (default: every course assignment that has a folder in some
    student's folder); a student without a folder for one of them gets a task with no path, which
    the grader reports as missing. Folders of other assignments are left alone when the instructor
    names the assignments, and reported otherwise.
    """
    students = {}  # student id -> {folder name: folder}
    tasks, rows = [], []
    for student_dir in sorted(submitted.iterdir()):
        link = student_dir.is_symlink()
        if student_dir.name.startswith(".") or not (link or student_dir.is_dir()):
            continue  # hidden, or a loose file
        student = shown_name(student_dir.name)
        if link:
            message = (
                f"the student folder {student!r} is a symbolic link, which is not followed: "
                "nothing in it was graded"
            )
            rows.append(not_graded(student, "", message))
            continue
        problem = name_problem(student_dir.name) or student_id_problem(student)
        if problem:
            message = (
                f"the student folder {student!r} cannot be used as a student id "
                f"({problem}): rename it; nothing in it was graded"
            )
            rows.append(not_graded(student, "", message))
            continue
        try:
            students[student] = {
                folder.name: folder
                for folder in sorted(student_dir.iterdir())
                if not folder.name.startswith(".")
            }
        except OSError as error:
            message = f"cannot read the student folder: {error.strerror}"
            rows.append(not_graded(student, "", message))
    present = {name for folders in students.values() for name in folders if name in known}
    chosen = sorted(present) if assignments is None else list(assignments)
    for student, folders in students.items():
        for name, folder in folders.items():
            if name in chosen or assignments is not None:
                continue  # graded below, or not asked for
            assignment, problem = shown_name(name), name_problem(name)
            if problem:
                message = f"the folder {assignment!r} cannot be an assignment id ({problem})"
            elif folder.is_symlink() or not folder.is_dir():
                message = f"{assignment} is not a folder (symbolic links are not followed)"
            else:
                message = f"unknown assignment {assignment!r}: this course has {', '.join(known)}"
            rows.append(not_graded(student, assignment, message))
        for assignment in chosen:
            folder = folders.get(assignment)
            if folder is None:
                missing = f"not submitted: no folder {assignment}/"
                tasks.append(Task(student, assignment, None, [missing]))
            elif folder.is_symlink() or not folder.is_dir():
                message = f"{assignment} is not a folder (symbolic links are not followed)"
                rows.append(not_graded(student, assignment, message))
            else:
                try:
                    task = _notebook_task(student, assignment, folder)
                except OSError as error:
                    message = f"cannot read {assignment}/: {error.strerror}"
                    task = not_graded(student, assignment, message)
                (tasks if isinstance(task, Task) else rows).append(task)
    return tasks, rows


def _notebook_task(student: str, assignment: str, folder: Path) -> Task | NotebookResult:
    """The task grading `folder`'s notebook, or an error row when it holds several and none is
    named as expected, or when the notebook must not be read (submission_file.file_problem)."""
    expected = folder / course.notebook_name(assignment)
    notebooks = sorted(
        path for path in folder.glob("*.ipynb") if not path.is_symlink() and path.is_file()
    )
    # A link is refused (O_NOFOLLOW), with a message.
    if expected in notebooks or expected.is_symlink():
        return _checked(Task(student, assignment, expected, []))
    if len(notebooks) == 1:
        renamed = f"the notebook is named {notebooks[0].name}, not {expected.name}"
        return _checked(Task(student, assignment, notebooks[0], [renamed]))
    if notebooks:
        names = ", ".join(path.name for path in notebooks)
        message = f"several notebooks and none named {expected.name}: {names}"
        return not_graded(student, assignment, message)
    missing = f"missing notebook: expected {assignment}/{expected.name}"
    return Task(student, assignment, None, [missing])


def _checked(task: Task) -> Task | NotebookResult:
    """`task`, or an error row when its notebook is not to be read, from its metadata alone."""
    problem = file_problem(task.path.lstat())
    if problem is None:
        return task
    return not_graded(task.student, task.assignment, f"{task.path.name}: {problem}")


def utc_text(when: datetime.datetime) -> str:
    """A naive UTC time as nbgrader writes timestamp.txt, and reads it back exactly."""
    return f"{when:%Y-%m-%d %H:%M:%S.%f} UTC"


def _timestamp_file(folder: Path) -> tuple[datetime.datetime | None, str]:
    """The time in `folder`'s timestamp.txt (UTC, naive, as nbgrader's parse_utc gives it), or
    None and why there is none. A link, a FIFO or a large file is not read."""
    from nbgrader.utils import parse_utc

    try:
        descriptor = os.open(folder / TIMESTAMP_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, "there is no timestamp.txt"
    except OSError as error:
        return None, f"timestamp.txt cannot be read ({error.strerror})"
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None, "timestamp.txt is not a file"
        data = handle.read(MAX_TIMESTAMP_BYTES + 1)
    text = data.decode("utf-8", "replace").strip()
    try:
        if not text or len(data) > MAX_TIMESTAMP_BYTES:
            raise ValueError(text)
        when = parse_utc(text)
        if not isinstance(when, datetime.datetime):
            raise ValueError(text)
        return when, ""
    except (ValueError, OverflowError, TypeError, LookupError):
        return None, f"timestamp.txt holds no time nbgrader reads ({shown_name(text[:60])!r})"


def submission_time(notebook: Path) -> Submitted | None:
    """When `notebook` was handed in: the timestamp.txt in its folder, which nbgrader's collect
    and zip_collect write, else the notebook file's modification time (the source says so, and
    the row's notes then name it). None when neither can be read."""
    when, problem = _timestamp_file(notebook.parent)
    if when is not None:
        return Submitted(utc_text(when), TIMESTAMP_FILE)
    try:
        modified = os.stat(notebook, follow_symlinks=False).st_mtime
    except OSError:
        return None
    when = datetime.datetime.fromtimestamp(modified, datetime.UTC).replace(tzinfo=None)
    return Submitted(utc_text(when), f"the notebook file's time, as {problem}")
