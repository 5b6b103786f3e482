"""One notebook must never break a class (issue 16, findings 1, 5 and 7) and the instructor's
outputs say what happened (issue 11): text and names from outside reach every file safely,
only the assignments asked for are graded, a missing notebook never zeroes a recorded score,
no CSV cell is a formula, and grades.csv's messages are whole.

The pieces are tested on hand-made results; one small class is graded for real, as the current
user (the hostile suite beside this file needs root to switch to `nobody`)."""

import csv
import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import hostile_class
import pytest

from autograder import REPO_ROOT, command_argv, course
from autograder.__main__ import main as command_line
from autograder.course import nbgrader_runs, notebook_format
from autograder.grade import command as grading
from autograder.grade.messages import MESSAGE_LIMIT, safe_text, summary
from autograder.grade.notebook import _summarise
from autograder.grade.results import NotebookResult, Status, TestCellResult
from autograder.report.gradebook import write_gradebook
from autograder.report.outputs import NBGRADER_EXPORT, grades_csv, write_reports

pytestmark = pytest.mark.slow

ASSIGNMENT = hostile_class.ASSIGNMENT
EARLIER = "01-word-embeddings"
FORMULAS = [
    '=HYPERLINK("http:"&CHAR(47)&CHAR(47)&"example.org","x")',
    "+1",
    "-2+3",
    "@SUM(A1)",
    "\tx",
    "\rx",
]


def result(student, assignment, status="graded", passed=True, message="", **changes):
    """A result as the grader returns it, for `assignment`'s real test cells."""
    points = notebook_format.graded_tests(
        course.read_notebook(course.solution_notebook(assignment))
    )
    tests = tuple(
        TestCellResult(
            grade_id, value, value if passed else 0.0, passed, "passed" if passed else message
        )
        for grade_id, value in points.items()
    )
    row = NotebookResult(
        student,
        assignment,
        Status(status),
        "",
        max_score=sum(points.values()),
        score=sum(test.score for test in tests),
        tests=tests,
    )
    row = replace(row, **changes)
    return row if row.message else replace(row, message=summary(row))


def read_csv(path: Path) -> list:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def exported_scores(out: Path, assignment: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        return {
            student.id: gradebook.find_submission(assignment, student.id).score
            for student in gradebook.students
            if any(s.assignment.name == assignment for s in student.submissions)
        }


# ------------------------------------------------------------------------------------------------
# Finding 1: strings from the sandbox and the file system


def test_writers_cope_with_a_lone_surrogate(tmp_path):
    """Does a learner's error message holding "\\ud800" reach every file without a crash?"""
    bad = result(
        "surrogate",
        ASSIGNMENT,
        passed=False,
        message="ValueError: \ud800",
        cell_errors={"cell 3": "ValueError: \ud800"},
    )
    write_reports([bad], tmp_path, course.assignments())
    assert "ValueError: \\ud800" in (tmp_path / "grades.csv").read_text(encoding="utf-8")
    assert (
        "\\ud800"
        in (tmp_path / "feedback" / "surrogate" / ASSIGNMENT / f"{ASSIGNMENT}.txt").read_text()
    )
    assert safe_text("a\ud800b\udcff") == "a\\ud800b\\udcff"


def test_collect_turns_unusable_folder_names_into_error_rows(tmp_path):
    """Is a folder whose name is not UTF-8 or holds a newline refused with a row, and the rest
    kept?"""
    submitted = tmp_path / "submitted"
    for student in ["honest", "line\nbreak", FORMULAS[0]]:
        (submitted / student / ASSIGNMENT).mkdir(parents=True)
    os.mkdir(os.fsencode(submitted) + b"/stu\xfe")
    os.mkdir(os.fsencode(submitted / "honest") + b"/\xff")
    (submitted / "honest" / "tab\there").mkdir()
    tasks, rows = grading.collect(submitted, course.assignments())
    assert sorted(task[0] for task in tasks) == sorted(["honest", FORMULAS[0]])
    errors = {(row.student, row.assignment): row.message for row in rows}
    assert set(errors) == {
        ("stu\\xfe", ""),
        ("line\\nbreak", ""),
        ("honest", "\\xff"),
        ("honest", "tab\\there"),
    }
    assert "not valid UTF-8" in errors["stu\\xfe", ""] and "control" in errors["line\\nbreak", ""]
    assert all(row.status == "error" for row in rows)


def test_collect_reports_a_folder_it_cannot_read(tmp_path, monkeypatch):
    """Does a folder that cannot be listed (mode 000, for a grader that is not root) become a
    row?"""
    submitted = tmp_path / "submitted"
    for student in ["locked", "shut", "open"]:
        (submitted / student / ASSIGNMENT).mkdir(parents=True)
    listing, globbing = Path.iterdir, Path.glob

    def denied(original, blocked):
        def method(path, *args):
            if path == blocked:
                raise PermissionError(13, "Permission denied", str(path))
            return original(path, *args)

        return method

    monkeypatch.setattr(Path, "iterdir", denied(listing, submitted / "locked"))
    monkeypatch.setattr(Path, "glob", denied(globbing, submitted / "shut" / ASSIGNMENT))
    tasks, rows = grading.collect(submitted, course.assignments(), [ASSIGNMENT])
    assert [(task[0], task[1]) for task in tasks] == [("open", ASSIGNMENT)]
    assert [(row.student, row.assignment, row.message) for row in rows] == [
        ("locked", "", "cannot read the student folder: Permission denied"),
        ("shut", ASSIGNMENT, f"cannot read {ASSIGNMENT}/: Permission denied"),
    ]


# ------------------------------------------------------------------------------------------------
# Finding 5: only the assignments asked for; a recorded score is never replaced by a zero


def test_collect_grades_only_the_assignments_named(tmp_path):
    """Does one student's empty folder of another assignment add rows only when nobody named any?"""
    submitted = tmp_path / "submitted"
    for student in ["ada", "bob"]:
        (submitted / student / ASSIGNMENT).mkdir(parents=True)
    (submitted / "bob" / EARLIER).mkdir()
    named, _ = grading.collect(submitted, course.assignments(), [ASSIGNMENT])
    assert sorted((task[0], task[1]) for task in named) == [
        ("ada", ASSIGNMENT),
        ("bob", ASSIGNMENT),
    ]
    present, rows = grading.collect(submitted, course.assignments())
    assert sorted((task[0], task[1], task[2] is None) for task in present) == [
        ("ada", EARLIER, True),
        ("ada", ASSIGNMENT, True),
        ("bob", EARLIER, True),
        ("bob", ASSIGNMENT, True),
    ]
    assert rows == []


def test_unknown_assignment_is_a_refusal(tmp_path, capsys):
    (tmp_path / "submitted").mkdir()
    arguments = [
        str(tmp_path / "submitted"),
        "--out",
        str(tmp_path / "out"),
        "--assignment",
        "99-nothing",
    ]
    assert command_line(["grade", *arguments]) == grading.REFUSAL
    assert "unknown assignment 99-nothing" in capsys.readouterr().err


def test_missing_or_broken_work_never_replaces_a_recorded_score(tmp_path):
    """Do earlier scores survive a re-run in which the notebook is missing or cannot be graded?"""
    known = course.assignments()
    write_gradebook(
        [result("ada", EARLIER), result("bob", EARLIER)], tmp_path / "gradebook.db", known
    )
    earlier = exported_scores(tmp_path, EARLIER)
    assert earlier["ada"] > 0 and earlier == {"ada": earlier["ada"], "bob": earlier["ada"]}
    again = [
        result("ada", EARLIER, "missing", passed=False, message="missing notebook"),
        result("bob", EARLIER, "error", passed=False, message="the notebook is not valid JSON"),
        result("cy", EARLIER, "missing", passed=False, message="missing notebook"),
    ]
    write_gradebook(again, tmp_path / "gradebook.db", known)
    assert exported_scores(tmp_path, EARLIER) == earlier  # cy has no submission: export counts 0


# ------------------------------------------------------------------------------------------------
# Finding 7: CSV formula injection


def test_no_csv_cell_starts_like_a_formula():
    rows = [
        result(student, ASSIGNMENT, "error", passed=False, message=f"{student} broke")
        for student in FORMULAS
    ]
    rows.append(replace(rows[0], student="plain", assignment="=2+5+cmd|'", message="=1+1"))
    cells = [cell for row in csv.reader(grades_csv(rows).splitlines(keepends=True)) for cell in row]
    assert not [cell for cell in cells if cell.startswith(tuple("=+-@\t\r"))]
    assert "'" + FORMULAS[0] in cells and "'=2+5+cmd|'" in cells and "plain" in cells


# ------------------------------------------------------------------------------------------------
# Issue 11: the instructor's outputs


def test_grades_message_is_whole_or_says_how_much_is_left_out():
    """Is each failure's message in grades.csv whole, and a shortened one cut between words?"""
    sentence = "got 5.0280 (looks like the weights of head 1) where 4.9917 was expected"
    message = " ".join([sentence] * 3)
    many = _summarise(
        result("ada", ASSIGNMENT, passed=False, message=message)
    )  # as the grader writes it
    failures = len(many.tests)
    assert len(many.message) <= MESSAGE_LIMIT, many.message
    assert many.message.count(message) == failures, many.message
    huge = _summarise(
        result("bob", ASSIGNMENT, passed=False, message=" ".join([sentence] * 80))
    ).message
    assert len(huge) <= MESSAGE_LIMIT and huge.endswith(f"… and {failures - 1} more"), huge[-200:]
    cut = huge.split(" | ")[1]
    assert cut.endswith(" …") and sentence.startswith(cut[:-2].rsplit(sentence, 1)[-1].strip()), (
        cut[-100:]
    )


def test_score_plot_draws_graded_notebooks_only(tmp_path, monkeypatch):
    """Are missing and ungradable notebooks counted beside the plot, not drawn as zeros?"""
    import autograder.report.outputs

    drawn = []

    def capture(*arguments):
        drawn.append(arguments)
        return b""

    monkeypatch.setattr(autograder.report.outputs, "score_plot", capture)
    rows = [
        result("ada", ASSIGNMENT),
        result("bob", ASSIGNMENT, "missing", passed=False),
        result("cy", ASSIGNMENT, "missing", passed=False),
        result("dee", ASSIGNMENT, "error", passed=False),
    ]
    write_reports(rows, tmp_path, course.assignments())
    assert drawn == [
        (
            ASSIGNMENT,
            [float(hostile_class.MAX_SCORE)],
            float(hostile_class.MAX_SCORE),
            {"missing (not handed in)": 2, "could not be graded": 1},
        )
    ]
    feedback = (tmp_path / "feedback" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.txt").read_text()
    assert "No notebook was handed in" in feedback


def test_nbgrader_export_inside_out_keeps_grades_csv_and_neutralises_formulas(tmp_path):
    """Does `python -m autograder nbgrader export`, run in OUT, leave grades.csv alone, and write
    ids holding a formula, a comma and quotes as one safe cell each?"""
    out = tmp_path / "out"
    results = [
        result("ada", ASSIGNMENT),
        result(FORMULAS[0], ASSIGNMENT, passed=False, message="x"),
    ]
    write_reports(results, out, course.assignments())
    before = (out / "grades.csv").read_bytes()
    environment = dict(nbgrader_runs.nbgrader_environment(), PYTHONPATH=str(REPO_ROOT))
    run = subprocess.run(
        command_argv("nbgrader", "export"),
        cwd=out,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "grades.csv").read_bytes() == before
    exported = {row["student_id"]: float(row["score"]) for row in read_csv(out / NBGRADER_EXPORT)}
    assert exported == {"ada": float(hostile_class.MAX_SCORE), "'" + FORMULAS[0]: 0.0}
    nbgrader_runs.run_nbgrader(
        ["export", f"--to={tmp_path / 'chosen.csv'}"], out
    )  # from elsewhere: --to still wins
    assert read_csv(tmp_path / "chosen.csv") == read_csv(out / NBGRADER_EXPORT)


def test_help_texts_are_whole_sentences():
    for command in ["demo", "grade"]:
        text = subprocess.run(
            command_argv(command, "--help"),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
            check=True,
        ).stdout
        description = text.split("\n\n")[1].replace("\n", " ").strip()
        assert description.endswith("."), description
    assert "Exit status: 0" in text


def test_readme_lists_every_output_and_describes_the_demo():
    readme = (REPO_ROOT / "README.md").read_text()
    for output in [
        "grades.csv",
        "results.json",
        "feedback/",
        "plots/",
        "autograded/",
        "gradebook.db",
        ".grading.lock",
        "nbgrader_config.py",
        "missing",
    ]:
        assert f"`{output}" in readme or output in readme, output
    assert "one notebook that is not valid JSON" not in readme
    assert "not-json" in readme


# ------------------------------------------------------------------------------------------------
# A small class graded for real


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("boundaries")
    submitted, out = root / "submitted", root / "out"
    good = hostile_class.solution()
    class_ = {
        "honest": good,
        "surrogate": hostile_class.with_cell(
            good, "causal-mask", hostile_class.CAUSAL + "\nraise ValueError('\\ud800')"
        ),
        FORMULAS[0]: good,
    }
    hostile_class.write(class_, submitted)
    os.mkdir(os.fsencode(submitted) + b"/stu\xfe")
    os.mkdir(os.fsencode(submitted / "honest") + b"/\xff")
    (submitted / "honest" / "=2+5+cmd|'").mkdir()
    (submitted / "late" / EARLIER).mkdir(parents=True)  # an empty folder of an earlier assignment
    # Grades recorded by an earlier run into the same OUT.
    out.mkdir()
    write_gradebook(
        [result("honest", EARLIER), result("surrogate", EARLIER)],
        out / "gradebook.db",
        course.assignments(),
    )
    environment = dict(
        os.environ, MHA_GRADING_SECRET="boundaries-secret", PYTHONPATH=str(REPO_ROOT)
    )
    run = subprocess.run(
        command_argv(
            "grade", submitted, "--out", out, "--timeout", "10", "--workers", "2", "--no-progress"
        ),
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return {"run": run, "out": out}


def test_the_class_completes_and_everyone_else_is_graded(graded):
    run, out = graded["run"], graded["out"]
    assert run.returncode == grading.INCOMPLETE, run.stderr[-3000:]
    rows = {(row["student_id"], row["assignment"]): row for row in read_csv(out / "grades.csv")}
    for student in ["honest", "'" + FORMULAS[0]]:
        row = rows[student, ASSIGNMENT]
        assert (row["status"], float(row["score"])) == ("graded", hostile_class.MAX_SCORE)
    surrogate = rows["surrogate", ASSIGNMENT]
    assert surrogate["status"] == "graded" and "ValueError: \\ud800" in surrogate["message"]
    assert rows["stu\\xfe", ""]["status"] == rows["honest", "\\xff"]["status"] == "error"
    assert rows["honest", "'=2+5+cmd|'"]["status"] == "error"
    assert json.loads((out / "results.json").read_text())


def test_missing_work_is_its_own_status_and_keeps_earlier_scores(graded):
    run, out = graded["run"], graded["out"]
    rows = {(row["student_id"], row["assignment"]): row for row in read_csv(out / "grades.csv")}
    for student in ["honest", "surrogate", "late"]:
        assert rows[student, EARLIER]["status"] == "missing", rows[student, EARLIER]
    assert rows["late", ASSIGNMENT]["status"] == "missing"
    # 3 graded (04), 5 missing (01 of honest, surrogate, formula; 01 and 04 of late), 3 errors
    assert "3 graded, 5 missing (not handed in), 3 could not be graded (status error)" in run.stdout
    scores = exported_scores(out, EARLIER)
    assert scores["honest"] == scores["surrogate"] > 0 and "late" not in scores
