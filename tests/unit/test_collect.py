"""autograder/grade/collect.py: one task per (student, assignment), an error row for the rest."""

import os

import pytest

from autograder.grade.collect import collect
from autograder.grade.journal import file_digest
from autograder.grade.results import Task
from autograder.report.gradebook import STUDENT_ID_LENGTH

pytestmark = pytest.mark.unit

KNOWN = ["01-a", "02-b"]


def notebook(root, student, assignment, name=None):
    folder = root / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{assignment}.ipynb")
    path.write_text("{}")
    return path


def test_one_task_per_student_and_assignment(tmp_path):
    """Does every student get a task for every assignment that someone handed in?"""
    ada = notebook(tmp_path, "ada", "01-a")
    notebook(tmp_path, "bob", "01-a")
    notebook(tmp_path, "bob", "02-b")
    tasks, rows = collect(tmp_path, KNOWN)
    assert rows == []
    assert [task[:2] for task in tasks] == [
        ("ada", "01-a"),
        ("ada", "02-b"),
        ("bob", "01-a"),
        ("bob", "02-b"),
    ]
    assert tasks[0] == Task("ada", "01-a", ada, [])
    assert tasks[1] == Task("ada", "02-b", None, ["not submitted: no folder 02-b/"])


def test_named_assignments_only(tmp_path):
    """With --assignment, are other assignments' folders left alone, not reported?"""
    notebook(tmp_path, "ada", "01-a")
    notebook(tmp_path, "ada", "02-b")
    notebook(tmp_path, "ada", "99-unknown")
    tasks, rows = collect(tmp_path, KNOWN, ["02-b"])
    assert [task[:2] for task in tasks] == [("ada", "02-b")] and rows == []


def test_unknown_assignment_folder_is_an_error_row(tmp_path):
    """Without --assignment, is a folder that is no assignment of the course reported by name?"""
    notebook(tmp_path, "ada", "01-a")
    notebook(tmp_path, "ada", "99-unknown")
    tasks, rows = collect(tmp_path, KNOWN)
    assert [task[:2] for task in tasks] == [("ada", "01-a")]
    assert [(row.student, row.assignment, row.status) for row in rows] == [
        ("ada", "99-unknown", "error")
    ]
    assert "unknown assignment '99-unknown'" in rows[0].message


def test_a_student_folder_that_cannot_be_an_id(tmp_path):
    """Is a student folder with a control character in its name refused with a row, not graded?"""
    notebook(tmp_path, "ada", "01-a")
    notebook(tmp_path, "bad\nname", "01-a")
    tasks, rows = collect(tmp_path, KNOWN)
    assert [task[0] for task in tasks] == ["ada"]
    assert rows[0].student == "bad\\nname" and "rename it" in rows[0].message


def test_hidden_folders_are_skipped_and_a_linked_student_folder_is_an_error_row(tmp_path):
    """Are dot-folders ignored, and is a student folder that is a symbolic link (to another
    student's folder) not followed, with an error row that says so (issue 22: it got no row)?"""
    notebook(tmp_path, "ada", "01-a")
    notebook(tmp_path, ".ipynb_checkpoints", "01-a")
    os.symlink(tmp_path / "ada", tmp_path / "mallory")
    (tmp_path / "README.txt").write_text("a loose file: not a student")
    tasks, rows = collect(tmp_path, KNOWN)
    assert [task[0] for task in tasks] == ["ada"]
    assert [(row.student, row.assignment, row.status) for row in rows] == [("mallory", "", "error")]
    assert "symbolic link, which is not followed" in rows[0].message


def test_a_renamed_notebook_is_graded_with_a_note(tmp_path):
    """Is the one notebook of a folder graded even under another name, with a note saying so?"""
    path = notebook(tmp_path, "ada", "01-a", "Untitled.ipynb")
    tasks, _ = collect(tmp_path, KNOWN)
    assert tasks == [
        Task("ada", "01-a", path, ["the notebook is named Untitled.ipynb, not 01-a.ipynb"])
    ]


def test_several_notebooks_none_named_as_expected(tmp_path):
    """Are two notebooks with neither of the expected name an error row that names both?"""
    notebook(tmp_path, "ada", "01-a", "one.ipynb")
    notebook(tmp_path, "ada", "01-a", "two.ipynb")
    tasks, rows = collect(tmp_path, KNOWN)
    assert tasks == []
    assert rows[0].status == "error" and "one.ipynb, two.ipynb" in rows[0].message


def test_an_empty_assignment_folder_is_a_missing_notebook(tmp_path):
    """Does an empty assignment folder give a task with no path, for the grader to call missing?"""
    (tmp_path / "ada" / "01-a").mkdir(parents=True)
    tasks, rows = collect(tmp_path, KNOWN)
    assert tasks == [Task("ada", "01-a", None, ["missing notebook: expected 01-a/01-a.ipynb"])]


def test_a_student_id_longer_than_the_gradebooks_column_is_an_error_row(tmp_path):
    """A student folder name of 129 characters: an error row naming nbgrader's limit of 128,
    nothing graded; 128 characters are fine."""
    longest, too_long = "a" * 128, "b" * 129
    notebook(tmp_path, longest, "01-a")
    notebook(tmp_path, too_long, "01-a")
    tasks, rows = collect(tmp_path, KNOWN)
    assert [task.student for task in tasks] == [longest]
    assert [(row.student, row.assignment, row.status) for row in rows] == [(too_long, "", "error")]
    assert "129 characters long" in rows[0].message and "at most 128" in rows[0].message


def test_the_student_id_limit_is_nbgraders_column():
    """Is the limit collect applies the length of nbgrader's student.id column, which it holds as
    a constant so as not to import nbgrader?"""
    from nbgrader.api import Student

    assert Student.__table__.c.id.type.length == STUDENT_ID_LENGTH


def test_a_notebook_over_the_size_limit_is_refused_unread(tmp_path):
    """A sparse 8 GiB file named like the notebook: an error row from its size alone, at once."""
    path = notebook(tmp_path, "ada", "01-a")
    with open(path, "r+b") as handle:
        handle.truncate(8 << 30)  # sparse: no disk used
    tasks, rows = collect(tmp_path, KNOWN)
    assert tasks == []
    assert [(row.student, row.assignment) for row in rows] == [("ada", "01-a")]
    assert "8.0 GiB, larger than the limit of 20 MiB: it was not read" in rows[0].message
    # Nor is it hashed for the journal (it was, whole, before): its digest is refused unread.
    assert file_digest(path) is None


def test_a_notebook_with_several_names_is_refused(tmp_path):
    """A submitted notebook hard-linked from elsewhere (a solution, say): an error row."""
    path = notebook(tmp_path, "ada", "01-a")
    os.link(path, tmp_path / "solution.ipynb")
    tasks, rows = collect(tmp_path, KNOWN)
    assert tasks == []
    assert "has 2 names (hard links)" in rows[0].message and rows[0].assignment == "01-a"


def test_a_notebook_that_is_a_symbolic_link_is_refused(tmp_path):
    """A notebook that links to another student's: an error row, and the link is not followed."""
    other = notebook(tmp_path, "ada", "01-a")
    (tmp_path / "bob" / "01-a").mkdir(parents=True)
    os.symlink(other, tmp_path / "bob" / "01-a" / "01-a.ipynb")
    tasks, rows = collect(tmp_path, KNOWN)
    assert [task.student for task in tasks] == ["ada"]
    assert [(row.student, row.assignment) for row in rows] == [("bob", "01-a")]
    assert "is a symbolic link, which is not followed" in rows[0].message


def test_submission_time_is_read_from_timestamp_txt_in_utc(tmp_path):
    """Is nbgrader's timestamp.txt, with a zone name, read and written back in UTC?"""
    from autograder.grade.collect import submission_time

    path = notebook(tmp_path, "ada", "01-a")
    (path.parent / "timestamp.txt").write_text("2015-02-02 14:58:23.948203 America/Los_Angeles\n")
    assert submission_time(path).timestamp == "2015-02-02 22:58:23.948203 UTC"
    assert submission_time(path).source == "timestamp.txt"


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "there is no timestamp.txt"),
        ("next tuesday-ish", "timestamp.txt holds no time nbgrader reads ('next tuesday-ish')"),
        ("", "timestamp.txt holds no time nbgrader reads"),
    ],
)
def test_without_a_readable_timestamp_the_file_time_is_used_and_said(tmp_path, content, reason):
    """Without a timestamp.txt nbgrader reads, is the notebook's modification time taken, and
    the reason given?"""
    from autograder.grade.collect import submission_time

    path = notebook(tmp_path, "ada", "01-a")
    os.utime(path, (1_700_000_000, 1_700_000_000.25))
    if content is not None:
        (path.parent / "timestamp.txt").write_text(content)
    found = submission_time(path)
    assert found.timestamp == "2023-11-14 22:13:20.250000 UTC"
    assert found.source.startswith("the notebook file's time, as " + reason)


def test_a_linked_timestamp_is_not_followed(tmp_path):
    """Is a timestamp.txt that is a symbolic link left unread?"""
    from autograder.grade.collect import submission_time

    path = notebook(tmp_path, "ada", "01-a")
    (tmp_path / "elsewhere.txt").write_text("2015-02-02 14:58:23 UTC")
    (path.parent / "timestamp.txt").symlink_to(tmp_path / "elsewhere.txt")
    assert "cannot be read" in submission_time(path).source
