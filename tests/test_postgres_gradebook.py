"""The gradebook on a real PostgreSQL server (issue 12): `--db-url postgresql://...` writes the
grades there, `nbgrader export --db URL` reads them back equal to grades.csv, two runs on disjoint
students at the same time both land completely, a re-run keeps a grader's manual score and adds
no rows, and results are committed in batches as they arrive.

The server is Debian's (`make postgresql`), started in a temporary folder by tests/servers.py, once
per worker process (the session fixture `postgresql_server`)."""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import REPO_ROOT, command_argv, course
from autograder.__main__ import main as command_line
from autograder.course.nbgrader_runs import nbgrader_environment
from autograder.grade import command as grading
from autograder.grade.results import NotebookResult, Status, TestCellResult
from autograder.report.gradebook import GradebookWriter

pytestmark = pytest.mark.slow  # grades classes with real processes and servers

ASSIGNMENT = "03-self-attention"
SECRET = "postgres-gradebook-secret"


@pytest.fixture(scope="module")
def demo_class(tmp_path_factory):
    submitted = tmp_path_factory.mktemp("demo") / "submitted"
    subprocess.run(
        command_argv("demo", submitted),
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    return submitted


def grade(submitted: Path, out: Path, db_url: str) -> subprocess.Popen:
    """The grading command, started in a process of its own."""
    environment = dict(os.environ, MHA_GRADING_SECRET=SECRET, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen(
        command_argv(
            "grade",
            submitted,
            "--out",
            out,
            "--assignment",
            ASSIGNMENT,
            "--db-url",
            db_url,
            "--workers",
            "1",
            "--timeout",
            "20",
            "--no-progress",
        ),
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(run: subprocess.Popen, with_not_json: bool = True) -> None:
    """The run ended as the demo class makes it end: graded, `not-json` (if there) in error."""
    stdout, stderr = run.communicate(timeout=900)
    assert run.returncode == (grading.INCOMPLETE if with_not_json else 0), stderr[-3000:]


def graded_scores(out: Path) -> dict:
    with open(out / "grades.csv", newline="") as handle:
        return {
            row["student_id"]: float(row["score"])
            for row in csv.DictReader(handle)
            if row["status"] == "graded"
        }


def exported(db_url: str, folder: Path) -> dict:
    """`nbgrader export --db URL`: every student's score, as nbgrader reads the database."""
    target = folder / "export.csv"
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", "export", f"--db={db_url}", f"--to={target}"],
        cwd=folder,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    with open(target, newline="") as handle:
        return {
            row["student_id"]: float(row["score"])
            for row in csv.DictReader(handle)
            if row["assignment"] == ASSIGNMENT
        }


def row_counts(db_url: str) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return {
                table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                for table in [
                    "assignment",
                    "notebook",
                    "grade_cells",
                    "source_cell",
                    "student",
                    "submitted_assignment",
                    "grade",
                ]
            }
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def graded_once(postgresql_server, demo_class, tmp_path_factory):
    url = postgresql_server.create_database("whole_class")
    out = tmp_path_factory.mktemp("whole") / "out"
    finished(grade(demo_class, out, url))
    return {"url": url, "out": out}


def test_export_from_postgresql_equals_grades_csv(graded_once, demo_class, tmp_path):
    url, out = graded_once["url"], graded_once["out"]
    scores = graded_scores(out)
    students = {path.name for path in demo_class.iterdir()}
    assert set(scores) == students - {"not-json"} and scores["full-marks"] > 0
    assert exported(url, tmp_path) == dict(scores, **{"not-json": 0.0})
    assert repr(url) in (out / "nbgrader_config.py").read_text()  # nbgrader run in OUT reads it
    assert not (out / "gradebook.db").exists()


def test_concurrent_runs_on_disjoint_students_both_land(postgresql_server, demo_class, tmp_path):
    """Two runs start together on an empty database (both create the schema and the assignment's
    cells), each with half the students: every score of both is in the database once."""
    url = postgresql_server.create_database("two_runs")
    students = sorted(path.name for path in demo_class.iterdir())
    halves = [tmp_path / "first", tmp_path / "second"]
    for index, half in enumerate(halves):
        half.mkdir()
        for student in students[index::2]:
            shutil.copytree(demo_class / student, half / student)
    runs = [grade(half, tmp_path / f"out-{half.name}", url) for half in halves]
    for run, half in zip(runs, halves):
        finished(run, (half / "not-json").exists())
    scores = {**graded_scores(tmp_path / "out-first"), **graded_scores(tmp_path / "out-second")}
    assert set(scores) == set(students) - {"not-json"}
    assert exported(url, tmp_path) == dict(scores, **{"not-json": 0.0})
    counts = row_counts(url)
    assert (
        counts["assignment"],
        counts["notebook"],
        counts["student"],
        counts["submitted_assignment"],
    ) == (1, 1, len(students), len(students) - 1)


def test_rerun_keeps_manual_score_and_adds_no_rows(graded_once, demo_class, tmp_path):
    """A grader enters a manual score in formgrader; the same class is graded again."""
    from nbgrader.api import Gradebook

    url = graded_once["url"]
    notebook = Path(course.notebook_name(ASSIGNMENT)).stem
    with Gradebook(url) as gradebook:  # what formgrader does on saving a manual score
        cell = gradebook.find_assignment(ASSIGNMENT).notebooks[0].grade_cells[0].name
        entered = gradebook.find_grade(cell, notebook, ASSIGNMENT, "full-marks")
        assert entered.auto_score > 0
        entered.manual_score = 0.0
        gradebook.db.commit()
        manual_id, auto_score = entered.id, entered.auto_score
    before = row_counts(url)
    finished(grade(demo_class, tmp_path / "out", url))
    assert row_counts(url) == before
    with Gradebook(url) as gradebook:
        kept = gradebook.find_grade(cell, notebook, ASSIGNMENT, "full-marks")
        assert (kept.id, kept.manual_score, kept.auto_score) == (manual_id, 0.0, auto_score)
        assert kept.needs_manual_grade  # flagged for the grader to review
    assert exported(url, tmp_path)["full-marks"] < graded_scores(tmp_path / "out")["full-marks"]


def result(student: str, score_each: float = 1.0) -> NotebookResult:
    """A graded result as the grader returns it, for ASSIGNMENT's real test cells."""
    from autograder.course import notebook_format

    solution = course.read_notebook(course.solution_notebook(ASSIGNMENT))
    points = notebook_format.graded_tests(solution)
    tests = tuple(
        TestCellResult(grade_id, value, min(score_each, value))
        for grade_id, value in points.items()
    )
    return NotebookResult(
        student,
        ASSIGNMENT,
        Status.GRADED,
        "graded",
        max_score=sum(points.values()),
        score=sum(test.score for test in tests),
        tests=tests,
    )


def test_writer_commits_each_batch_as_it_arrives(postgresql_server, tmp_path):
    """Another connection sees results after every `batch` of them, before the writer ends."""
    url = postgresql_server.create_database("batches")

    def submissions() -> int:
        return row_counts(url)["submitted_assignment"]

    with GradebookWriter(url, course.assignments(), batch=3) as writer:
        for index in range(3):
            writer.add(result(f"learner-{index}"))
        assert submissions() == 3
        for index in range(3, 5):
            writer.add(result(f"learner-{index}"))
        assert submissions() == 3  # the second batch is not full yet
    assert submissions() == 5
    assert exported(url, tmp_path) == {f"learner-{index}": result("x").score for index in range(5)}


def test_gradebook_patch_is_scoped_to_the_opening(postgresql_server):
    """nbgrader's get_alembic_version is replaced while a gradebook opens, not afterwards."""
    import nbgrader.api

    original = nbgrader.api.get_alembic_version
    with GradebookWriter(postgresql_server.create_database("scoped"), course.assignments()):
        assert nbgrader.api.get_alembic_version is original
    assert nbgrader.api.get_alembic_version is original


def test_unreachable_database_is_a_refusal(tmp_path, capsys, monkeypatch):
    (tmp_path / "submitted").mkdir()
    url = "postgresql://grader:hunter2@127.0.0.1:1/nowhere"
    arguments = [str(tmp_path / "submitted"), "--out", str(tmp_path / "out"), "--db-url", url]
    monkeypatch.setenv("MHA_GRADING_SECRET", SECRET)
    assert command_line(["grade", *arguments]) == grading.REFUSAL
    error = capsys.readouterr().err
    assert "cannot open the gradebook postgresql://grader:***@127.0.0.1:1/nowhere" in error
    assert "hunter2" not in error


# ------------------------------------------------------------------------------------------------
# Issue 22: a student id the gradebook cannot store

LONG_ID = "a-student-whose-folder-name-is-longer-than-nbgraders-column-" + "x" * 140  # 200


@pytest.fixture(scope="module")
def class_with_a_long_id(tmp_path_factory):
    """Two demo students and one whose folder name is longer than nbgrader's student id column
    (varchar(128), enforced by PostgreSQL only)."""
    from autograder.tools.demo import demo_class, write_class

    students = demo_class([ASSIGNMENT], broken=False)
    chosen = {"full-marks": students["full-marks"], "untouched": students["untouched"]}
    chosen[LONG_ID] = students["full-marks"]
    return write_class(chosen, tmp_path_factory.mktemp("long-id") / "submitted")


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_a_student_id_too_long_for_the_gradebook_is_an_error_row(
    database, postgresql_server, class_with_a_long_id, tmp_path
):
    """The long id gets an error row naming the limit; the others are graded and every report
    is written; a rerun into the same OUT ends the same way (it crashed on PostgreSQL, then
    crashed again replaying the journal)."""
    url = (
        postgresql_server.create_database(f"long_id_{database}")
        if database == "postgresql"
        else None
    )
    out = tmp_path / "out"
    for attempt in ("first", "rerun"):
        run = grade(class_with_a_long_id, out, url or f"sqlite:///{out / 'gradebook.db'}")
        stdout, stderr = run.communicate(timeout=900)
        assert run.returncode == grading.INCOMPLETE, (attempt, stderr[-3000:])
        with open(out / "grades.csv", newline="") as handle:
            rows = {row["student_id"]: row for row in csv.DictReader(handle)}
        assert set(rows) == {"full-marks", "untouched", LONG_ID}, attempt
        assert rows[LONG_ID]["status"] == "error"
        assert "200 characters long" in rows[LONG_ID]["message"]
        assert "at most 128 characters" in rows[LONG_ID]["message"]
        assert rows["full-marks"]["status"] == rows["untouched"]["status"] == "graded"
        assert float(rows["full-marks"]["score"]) > 0
        for report in ("results.json", "nbgrader_config.py", "feedback", "plots"):
            assert (out / report).exists(), (attempt, report)
    scores = exported(url or f"sqlite:///{out / 'gradebook.db'}", tmp_path)
    assert set(scores) == {"full-marks", "untouched"}


def test_a_result_the_database_refuses_is_set_aside_and_the_batch_lands(
    postgresql_server, tmp_path
):
    """A result whose student id PostgreSQL refuses, in the middle of a batch, costs only itself:
    the others are committed, and `refused` gives the database's reason."""
    url = postgresql_server.create_database("refused")
    too_long = "y" * 129
    with GradebookWriter(url, course.assignments(), batch=3) as writer:
        for student in ["learner-0", too_long, "learner-1", "learner-2"]:
            writer.add(result(student))
    assert list(writer.refused) == [(too_long, ASSIGNMENT)]
    assert "value too long" in writer.refused[too_long, ASSIGNMENT]
    assert "(128)" in writer.refused[too_long, ASSIGNMENT]
    score = result("x").score
    assert exported(url, tmp_path) == {f"learner-{index}": score for index in range(3)}


def test_the_test_server_moves_to_another_port_when_its_own_is_taken():
    """Its port was free when chosen; another process may bind it before the server does (a run
    of the suite met it: 'could not bind IPv4 address "127.0.0.1": Address already in use')."""
    import socket

    from servers import PostgreSQLServer
    from sqlalchemy import create_engine, text

    server = PostgreSQLServer()
    taken = server.port
    with socket.socket() as other:
        other.bind(("127.0.0.1", taken))
        other.listen()
        with server:
            assert server.port != taken
            engine = create_engine(server.create_database("moved"))
            try:
                with engine.connect() as connection:
                    assert connection.execute(text("SELECT 1")).scalar() == 1
            finally:
                engine.dispose()
