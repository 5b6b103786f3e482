"""Finding the submissions: one grading task per (student, assignment), and a ready-made error
row for whatever cannot be graded (a folder name that cannot be an id, an unknown assignment...)."""

from pathlib import Path

from autograder import course
from autograder.grade.messages import name_problem, shown_name



def collect(submitted: Path, known: list[str], assignments: list[str] | None = None):
    """(tasks, rows): a task (student, assignment, path or None, notes) per notebook to grade, and
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
        if student_dir.name.startswith(".") or student_dir.is_symlink() or not student_dir.is_dir():
            continue
        student, problem = shown_name(student_dir.name), name_problem(student_dir.name)
        if problem:
            rows.append(_row(student, "", None, "error", f"the student folder {student!r} cannot be used as "
                             f"a student id ({problem}): rename it; nothing in it was graded"))
            continue
        try:
            students[student] = {folder.name: folder for folder in sorted(student_dir.iterdir())
                                 if not folder.name.startswith(".")}
        except OSError as error:
            rows.append(_row(student, "", None, "error", f"cannot read the student folder: {error.strerror}"))
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
            rows.append(_row(student, assignment, None, "error", message))
        for assignment in chosen:
            folder = folders.get(assignment)
            if folder is None:
                tasks.append((student, assignment, None, [f"not submitted: no folder {assignment}/"]))
            elif folder.is_symlink() or not folder.is_dir():
                rows.append(_row(student, assignment, None, "error",
                                 f"{assignment} is not a folder (symbolic links are not followed)"))
            else:
                try:
                    task = _notebook_task(student, assignment, folder)
                except OSError as error:
                    message = f"cannot read {assignment}/: {error.strerror}"
                    task = _row(student, assignment, None, "error", message)
                (tasks if isinstance(task, tuple) else rows).append(task)
    return tasks, rows


def _notebook_task(student: str, assignment: str, folder: Path):
    """The task grading `folder`'s notebook, or an error row when it holds several and none is
    named as expected."""
    expected = folder / course.notebook_name(assignment)
    notebooks = sorted(path for path in folder.glob("*.ipynb") if not path.is_symlink() and path.is_file())
    if expected in notebooks or expected.is_symlink():  # a link is refused (O_NOFOLLOW), with a message
        return student, assignment, expected, []
    if len(notebooks) == 1:
        renamed = f"the notebook is named {notebooks[0].name}, not {expected.name}"
        return student, assignment, notebooks[0], [renamed]
    if notebooks:
        names = ", ".join(path.name for path in notebooks)
        message = f"several notebooks and none named {expected.name}: {names}"
        return _row(student, assignment, None, "error", message)
    return student, assignment, None, [f"missing notebook: expected {assignment}/{expected.name}"]


def _row(student, assignment, max_score, status, message):
    """A result for a notebook that was never graded: same keys as the grader's results."""
    return {"student": student, "assignment": assignment, "score": 0.0, "max_score": max_score,
            "status": status, "message": message, "tests": [], "notes": [], "events": [], "cell_errors": {}}
