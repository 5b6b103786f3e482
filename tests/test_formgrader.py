"""formgrader on the demo class's OUT, as an instructor opens it: a real Jupyter server with
nbgrader's formgrader extension, started in a copy of OUT moved to another folder (OUT names no
path outside itself), read through formgrader's own HTTP API and one page in headless Chromium.

Every assignment is listed, every submission with the score of grades.csv (and the notebook that
could not be graded as submitted but not autograded), and the written answer of exercise 6 is
graded through the API: nbgrader export then counts it, and the grading command run again takes
it into grades.csv.
"""

import csv
import os
import shutil
import subprocess

import pytest
from browsers import Seen, chromium, server_page
from conftest import DEMO_CLASS_OPTIONS, DEMO_CLASS_SECRET, nbgrader_in
from servers import JupyterServer

from autograder import REPO_ROOT, command_argv, course
from autograder.course import notebook_format

pytestmark = pytest.mark.slow

WRITTEN_ASSIGNMENT, WRITTEN = "06-why-multi-head", "why-two-heads"


def read_csv(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def course_root(graded_demo_class, tmp_path_factory):
    """The demo class's OUT, copied to another folder: the copy is what formgrader opens."""
    moved = tmp_path_factory.mktemp("moved") / "grades"
    shutil.copytree(graded_demo_class.out, moved)
    return moved


@pytest.fixture(scope="module")
def formgrader(course_root):
    with JupyterServer(course_root) as server:
        yield server


def test_out_names_no_path_outside_itself(graded_demo_class, course_root):
    """Does OUT/nbgrader_config.py hold no path of the grading run (the course, the old OUT)?"""
    config = (course_root / "nbgrader_config.py").read_text()
    assert str(graded_demo_class.out) not in config and str(REPO_ROOT) not in config


def test_formgrader_lists_every_assignment(formgrader, graded_demo_class):
    """Does formgrader list each assignment, with the notebooks handed in and its points?"""
    listed = {item["name"]: item for item in formgrader.get("formgrader/api/assignments")}
    assert sorted(listed) == course.assignments()
    solutions = {a: course.read_notebook(course.solution_notebook(a)) for a in listed}
    for assignment, item in listed.items():
        handed_in = {
            s for s, notebooks in graded_demo_class.students.items() if assignment in notebooks
        }
        assert item["num_submissions"] == len(handed_in), assignment
        points = notebook_format.graded_tests(solutions[assignment])
        written = notebook_format.manually_graded(solutions[assignment])
        assert item["max_score"] == sum(points.values()) + sum(written.values()), assignment
        assert item["source_path"] == f"source/{assignment}"


def test_every_submission_with_its_score(formgrader, course_root):
    """Is every graded row of grades.csv an autograded submission in formgrader with the same
    score, a row that could not be graded a submission that is not autograded, and a notebook
    not handed in no submission at all?"""
    rows = read_csv(course_root / "grades.csv")
    assert any(row["status"] == "missing" for row in rows), "the class misses no notebook"
    for assignment in course.assignments():
        listed = {
            item["student"]: item
            for item in formgrader.get(f"formgrader/api/submissions/{assignment}")
        }
        mine = [
            row for row in rows if row["assignment"] == assignment and row["status"] != "missing"
        ]
        assert sorted(listed) == sorted(row["student_id"] for row in mine)
        for row in mine:
            item = listed[row["student_id"]]
            assert item["submitted"], row
            if row["status"] == "graded":
                assert item["autograded"], row
                assert (item["score"], item["max_score"]) == (
                    float(row["score"]),
                    float(row["max_score"]),
                ), row
            else:
                assert not item["autograded"], row
        notebooks = formgrader.get(f"formgrader/api/submitted_notebooks/{assignment}/{assignment}")
        graded = {row["student_id"] for row in mine if row["status"] == "graded"}
        assert {item["student"] for item in notebooks} == graded


def test_a_written_answer_is_graded_through_formgrader(formgrader, graded_demo_class, course_root):
    """Is the solution's written answer waiting for a grader; does a score entered through
    formgrader's API count in formgrader, in nbgrader export, and in grades.csv once the grading
    command runs again (and stay resolved)?"""
    assignment = WRITTEN_ASSIGNMENT
    notebooks = formgrader.get(f"formgrader/api/submitted_notebooks/{assignment}/{assignment}")
    full = next(item for item in notebooks if item["student"] == "full-marks")
    untouched = next(item for item in notebooks if item["student"] == "untouched")
    assert full["needs_manual_grade"] and not untouched["needs_manual_grade"]

    def written_grade(notebook_id):
        grades = formgrader.get(f"formgrader/api/grades?submission_id={notebook_id}")
        return next(grade for grade in grades if grade["name"] == WRITTEN)

    grade = written_grade(full["id"])
    assert (grade["auto_score"], grade["needs_manual_grade"], grade["max_score"]) == (None, True, 2)
    assert written_grade(untouched["id"])["auto_score"] == 0
    comments = formgrader.get(f"formgrader/api/comments?submission_id={untouched['id']}")
    assert {c["name"]: c["auto_comment"] for c in comments}[WRITTEN] == "No response."

    auto = float(
        next(
            row["score"]
            for row in read_csv(course_root / "grades.csv")
            if (row["student_id"], row["assignment"]) == ("full-marks", assignment)
        )
    )
    status, saved = formgrader.request(
        "PUT", f"formgrader/api/grade/{grade['id']}", {"manual_score": 1.5, "extra_credit": None}
    )
    assert status == 200 and saved["manual_score"] == 1.5 and not saved["needs_manual_grade"]
    submission = formgrader.get(f"formgrader/api/submission/{assignment}/full-marks")
    assert submission["score"] == auto + 1.5 and not submission["needs_manual_grade"]

    nbgrader_in(course_root, "export")
    exported = {
        (row["student_id"], row["assignment"]): row
        for row in read_csv(course_root / "nbgrader-grades.csv")
    }
    assert float(exported["full-marks", assignment]["score"]) == auto + 1.5
    # as formgrader's Generate Feedback runs it (force: our own page is there already)
    nbgrader_in(course_root, "generate_feedback", assignment, "--student=full-marks", "--force")
    page = (course_root / "feedback" / "full-marks" / assignment / f"{assignment}.html").read_text()
    assert "1.5" in page and "BEGIN HIDDEN TESTS" not in page and "hidden_check" not in page

    again = subprocess.run(
        command_argv(
            "grade",
            graded_demo_class.submitted,
            "--out",
            course_root,
            *DEMO_CLASS_OPTIONS,
            "--no-progress",
        ),
        cwd=REPO_ROOT,
        env=dict(os.environ, MHA_GRADING_SECRET=DEMO_CLASS_SECRET),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert "grading 0 of" in again.stderr and "no cluster started" in again.stderr, again.stderr
    row = next(
        row
        for row in read_csv(course_root / "grades.csv")
        if (row["student_id"], row["assignment"]) == ("full-marks", assignment)
    )
    assert float(row["score"]) == auto + 1.5 and "await a grader" not in row["message"]
    assert written_grade(full["id"])["needs_manual_grade"] is False


@pytest.mark.browser
def test_formgrader_page_shows_the_assignments(formgrader, tmp_path):
    """Does formgrader's Manage Assignments page, in Chromium, show a row per assignment, with
    no error and nothing fetched from another host?"""
    seen = Seen()
    with chromium() as browser:
        context, page = server_page(browser, formgrader, seen)
        try:
            page.goto(formgrader.url + "formgrader/manage_assignments", wait_until="load")
            page.wait_for_function(
                "count => document.querySelectorAll('td.name').length >= count",
                arg=len(course.assignments()),
            )
            rows = page.evaluate(
                """() => [...document.querySelectorAll('table.table tr')].map(row =>
                    [...row.querySelectorAll('th, td')].map(cell => cell.innerText.trim()))"""
            )
            page.screenshot(path=str(tmp_path / "manage-assignments.png"), full_page=True)
        finally:
            context.close()
    listed = [row for row in rows if row and row[0] in course.assignments()]
    assert [row[0] for row in listed] == course.assignments(), rows
    (tmp_path / "manage-assignments.txt").write_text(
        "\n".join(" | ".join(cell for cell in row if cell) for row in rows) + "\n"
    )
    assert not seen.errors, seen.errors
