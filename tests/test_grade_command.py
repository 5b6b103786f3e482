"""`python -m autograder grade` on the demo class (every assignment in solutions/): scores agree
with each assignment's points and known mistakes, the feedback names the key mistakes and raises
no false alarm, and the pieces around it (strict decoding, limits, refusal) hold.
The hostile submissions are in tests/adversarial/."""

import csv
import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import termios
import threading

import numpy as np
import pytest

from autograder import REPO_ROOT, command_argv, course
from autograder.__main__ import main as command_line
from autograder.checks.mistakes import known_mistakes
from autograder.course import notebook_format
from autograder.grade import command as grading
from autograder.sandbox.host import Limits, Sandbox, SandboxUnavailable
from autograder.sandbox.wire import ProtocolError, Unsupported, decode, encode
from autograder.tools.demo import canvas_export, mistake_index, write_class

pytestmark = pytest.mark.slow

# The detectors the course promises (issue 6), matched by the mistake names in assignments/.
KEY_MISTAKES = [
    r"no scaling",
    r"sqrt\((d_model|E)\) instead of sqrt\(d_k\)",
    r"softmax over the",
    r"inverted boolean mask",
    r"reshape but no transpose|without a transpose",
    r"no output projection",
]


@pytest.fixture
def demo(graded_demo_class):
    """The demo class of every assignment, graded once per run (tests/conftest.py)."""
    return graded_demo_class


def test_exit_status_summary_on_stdout_no_bar_in_a_log_and_a_row_per_notebook(demo):
    # not-json's notebooks could not be graded: the class is graded, and the exit status says so.
    assert demo.returncode == grading.INCOMPLETE, demo.stderr[-3000:]
    assert "grading:" not in demo.stderr, "a progress bar drawn into a file"
    broken = len(course.assignments())
    graded = sum(len(notebooks) for notebooks in demo.students.values()) - broken
    missing = len(demo.students) * broken - graded - broken
    assert missing > 0, "the class has no missing notebook to report"
    summary = f"{graded} graded, {missing} missing (not handed in), {broken} could not be graded"
    assert summary in demo.stdout and summary not in demo.stderr
    assert "grades-wide.csv:" in demo.stdout and "similarity.html:" in demo.stdout
    with open(demo.out / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["student_id", "assignment", "score", "max_score", "status", "message"]
    expected = {
        (student, assignment) for student in demo.students for assignment in course.assignments()
    }
    assert {(row["student_id"], row["assignment"]) for row in rows} == expected


def test_invalid_json_is_named_and_costs_nobody_else(demo):
    for assignment in course.assignments():
        broken = demo.results[("not-json", assignment)]
        assert broken["status"] == "error" and broken["score"] == 0
        assert f"{assignment}.ipynb: the notebook is not valid JSON" in broken["message"]
        assert demo.results[("full-marks", assignment)]["status"] == "graded"


def test_solution_full_marks_release_zero(assignment, demo, solution_notebooks):
    """Full auto marks for the solution, zero for the release; the written answers (scored by a
    person) count in max_score, await a grader for the solution, and score 0 as released."""
    points = notebook_format.graded_tests(solution_notebooks[assignment])
    written = notebook_format.manually_graded(solution_notebooks[assignment])
    full = demo.results[("full-marks", assignment)]
    assert {t["grade_id"]: t["score"] for t in full["tests"]} == points
    assert full["score"] == sum(points.values())
    assert full["max_score"] == sum(points.values()) + sum(written.values())
    assert {w["grade_id"]: w["score"] for w in full["written"]} == dict.fromkeys(written)
    untouched = demo.results[("untouched", assignment)]
    assert untouched["score"] == 0
    assert {w["grade_id"]: w["score"] for w in untouched["written"]} == dict.fromkeys(written, 0)


def _mistakes_handed_in(demo, assignment: str) -> list[tuple[str, dict]]:
    """(student, result) of each demo student who handed in `assignment` with a known mistake."""
    return [
        (student, demo.results[student, assignment])
        for student, notebooks in demo.students.items()
        if student.startswith("mistakes-") and assignment in notebooks
    ]


def test_each_mistake_loses_exactly_its_points(assignment, demo, solution_notebooks):
    points = notebook_format.graded_tests(solution_notebooks[assignment])
    mistakes = known_mistakes(assignment)
    graded = set()
    for student, result in _mistakes_handed_in(demo, assignment):
        mistake = mistakes[mistake_index(student, assignment)]
        graded.add(mistake.name)
        expected = {
            grade_id: 0.0 if grade_id in mistake.fails else value
            for grade_id, value in points.items()
        }
        assert {t["grade_id"]: t["score"] for t in result["tests"]} == expected, (
            student,
            mistake.name,
        )
    assert graded == {mistake.name for mistake in mistakes}, "a known mistake was not graded"


def test_no_detector_fires_on_a_correct_answer(assignment, demo):
    for test in demo.results[("full-marks", assignment)]["tests"]:
        assert test["passed"] and test["mistakes"] == []


def test_detectors_name_their_own_mistake_and_no_other_part(assignment, demo):
    mistakes = known_mistakes(assignment)
    for student, result in _mistakes_handed_in(demo, assignment):
        mistake = mistakes[mistake_index(student, assignment)]
        same_cell = {other.name for other in mistakes if other.cell == mistake.cell}
        named = {name for test in result["tests"] for name in test["mistakes"]}
        assert named <= same_cell, (mistake.name, named)
        if any(re.search(pattern, mistake.name) for pattern in KEY_MISTAKES):
            assert mistake.name in named, (
                f"{assignment}: the detector for {mistake.name!r} did not fire"
            )


def test_every_key_detector_exists_in_the_course():
    names = [
        mistake.name
        for assignment in course.assignments()
        for mistake in known_mistakes(assignment)
    ]
    missing = [
        pattern for pattern in KEY_MISTAKES if not any(re.search(pattern, name) for name in names)
    ]
    # Chapters appear over time; the six detectors must all exist once chapter 5 does.
    if "05-multi-head-attention" in course.assignments():
        assert not missing, missing


def test_feedback_and_plots(demo):
    text = (
        demo.out
        / "feedback"
        / "mistakes-03"
        / "04-scaling-softmax-masks"
        / "04-scaling-softmax-masks.txt"
    ).read_text()
    assert (
        "[FAILED] test-attention" in text
        and "This looks like a known mistake: no scaling by sqrt(d_k)." in text
    )
    html = (
        demo.out
        / "feedback"
        / "mistakes-03"
        / "04-scaling-softmax-masks"
        / "04-scaling-softmax-masks.html"
    ).read_text()
    assert "no scaling by sqrt(d_k)" in html and "hidden_check" not in html
    for assignment in course.assignments():
        assert (demo.out / "plots" / f"{assignment}.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------------------------------------
# Pieces


def _rows(out) -> dict:
    with open(out / "grades.csv", newline="") as handle:
        return {(row["student_id"], row["assignment"]): row for row in csv.DictReader(handle)}


def _run_on_a_terminal(argv: list[str]) -> tuple[subprocess.CompletedProcess, str]:
    """Run with stderr on a pseudo-terminal (as in an instructor's shell): the run, and what the
    terminal showed."""
    controller, terminal = pty.openpty()
    # A terminal has a size (a new pseudo-terminal has 0 x 0, in which tqdm draws nothing).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    shown = []

    def drain():
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:  # the terminal closed
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        run = subprocess.run(
            argv,
            cwd=REPO_ROOT,
            env=dict(os.environ, MHA_GRADING_SECRET="demo-class-secret"),
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=1200,
        )
    finally:
        os.close(terminal)
        reader.join(timeout=30)
        os.close(controller)
    return run, b"".join(shown).decode(errors="replace")


def test_grading_one_assignment_keeps_the_class_and_drops_a_stale_canvas_import(demo, tmp_path):
    """After `grade --assignment X` into an OUT that holds the whole class, do grades.csv and
    grades-wide.csv keep every assignment (X's rows regraded, the others as they were), is a
    canvas-import.csv made from the old grades removed, and is the progress bar drawn on a
    terminal (and only there)?"""
    students = demo.students
    submitted, out = write_class(students, tmp_path / "submitted"), tmp_path / "out"
    shutil.copytree(demo.out, out)
    export = tmp_path / "canvas-export.csv"
    export.write_text(canvas_export(sorted(students), course.assignments()), newline="")
    report = ["report", str(out), "--submitted", str(submitted), "--canvas-template", str(export)]
    assert command_line(report) == 0
    assert (out / "canvas-import.csv").exists()
    before = _rows(out)
    first = course.assignments()[0]
    # full-marks now hands in the release of the first assignment: its grade changes.
    shutil.copy(course.release_notebook(first), submitted / "full-marks" / first / f"{first}.ipynb")
    argv = command_argv("grade", submitted, "--out", out, "--assignment", first, "--timeout", 20)
    run, terminal = _run_on_a_terminal(argv)
    assert run.returncode == grading.INCOMPLETE, terminal[-3000:]
    after = _rows(out)
    assert set(after) == set(before), "a row of another assignment was dropped"
    assert after[("full-marks", first)]["score"] == "0"
    assert before[("full-marks", first)]["score"] != "0"
    assert all(after[key] == row for key, row in before.items() if key[1] != first)
    with open(out / "grades-wide.csv", newline="") as handle:
        assert next(csv.reader(handle)) == ["student_id", *course.assignments(), "total"]
    assert f"kept {len(before) - sum(key[1] == first for key in before)} rows of" in run.stdout
    assert not (out / "canvas-import.csv").exists() and not (out / "canvas-summary.txt").exists()
    assert "removed canvas-import.csv" in run.stdout
    assert "grading: 100%" in terminal  # tqdm's bar, on the terminal


def test_decoder_accepts_plain_data_only():
    blobs = []
    value = encode(
        (np.arange(6.0).reshape(2, 3), {"k": [1, 2.5, None, True]}, np.float32(2)), blobs
    )
    decoded = decode(value, blobs)
    np.testing.assert_array_equal(decoded[0], np.arange(6.0).reshape(2, 3))
    assert decoded[1] == {"k": [1, 2.5, None, True]} and decoded[2] == np.float32(2)
    bad = [
        ({"array": 0, "dtype": "|O8", "shape": [1]}, [b"\0" * 8]),  # object arrays never decode
        ({"array": 0, "dtype": "<f8", "shape": [3]}, [b"\0" * 8]),  # size does not match shape
        ({"array": 1, "dtype": "<f8", "shape": [1]}, [b"\0" * 8]),  # no such blob
        ({"pickle": "gASVAAAAAAAAAAA="}, []),  # unknown tag
        ([1, 2], []),  # untagged list
    ]
    for value, blobs in bad:
        with pytest.raises(ProtocolError):
            decode(value, blobs)
    assert isinstance(decode({"unsupported": "a numpy array of dtype object"}, []), Unsupported)


def test_memory_limit_is_configurable():
    cell = "x = np.ones(60_000_000)"  # 480 MB
    for memory, expected in [(300 << 20, "MemoryError"), (2 << 30, None)]:
        sandbox = Sandbox(Limits(timeout=20, memory_bytes=memory))
        try:
            errors = [error for _, error in sandbox.run_cells(["import numpy as np", cell])]
        finally:
            sandbox.kill()
        assert (errors[1] or "").startswith(expected or "") and (errors[1] is None) == (
            expected is None
        ), errors


def test_refuses_when_the_sandbox_cannot_be_built(monkeypatch, tmp_path, capsys):
    import autograder.sandbox.host

    def unavailable(*args, **kwargs):
        raise SandboxUnavailable("Landlock is not available on this kernel")

    monkeypatch.setattr(autograder.sandbox.host, "probe", unavailable)
    (tmp_path / "submitted").mkdir()
    arguments = ["grade", str(tmp_path / "submitted"), "--out", str(tmp_path / "out")]
    assert command_line(arguments) == grading.REFUSAL
    assert "refusing to grade" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_submitted_folder_is_a_refusal(tmp_path, capsys):
    arguments = ["grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]
    assert command_line(arguments) == grading.REFUSAL
    assert "not a folder of submissions" in capsys.readouterr().err
