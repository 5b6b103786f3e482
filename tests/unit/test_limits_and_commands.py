"""The command table (autograder/__main__.py) and the one source of the sandbox's limits
(autograder/sandbox/host.py `Limits`)."""

import subprocess
import sys

import pytest

from autograder import REPO_ROOT
from autograder.__main__ import COMMANDS, parse, parser
from autograder.sandbox.host import Limits

pytestmark = pytest.mark.unit


def test_limits_defaults():
    """Are the defaults what the docs promise: 30 s a cell, 120 CPU seconds, 2 GiB of memory?"""
    limits = Limits()
    assert (limits.timeout, limits.cpu_seconds, limits.memory_bytes) == (30.0, 120, 2 << 30)


def test_grade_options_default_to_limits():
    """Do --timeout, --cpu and --memory read their defaults from Limits, and --memory take sizes?"""
    arguments = parser().parse_args(["grade", "submitted", "--out", "out"])
    assert (arguments.timeout, arguments.cpu, arguments.memory) == (
        Limits.timeout,
        Limits.cpu_seconds,
        Limits.memory_bytes,
    )
    assert parser().parse_args(["grade", "s", "--out", "o", "--memory", "512M"]).memory == 512 << 20


def test_the_table_has_the_course_commands():
    """Does the table hold exactly the documented subcommands?"""
    assert [command.name for command in COMMANDS] == [
        "grade",
        "report",
        "release",
        "sync-helpers",
        "nbgrader",
        "demo",
        "tls-certificates",
        "benchmark",
    ]


@pytest.mark.parametrize(
    "name", [command.name for command in COMMANDS if command.name != "nbgrader"]
)
def test_every_subcommand_has_help(name, capsys):
    """Does `python -m autograder NAME --help` exit 0 and describe the command?"""
    with pytest.raises(SystemExit) as exit:
        parser().parse_args([name, "--help"])
    assert exit.value.code == 0
    assert f"usage: python -m autograder {name}" in capsys.readouterr().out


@pytest.mark.slow  # starts nbgrader, which takes half a minute on a busy machine
def test_nbgrader_help_is_nbgraders_own():
    """Does `python -m autograder nbgrader --help` reach nbgrader itself, and exit 0?"""
    assert parse(["nbgrader", "--help"]).rest == ["--help"]
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "nbgrader", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and "nbgrader" in run.stdout


def test_grade_help_has_its_exit_statuses(capsys):
    """Does `grade --help` print its description and its exit statuses?"""
    with pytest.raises(SystemExit):
        parser().parse_args(["grade", "--help"])
    text = capsys.readouterr().out
    assert "grade a class, safely, in parallel." in text and "Exit status: 0" in text


def test_nbgrader_receives_every_argument_in_order():
    """Are the arguments after `nbgrader`, leading options included, passed on in order?"""
    arguments = parse(["nbgrader", "--debug", "autograde", "--force", "01-a"])
    assert arguments.rest == ["--debug", "autograde", "--force", "01-a"]


def test_unknown_options_of_other_commands_are_refused(capsys):
    """Is an option that `grade` does not know an error (exit 2), not silently passed on?"""
    with pytest.raises(SystemExit) as exit:
        parse(["grade", "s", "--out", "o", "--no-such-option"])
    assert exit.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


@pytest.mark.parametrize("uid", [0, 1000])
def test_grading_as_root_is_warned_about(uid, monkeypatch, tmp_path, capsys):
    """Does the grade command warn when run as root, as the guide advises against it, and only
    then?"""
    from autograder.__main__ import main
    from autograder.grade import command

    monkeypatch.setattr(command.os, "geteuid", lambda: uid)
    assert main(["grade", str(tmp_path / "none"), "--out", str(tmp_path / "out")]) == 2
    assert (command.ROOT_WARNING in capsys.readouterr().err) == (uid == 0)


def test_the_demo_writes_a_canvas_export_beside_the_class(tmp_path, capsys):
    """Does `demo FOLDER` write FOLDER-canvas-export.csv, a Canvas export the report can fill, and
    say how to use it?"""
    from autograder import course
    from autograder.__main__ import main
    from autograder.course import notebook_format
    from autograder.report import lms
    from autograder.tools import demo

    folder = tmp_path / "class"
    assert main(["demo", str(folder), "--assignment", "01-word-embeddings"]) == 0
    export = tmp_path / "class-canvas-export.csv"
    assert f"--canvas-template {export}" in capsys.readouterr().out
    data = export.read_bytes()
    assert data.startswith("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,".encode())
    # the assignment's points, as the solution notebook's test cells give them
    points = sum(
        notebook_format.graded_tests(
            course.read_notebook(course.solution_notebook("01-word-embeddings"))
        ).values()
    )
    assert f"\r\n    Points Possible,,,,,{points:.2f},".encode() in data
    grades = lms.Grades(
        ["01-word-embeddings"],
        {student.name: {"01-word-embeddings": 8.0} for student in folder.iterdir()},
    )
    result = lms.canvas_import(data.decode("utf-8"), grades)
    assert set(result.matched) == {student.name for student in folder.iterdir()} - {"untouched"}
    summary = result.summary()
    assert "'untouched' is not 'Untouched' in Canvas" in summary
    assert "(absent-ann) / 01-word-embeddings" not in summary  # kept, not changed
    assert "Ann, Absent / 01-word-embeddings: 3.00 (no grade here)" in summary
    assert f"Demo, {demo.CHANGED} ({demo.CHANGED}) / 01-word-embeddings: 3.00 -> 8" in summary
