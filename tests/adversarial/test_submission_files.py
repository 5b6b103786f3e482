"""Issue 22: submissions that are not plain files of their own. A sparse 8 GiB file named like the
notebook, a notebook hard-linked to a file outside the learner's folder (as a link into
solutions/ would be), and a student folder that is a symbolic link to another student's: each gets
an error row that says why, from the file's metadata alone (nothing of it is read or hashed, and
the journal records none of them), the rest of the class is graded, and a rerun into the same OUT
ends the same way."""

import csv
import json
import os
import shutil
import subprocess
import time

import hostile_class
import nbformat
import pytest

from autograder import REPO_ROOT, command_argv
from autograder.grade import command as grading
from autograder.grade.journal import JOURNAL_NAME

pytestmark = pytest.mark.slow

ASSIGNMENT, NOTEBOOK = hostile_class.ASSIGNMENT, hostile_class.NOTEBOOK


@pytest.fixture(scope="module")
def graded_twice(tmp_path_factory):
    root = tmp_path_factory.mktemp("submission-files")
    submitted, out = root / "submitted", root / "out"
    hostile_class.write({"honest": hostile_class.solution()}, submitted)
    sparse = submitted / "sparse" / ASSIGNMENT / NOTEBOOK
    sparse.parent.mkdir(parents=True)
    with open(sparse, "wb") as handle:
        handle.truncate(8 << 30)  # 8 GiB of holes: no disk used, seconds per GiB to read
    # What a hard link into solutions/ would do: the learner's notebook is another file's name.
    reference = root / "reference-solution.ipynb"
    nbformat.write(hostile_class.solution(), reference)
    linked = submitted / "linked" / ASSIGNMENT / NOTEBOOK
    linked.parent.mkdir(parents=True)
    os.link(reference, linked)
    os.symlink(submitted / "honest", submitted / "mallory")
    runs = []
    for _ in range(2):
        started = time.monotonic()
        run = subprocess.run(
            command_argv("grade", submitted, "--out", out, "--workers", "1", "--no-progress"),
            cwd=REPO_ROOT,
            env=dict(os.environ, MHA_GRADING_SECRET="submission-files"),
            capture_output=True,
            text=True,
            timeout=900,
        )
        with open(out / "grades.csv", newline="") as handle:
            rows = {row["student_id"]: row for row in csv.DictReader(handle)}
        journal = (out / JOURNAL_NAME).read_text().splitlines()[1:]
        runs.append(
            {
                "run": run,
                "rows": rows,
                "journaled": {json.loads(line)["student"] for line in journal},
                "seconds": time.monotonic() - started,
            }
        )
    yield runs
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("attempt", [0, 1], ids=["first run", "rerun"])
def test_each_gets_an_error_row_that_says_why_and_the_class_is_graded(graded_twice, attempt):
    graded = graded_twice[attempt]
    assert graded["run"].returncode == grading.INCOMPLETE, graded["run"].stderr[-3000:]
    rows = graded["rows"]
    assert set(rows) == {"honest", "sparse", "linked", "mallory"}, rows
    assert rows["honest"]["status"] == "graded"
    assert float(rows["honest"]["score"]) == hostile_class.MAX_SCORE
    expected = {
        "sparse": "the notebook is 8.0 GiB, larger than the limit of 20 MiB: it was not read",
        "linked": "the notebook file has 2 names (hard links)",
        "mallory": "the student folder 'mallory' is a symbolic link, which is not followed",
    }
    for student, message in expected.items():
        assert rows[student]["status"] == "error", rows[student]
        assert message in rows[student]["message"], rows[student]["message"]


def test_none_of_them_was_read_or_recorded(graded_twice):
    """Refused before grading: the journal holds the honest notebook only (on main, the sparse
    file was hashed whole, then read by a worker and journaled; the linked one graded 10/10)."""
    for graded in graded_twice:
        assert graded["journaled"] == {"honest"}, graded["journaled"]
    print("seconds per run:", [round(graded["seconds"], 1) for graded in graded_twice])
