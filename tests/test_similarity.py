"""The similarity report on a constructed class of exercise 05 (autograder/tools/honest_answers.py):
30 independently written correct answers, a renamed, re-commented and reordered copy of one of
them, and three notebooks that hold nothing but the released template."""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from autograder.checks.assignments import load_assignment
from autograder.course.notebook_format import nbgrader_metadata
from autograder.report import similarity, similarity_files
from autograder.tools import honest_answers

# The module's fixture builds and executes a class of 30 notebooks: minutes.
pytestmark = pytest.mark.slow

ASSIGNMENT = honest_answers.ASSIGNMENT


def _function_checked(check: str) -> str:
    """The graded function a hidden check of exercise 05 calls: mha-* checks call
    multi_head_attention."""
    return "multi_head_attention" if check.startswith("mha-") else check.replace("-", "_")


@pytest.fixture(scope="module")
def students():
    return honest_answers.constructed_class(honest=30, seed=0)


@pytest.fixture(scope="module")
def report(students, tmp_path_factory):
    folder = tmp_path_factory.mktemp("submitted")
    honest_answers.write_notebooks(students, folder)
    reports = similarity.compare_class(folder, [ASSIGNMENT])
    assert [r.assignment for r in reports] == [ASSIGNMENT]
    return reports[0]


def _namespace(notebook: dict) -> dict:
    """The notebook's tools cell and solution cells, run (they are our own code, not a
    learner's)."""
    namespace = {"np": np}
    for cell in notebook["cells"]:
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if grade_id == "tools" or nbgrader_metadata(cell).get("solution"):
            exec(honest_answers._source(cell), namespace)
    return namespace


def test_every_constructed_answer_is_correct(students):
    """Do the honest answers and the copy pass every hidden check against PyTorch?"""
    checks = load_assignment(ASSIGNMENT).CHECKS
    for student, notebook in students.items():
        if student.startswith("template"):
            continue
        namespace = _namespace(notebook)
        for check, run in checks.items():
            run(
                np.random.default_rng(len(student) * 7 + len(check)),
                namespace[_function_checked(check)],
            )
    assert {_function_checked(check) for check in checks} == {
        "split_heads",
        "merge_heads",
        "pack_in_proj",
        "multi_head_attention",
    }


def test_honest_answers_are_not_one_answer_renamed(students):
    """Are the 30 honest answers different code once names, comments and literals are set aside?"""
    normalised = {}
    for student, notebook in students.items():
        if student.startswith("honest"):
            cells = similarity.code_cells(notebook, only_solutions=True)
            normalised[student] = tuple(
                t.text for _, source in cells for t in similarity.normalise(source)
            )
    assert len(normalised) == 30
    assert len(set(normalised.values())) == 30
    for grade_id in ("split-heads", "merge-heads", "pack-in-proj", "multi-head-attention"):
        forms = {
            tuple(
                t.text
                for t in similarity.normalise(dict(similarity.code_cells(nb, True))[grade_id])
            )
            for student, nb in students.items()
            if student.startswith("honest")
        }
        assert len(forms) >= 4, f"{grade_id}: only {len(forms)} different ways of writing it"


def test_copy_is_disguised(students):
    """Is the copy renamed, re-commented and reordered, not the same text?"""
    original = dict(similarity.code_cells(students["honest-000"], True))["multi-head-attention"]
    copy = dict(similarity.code_cells(students["copier"], True))["multi-head-attention"]
    assert original != copy
    original_lines = {line.strip() for line in original.splitlines() if line.strip()}
    copy_lines = {line.strip() for line in copy.splitlines() if line.strip()}
    assert len(original_lines & copy_lines) < len(original_lines) / 3, (
        "the copy kept most lines verbatim"
    )


def test_copied_pair_ranks_first(report):
    """Does the renamed, re-commented and reordered copy rank first, clearly above honest pairs?"""
    first = report.pairs[0]
    assert {first.student_a, first.student_b} == {"copier", "honest-000"}, report.pairs[:5]
    honest = [p for p in report.pairs if {p.student_a[:6], p.student_b[:6]} == {"honest"}]
    assert first.score > honest[0].score, (first, honest[0])
    assert first.score > 3 * honest[len(honest) // 2].score


def test_template_only_pair_does_not_rank_above_honest_ones(report):
    """Do notebooks that hold only the released template (untouched, or with trivial lines) score
    nothing together?"""
    template = [p for p in report.pairs if "template" in p.student_a + p.student_b]
    assert template == [], template
    assert {"template-a", "template-b"} <= set(report.no_own_code)


def test_release_and_book_code_is_left_out(report):
    """Is nothing that the released notebook or the book shows counted as a shared fingerprint?"""
    shared = similarity.shared_kgrams(ASSIGNMENT)
    assert shared, "no k-gram from the release and the book: the exclusion tested nothing"
    for submission in report.submissions.values():
        assert not submission.fingerprints & shared
    assert similarity.book_code(), "no code cell found in book/"


def test_normalisation_ignores_names_comments_layout_and_literals():
    """Do two spellings of one line give the same tokens, and a different operation different
    ones?"""
    one = similarity.normalise("scores = Q @ K.transpose(0, 2, 1) / np.sqrt(d_k)  # scale\n")
    two = similarity.normalise("# the logits\nlogits=q@k.transpose(1,3,0)/np.sqrt(head_dim)\n")
    three = similarity.normalise("scores = Q * K.transpose(0, 2, 1) / np.sqrt(d_k)\n")
    texts = [[t.text for t in tokens] for tokens in (one, two, three)]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]
    assert "transpose" in texts[0] and "sqrt" in texts[0], "library names are kept"


def test_outputs_are_escaped_and_safe(report, tmp_path):
    """Is a hostile student id escaped in the HTML and neutralised in the CSV?"""
    hostile = "=cmd|' /C calc'!A0<script>alert(1)</script>"
    pair = report.pairs[0]
    fake = similarity.AssignmentReport(
        ASSIGNMENT,
        {hostile: report.submissions[pair.student_a], "b": report.submissions[pair.student_b]},
        {},
        [
            similarity.Pair(
                hostile, "b", pair.score, pair.shared, pair.fingerprints_a, pair.fingerprints_b
            )
        ],
        report.excluded,
        [],
    )
    page = similarity_files.similarity_html([fake])
    assert "<script>" not in page and "&lt;script&gt;" in page
    rows = list(csv.reader(io.StringIO(similarity_files.similarity_csv([fake]))))
    assert rows[0] == similarity_files.CSV_FIELDS
    assert rows[1][1].startswith("'=")
    assert int(rows[1][4]) > 0


def test_report_names_itself_evidence_not_a_verdict(report):
    page = similarity_files.similarity_html([report])
    assert "evidence" in page and "never a verdict" in page
    assert "<mark>" in page
    assert (
        "http://" not in page
        and "https://" not in page
        and "<link" not in page
        and "src=" not in page
    )


def test_unreadable_notebook_is_named_not_fatal(tmp_path, students):
    """Does a notebook that is not JSON get named, with every other notebook compared?"""
    honest_answers.write_notebooks({k: students[k] for k in ("honest-000", "copier")}, tmp_path)
    broken = tmp_path / "broken" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"cells": [ not json')
    for name, text in [
        ("deep", "[" * 100_000 + "]" * 100_000),
        ("odd", '{"cells": [{"cell_type": "code", "source": [1, 2]}]}'),
    ]:
        path = tmp_path / name / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(text)
    report = similarity.compare_class(tmp_path, [ASSIGNMENT])[0]
    assert {"broken", "deep", "odd"} <= set(report.unreadable), report.unreadable
    assert [(p.student_a, p.student_b) for p in report.pairs] == [("copier", "honest-000")]


def test_report_command_writes_both_files(tmp_path, students):
    """Does `python -m autograder report OUT --submitted ...` write similarity.csv and .html?"""
    from autograder.__main__ import main

    submitted, out = tmp_path / "submitted", tmp_path / "out"
    honest_answers.write_notebooks(
        {k: students[k] for k in ("honest-000", "copier", "honest-001")}, submitted
    )
    out.mkdir()
    (out / "grades.csv").write_text(
        "student_id,assignment,score,max_score,status,message\n"
        f"copier,{ASSIGNMENT},14,14,graded,\nhonest-000,{ASSIGNMENT},14,14,graded,\n"
    )
    assert main(["report", str(out), "--submitted", str(submitted)]) == 0
    rows = list(csv.DictReader((out / "similarity.csv").open()))
    assert (rows[0]["student_a"], rows[0]["student_b"]) == ("copier", "honest-000")
    assert (out / "similarity.html").read_text().count("<mark>") > 10
    assert json.loads(json.dumps(rows))  # plain strings
    assert (out / "grades-wide.csv").read_text().splitlines()[0] == f"student_id,{ASSIGNMENT},total"
    assert Path(out / "similarity.html").stat().st_size > 1000
