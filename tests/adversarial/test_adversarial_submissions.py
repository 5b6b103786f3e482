"""The adversarial suite: a class of hostile, broken and honest submissions graded by
`python -m autograder grade` as an unprivileged user (file permissions do not stop root, so the
sandbox must), then again as the current user into the same OUT. Every notebook gets its
expected score and message, everyone else is graded, nothing outside OUT changes, and the
re-run writes the same results."""

import csv
import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import hostile_class
import pytest

from autograder import REPO_ROOT, command_argv, course
from autograder.grade import command as grading

pytestmark = pytest.mark.slow

SECRET = "adversarial-suite-secret"
NOBODY = pwd.getpwnam("nobody")


def tree_digest(root: Path, skip=()) -> dict:
    digest = {}
    for path in sorted(root.rglob("*")):
        if any(part in skip for part in path.parts) or not path.is_file() or path.is_symlink():
            continue
        digest[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def grade_command(submitted, out, *, as_nobody: bool, home: Path):
    command = command_argv(
        "grade", submitted, "--out", out, "--timeout", "3", "--workers", "2", "--no-progress"
    )
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MHA_GRADING_SECRET": SECRET,
        "HOME": str(home),
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "LANG": "C.UTF-8",
    }
    if as_nobody:
        command = [
            "setpriv",
            f"--reuid={NOBODY.pw_uid}",
            f"--regid={NOBODY.pw_gid}",
            "--clear-groups",
            *command,
        ]
    return subprocess.run(
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def graded():
    if os.geteuid() != 0:
        pytest.skip(
            "the suite switches to the unprivileged user `nobody`, which needs root to start"
        )
    # Not under /tmp: the sandbox has a private /tmp, which would hide the targets from the attacks
    # below before Landlock had to stop them.
    root = Path(
        tempfile.mkdtemp(
            prefix="adversarial-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None
        )
    )
    os.chmod(root, 0o755)
    submitted, out, canary, home = root / "submitted", root / "out", root / "canary", root / "home"
    for folder in (out, canary, home):
        folder.mkdir()
        os.chown(folder, NOBODY.pw_uid, NOBODY.pw_gid)
    (
        out / "gradebook.db"
    ).touch()  # a gradebook from an earlier run, which a submission tries to read
    os.chown(out / "gradebook.db", NOBODY.pw_uid, NOBODY.pw_gid)
    os.chmod(canary, 0o777)  # writable by the grader's user: only the sandbox can stop a write
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    paths = {
        "submitted": submitted,
        "out": out,
        "canary": canary,
        "repo": REPO_ROOT,
        "port": listener.getsockname()[1],
    }
    class_, cases = hostile_class.build(paths)
    hostile_class.write(class_, submitted)
    for path in [submitted, *submitted.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    watched = {
        "repo": tree_digest(
            REPO_ROOT,
            skip={".venv", "_build", "__pycache__", ".git", ".pytest_cache", ".jupyter_cache"},
        ),
        "submitted": tree_digest(submitted),
    }
    first = grade_command(submitted, out, as_nobody=True, home=home)
    first_results = (out / "grades.csv").read_text() if (out / "grades.csv").exists() else ""
    first_json = (
        json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else None
    )
    second = grade_command(submitted, out, as_nobody=False, home=home)
    try:
        connection = listener.accept()
    except BlockingIOError:
        connection = None
    listener.close()
    yield {
        "root": root,
        "out": out,
        "canary": canary,
        "cases": cases,
        "first": first,
        "second": second,
        "first_csv": first_results,
        "first_json": first_json,
        "watched": watched,
        "connection": connection,
        "submitted": submitted,
    }
    shutil.rmtree(root, ignore_errors=True)


def rows(out: Path) -> dict:
    with open(out / "grades.csv", newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def test_suite_is_large_enough(graded):
    assert len(graded["cases"]) >= 25


def test_grading_as_nobody_exits_zero_with_a_row_for_everyone(graded):
    first = graded["first"]
    assert first.returncode == grading.INCOMPLETE, first.stderr[
        -3000:
    ]  # the broken files: status error
    assert "Landlock" in first.stderr
    assert set(rows(graded["out"])) == {case.student for case in graded["cases"]}


@pytest.mark.parametrize(
    "index",
    range(
        len(
            hostile_class.build(
                {
                    "submitted": Path("/s"),
                    "out": Path("/o"),
                    "canary": Path("/c"),
                    "repo": Path("/r"),
                    "port": 1,
                }
            )[1]
        )
    ),
)
def test_each_submission_gets_its_score_and_message(graded, index):
    case = graded["cases"][index]
    row = rows(graded["out"])[case.student]
    feedback = (
        graded["out"]
        / "feedback"
        / case.student
        / hostile_class.ASSIGNMENT
        / f"{hostile_class.ASSIGNMENT}.txt"
    ).read_text()
    # grades.csv leaves an error row's score empty: nothing was graded, and a 0 would read as one
    score = float(row["score"]) if row["score"] else None
    expected = None if case.status == "error" else case.score
    assert (score, float(row["max_score"]), row["status"]) == (
        expected,
        float(hostile_class.MAX_SCORE),
        case.status,
    ), (case.student, row["message"])
    assert case.message.lower() in (row["message"] + "\n" + feedback).lower(), (
        case.student,
        row["message"],
        feedback,
    )


def test_rerun_as_another_user_gives_the_same_results(graded):
    assert graded["second"].returncode == grading.INCOMPLETE, graded["second"].stderr[-3000:]
    assert (graded["out"] / "grades.csv").read_text() == graded["first_csv"]
    assert json.loads((graded["out"] / "results.json").read_text()) == graded["first_json"]


def test_nothing_outside_out_changed(graded):
    assert list(graded["canary"].iterdir()) == []
    assert graded["connection"] is None, "a submission reached a socket on the loopback interface"
    assert tree_digest(graded["submitted"]) == graded["watched"]["submitted"]
    now = tree_digest(
        REPO_ROOT,
        skip={".venv", "_build", "__pycache__", ".git", ".pytest_cache", ".jupyter_cache"},
    )
    changed = {
        path
        for path in set(now) | set(graded["watched"]["repo"])
        if now.get(path) != graded["watched"]["repo"].get(path)
    }
    # Other people may be editing the working tree while this runs: only the grader's targets count.
    targets = {
        str(REPO_ROOT / "autograder" / "checks" / "hidden.py"),
        str(course.solution_notebook(hostile_class.ASSIGNMENT)),
    }
    assert not changed & targets


def test_gradebook_matches_grades_csv_and_exports(graded, tmp_path):
    from autograder.course.nbgrader_runs import run_nbgrader

    export = tmp_path / "export.csv"
    run_nbgrader(["export", f"--to={export}"], graded["out"])
    with open(export, newline="") as handle:
        exported = {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}
    # nbgrader export lists a student the gradebook knows with no submission at 0
    assert exported == {
        student: float(row["score"]) if row["status"] != "error" else 0.0
        for student, row in rows(graded["out"]).items()
    }


def test_feedback_never_shows_hidden_check_code(graded):
    for feedback in (graded["out"] / "feedback").rglob("*.*"):
        text = feedback.read_text()
        assert (
            "hidden_check" not in text
            and "BEGIN HIDDEN TESTS" not in text
            and "def check_" not in text
        ), feedback


def test_score_plot_written(graded):
    plot = graded["out"] / "plots" / f"{hostile_class.ASSIGNMENT}.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
