"""Late submissions cost what nbgrader's late-submission policy says, in grades.csv and in
`nbgrader export`: the time is the submission's timestamp.txt (or the notebook file's time, said
in the row), the due date is the one recorded in the gradebook with nbgrader's own `nbgrader db
assignment add --duedate`, and the policy is read from nbgrader's configuration as nbgrader reads
it: LateSubmissionPlugin's "zero", then an instructor's own plugin class. Moving the due date past
the submission takes the penalty away again (nbgrader's open bug #723 keeps it). A policy that
cannot be loaded stops the command before it grades.
"""

import calendar
import csv
import os
import subprocess

import nbformat
import pytest
from conftest import nbgrader_in

from autograder import REPO_ROOT, command_argv, course
from autograder.course import notebook_format
from autograder.tools.demo import demo_class

pytestmark = pytest.mark.slow

ASSIGNMENT = "03-self-attention"
SECRET = "late-submissions-secret"
DUE = "2026-12-01 09:00:00 UTC"
HANDED_IN = {  # student -> timestamp.txt (None: none, the file's time counts)
    "on-time": "2026-12-01 08:59:59.000000 UTC",
    "late": "2026-12-01 02:30:00.000000 America/Los_Angeles",  # 10:30 UTC: 1 h 30 min late
    "no-timestamp": None,
}
FILE_TIME = calendar.timegm((2026, 12, 1, 8, 30, 0))  # UTC: on time
CUSTOM_PLUGIN = '''
import math
from nbgrader.plugins import LateSubmissionPlugin

class PointPerStartedHour(LateSubmissionPlugin):
    """One point off for each hour or part of an hour late."""

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return math.ceil(total_seconds_late / 3600)

c.AssignLatePenalties.plugin_class = PointPerStartedHour
'''


def read_csv(path) -> dict:
    with open(path, newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def full_marks() -> float:
    solution = course.read_notebook(course.solution_notebook(ASSIGNMENT))
    return sum(notebook_format.graded_tests(solution).values())


@pytest.fixture(scope="module")
def late_class(tmp_path_factory):
    """Three students who hand in the same correct notebook at different times, graded once;
    returns (grade: a due date and a policy set, graded again from the journal and exported;
    run: the grading command alone; the first run's grades.csv and export, with no due date)."""
    root = tmp_path_factory.mktemp("late")
    notebook = demo_class([ASSIGNMENT], broken=False)["full-marks"][ASSIGNMENT]
    for student, stamp in HANDED_IN.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        path = folder / course.notebook_name(ASSIGNMENT)
        nbformat.write(notebook, path)
        os.utime(path, (FILE_TIME, FILE_TIME))
        if stamp is not None:
            (folder / "timestamp.txt").write_text(stamp + "\n")
    out = root / "out"

    def run(policy: str = "") -> subprocess.CompletedProcess:
        """The grading command, with `policy` as the instructor's nbgrader_config.py."""
        configuration = root / "configuration"
        configuration.mkdir(exist_ok=True)
        (configuration / "nbgrader_config.py").write_text("c = get_config()  # noqa\n" + policy)
        return subprocess.run(
            command_argv("grade", root / "submitted", "--out", out, "--no-progress"),
            cwd=REPO_ROOT,
            env=dict(os.environ, MHA_GRADING_SECRET=SECRET, JUPYTER_CONFIG_PATH=str(configuration)),
            capture_output=True,
            text=True,
            timeout=900,
        )

    def grade(duedate: str | None, policy: str = ""):
        """Record `duedate` in the gradebook as nbgrader does, grade again with `policy`, and
        export: (grades.csv, nbgrader's export), by student."""
        due = [f"--duedate={duedate}"] if duedate else []
        nbgrader_in(out, "db", "assignment", "add", ASSIGNMENT, *due)
        finished = run(policy)
        assert finished.returncode == 0, finished.stderr[-3000:]
        nbgrader_in(out, "export")
        return read_csv(out / "grades.csv"), read_csv(out / "nbgrader-grades.csv")

    first = run()  # no due date yet: OUT and its gradebook now exist
    assert first.returncode == 0, first.stderr[-3000:]
    nbgrader_in(out, "export")
    return grade, run, (read_csv(out / "grades.csv"), read_csv(out / "nbgrader-grades.csv"))


def scores(table: dict, column: str = "score") -> dict:
    return {student: float(row[column]) for student, row in table.items()}


ZERO = 'c.LateSubmissionPlugin.penalty_method = "zero"\n'


def test_no_penalty_without_a_due_date_and_the_file_time_is_said(late_class, full_marks):
    grades, exported = late_class[2]
    assert scores(grades) == scores(exported) == dict.fromkeys(HANDED_IN, full_marks)
    assert "late" not in grades["late"]["message"]
    assert (
        "submitted at 2026-12-01 08:30:00.000000 UTC: the notebook file's time, as there is no "
        "timestamp.txt" in grades["no-timestamp"]["message"]
    )
    assert exported["late"]["timestamp"].startswith("2026-12-01 10:30:00")


def test_zero_policy_takes_every_point_until_the_due_date_moves(late_class, full_marks):
    grade = late_class[0]
    grades, exported = grade(DUE, ZERO)
    expected = {"on-time": full_marks, "late": 0.0, "no-timestamp": full_marks}
    assert scores(grades) == scores(exported) == expected
    assert scores(exported, "late_submission_penalty")["late"] == full_marks
    assert scores(exported, "raw_score")["late"] == full_marks
    assert (
        f"handed in 1 h 30 min late (due {DUE}): late penalty {full_marks:g} points"
        in (grades["late"]["message"])
    )
    grades, exported = grade("2026-12-02 09:00:00 UTC", ZERO)
    assert scores(grades) == scores(exported) == dict.fromkeys(HANDED_IN, full_marks)
    assert scores(exported, "late_submission_penalty")["late"] == 0.0


def test_an_instructors_plugin_takes_what_it_says(late_class, full_marks):
    grade = late_class[0]
    grades, exported = grade(DUE, CUSTOM_PLUGIN)
    expected = {"on-time": full_marks, "late": full_marks - 2, "no-timestamp": full_marks}
    assert scores(grades) == scores(exported) == expected
    assert scores(exported, "late_submission_penalty")["late"] == 2.0


def test_a_policy_that_cannot_be_loaded_is_a_refusal(late_class):
    run = late_class[1]
    refused = run('c.AssignLatePenalties.plugin_class = "no_such_module.Plugin"\n')
    assert refused.returncode == 2
    assert "the late-submission policy in nbgrader's configuration cannot be loaded" in (
        refused.stderr
    )
