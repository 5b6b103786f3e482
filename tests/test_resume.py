"""A grading run that is killed (SIGKILL) or stopped with Ctrl-C (SIGINT) loses nothing it had
graded: the same command run again grades only what is missing and ends with the same grades.csv
as an uninterrupted run. A changed notebook is graded again, an unchanged one is not, and
--regrade grades everything. Real grading processes, killed for real; no mocks."""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest

from autograder import REPO_ROOT, command_argv, course
from autograder.grade import command as grading
from autograder.grade.journal import JOURNAL_NAME
from autograder.tools.demo import demo_class, write_class

pytestmark = pytest.mark.slow  # grades classes with real processes and servers

ASSIGNMENT = course.assignments()[2]
SECRET = "resume-test-secret"
# "grading 13 of 21 notebooks (8 already graded in ...)": how the command counts its work.
PLAN = re.compile(r"grading (\d+) of (\d+) notebooks(?: \((\d+) already graded in [^)]*\))?")


def _command(submitted, out, *options):
    return command_argv(
        "grade", submitted, "--out", out, "--assignment", ASSIGNMENT, "--no-progress", *options
    )


def _environment(secret=SECRET):
    return dict(os.environ, MHA_GRADING_SECRET=secret)


def _grade(submitted, out, *options, secret=SECRET):
    run = subprocess.run(
        _command(submitted, out, *options),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=_environment(secret),
        timeout=600,
    )
    assert run.returncode in (0, grading.INCOMPLETE), run.stderr[-3000:]
    return run


def _plan(run) -> tuple[int, int, int]:
    """(graded now, notebooks, taken from the journal), as the command announced them."""
    match = PLAN.search(run.stderr)
    assert match, run.stderr[-3000:]
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def _journal_lines(out) -> list:
    """The journal's complete lines (a last line without its newline is not yet written)."""
    try:
        data = (out / JOURNAL_NAME).read_bytes()
    except FileNotFoundError:
        return []
    return data.split(b"\n")[:-1]


def _recorded(out) -> set:
    return {
        (entry["student"], entry["assignment"])
        for entry in map(json.loads, _journal_lines(out)[1:])
    }


def _start_and_stop(submitted, out, stop: signal.Signals, total: int):
    """Start a grading run in its own process group; when its journal holds some but not all of
    the `total` results, send `stop` to the whole group, as a terminal's Ctrl-C does."""
    process = subprocess.Popen(
        _command(submitted, out),
        cwd=REPO_ROOT,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if 2 <= len(_journal_lines(out)) - 1 < total - 2:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before it could be stopped"
        os.killpg(process.pid, stop)
        stopped = time.monotonic()
        _, stderr = process.communicate(timeout=60)
        return process.returncode, stderr, time.monotonic() - stopped
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The class of one assignment, graded in one go: what every resumed run must end with."""
    root = tmp_path_factory.mktemp("resume")
    submitted = write_class(demo_class([ASSIGNMENT]), root / "submitted")
    out = root / "uninterrupted"
    run = _grade(submitted, out)
    graded, total, reused = _plan(run)
    assert graded == total and reused == 0
    assert len(_recorded(out)) == total
    return {"submitted": submitted, "out": out, "total": total, "root": root}


def _same_outputs(out, reference):
    for name in ("grades.csv", "results.json"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_a_killed_run_resumes_with_only_what_is_missing(uninterrupted):
    out, total = uninterrupted["root"] / "killed", uninterrupted["total"]
    status, _, _ = _start_and_stop(uninterrupted["submitted"], out, signal.SIGKILL, total)
    assert status == -signal.SIGKILL
    assert not (out / "grades.csv").exists()  # the reports are written at the end only
    before = _recorded(out)
    assert 0 < len(before) < total

    resumed = _grade(uninterrupted["submitted"], out)
    graded, notebooks, reused = _plan(resumed)
    assert (reused, graded, notebooks) == (len(before), total - len(before), total)
    after = _journal_lines(out)[1:]
    assert len(after) == total  # each notebook recorded once: nothing was graded twice
    assert _recorded(out) == _recorded(uninterrupted["out"])
    _same_outputs(out, uninterrupted["out"])


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(uninterrupted):
    out, total = uninterrupted["root"] / "interrupted", uninterrupted["total"]
    status, stderr, seconds = _start_and_stop(uninterrupted["submitted"], out, signal.SIGINT, total)
    assert status == grading.INTERRUPTED, stderr[-3000:]
    assert seconds < 15  # the workers were stopped, not waited for
    assert "Traceback" not in stderr
    recorded = _recorded(out)
    message = (
        f"interrupted: {len(recorded)} of {total} notebooks are recorded in "
        f"{out / JOURNAL_NAME} ({len(recorded)} graded in this run); run the same "
        "command again"
    )
    assert message in stderr, stderr[-3000:]
    # No half-written file: the journal ends with a whole line, no temporary file is left, and the
    # reports, written only when the class is complete, are not there.
    assert (out / JOURNAL_NAME).read_bytes().endswith(b"\n")
    # The gradebook takes results as they arrive (in committed batches), so it is there too, and
    # whole: SQLite's own check finds nothing wrong in it.
    with sqlite3.connect(out / "gradebook.db") as gradebook:
        assert gradebook.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    leftovers = [
        path
        for path in out.rglob("*")
        if path.name not in (".grading.lock", JOURNAL_NAME, "gradebook.db")
    ]
    assert leftovers == []

    resumed = _grade(uninterrupted["submitted"], out)
    assert _plan(resumed) == (total - len(recorded), total, len(recorded))
    assert "note:" not in resumed.stderr  # nothing torn or unreadable
    _same_outputs(out, uninterrupted["out"])


@pytest.fixture(scope="module")
def small_class(uninterrupted):
    """A few students of the class, in their own folder: their notebooks are changed below."""
    students = dict(list(demo_class([ASSIGNMENT]).items())[:4])
    root = uninterrupted["root"]
    submitted = write_class(students, root / "small")
    out = root / "small-out"
    graded, total, _ = _plan(_grade(submitted, out))
    assert graded == total == len(students)
    return {"submitted": submitted, "out": out, "students": sorted(students)}


def _notebook(submitted, student):
    return submitted / student / ASSIGNMENT / course.notebook_name(ASSIGNMENT)


def _scores(out) -> dict:
    return {
        result["student"]: result["score"]
        for result in json.loads((out / "results.json").read_text())
    }


def test_a_changed_notebook_is_graded_again_and_an_unchanged_one_is_not(small_class):
    submitted, out = small_class["submitted"], small_class["out"]
    assert "full-marks" in small_class["students"] and "untouched" in small_class["students"]
    # Same bytes, newer file: not graded again (the content decides, not the time).
    touched = _notebook(submitted, small_class["students"][-1])
    os.utime(touched, (time.time() + 60, time.time() + 60))
    lines_before = len(_journal_lines(out))
    assert _scores(out)["untouched"] == 0
    shutil.copyfile(_notebook(submitted, "full-marks"), _notebook(submitted, "untouched"))

    run = _grade(submitted, out)
    total = len(small_class["students"])
    assert _plan(run) == (1, total, total - 1)
    assert "on a local cluster of 1 worker at" in run.stderr, "a worker per core for one notebook"
    new_lines = _journal_lines(out)[lines_before:]
    assert [json.loads(line)["student"] for line in new_lines] == ["untouched"]
    assert _scores(out)["untouched"] == _scores(out)["full-marks"] > 0


def test_regrade_grades_everything_and_so_does_another_secret(small_class):
    submitted, out = small_class["submitted"], small_class["out"]
    total = len(small_class["students"])
    again = _grade(submitted, out)
    assert _plan(again) == (0, total, total)  # all recorded: nothing to grade, and no cluster
    assert "no cluster started" in again.stderr, again.stderr[-3000:]
    grades = (out / "grades.csv").read_bytes()

    run = _grade(submitted, out, "--regrade")
    assert _plan(run) == (total, total, 0)
    assert len(_journal_lines(out)) == 1 + total  # a fresh journal: its header, then each once
    assert (out / "grades.csv").read_bytes() == grades

    other = _grade(submitted, out, secret="another-secret")
    assert _plan(other) == (total, total, 0)
    assert "was written under other settings (grading secret)" in other.stderr
    journal = (out / JOURNAL_NAME).read_text()
    assert "another-secret" not in journal and SECRET not in journal  # only a digest
