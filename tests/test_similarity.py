"""The similarity report on a constructed class of exercise 05 (autograder/tools/honest_answers.py):
30 independently written correct answers; a copy of one of them with every name changed, its
statements reordered, its comments changed and its helpers inlined; three notebooks that hold
nothing but the released template; two that each add the same single line to it; and two students
who kept the stubs in the answer cells and wrote the same answers in cells of their own below."""

import ast
import csv
import dataclasses
import io
import json
from array import array
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


def _one_line(line: str) -> dict:
    """The release with one line added above the stub of merge_heads."""
    notebook = honest_answers.release()
    cell = honest_answers._solution_cells(notebook)["merge-heads"]
    cell["source"] = honest_answers._source(cell).replace(
        honest_answers.STUB, f"    {line}\n{honest_answers.STUB}"
    )
    return notebook


def _added_cells(notebook: dict, bodies: dict[str, str]) -> dict:
    """`notebook` with new code cells (no nbgrader metadata) after the last one, each holding one
    of the given answers as a whole function."""
    notebook = json.loads(json.dumps(notebook))
    for grade_id, body in bodies.items():
        source = honest_answers._source(honest_answers._solution_cells(notebook)[grade_id])
        answer = source.replace(honest_answers.STUB, body.rstrip("\n"))
        notebook["cells"].append(
            {"cell_type": "code", "metadata": {}, "source": answer, "outputs": []}
        )
    return notebook


@pytest.fixture(scope="module")
def students():
    students = honest_answers.constructed_class(honest=30, seed=0)
    # Two notebooks whose only own code is the same short line: one shared fingerprint, all of
    # each one's own code (the old ratio scored them 1.00).
    students["one-line-a"] = students["one-line-b"] = _one_line("n = x")
    return students


@pytest.fixture(scope="module")
def report(students, tmp_path_factory):
    folder = tmp_path_factory.mktemp("submitted")
    honest_answers.write_notebooks(students, folder)
    reports = similarity.compare_class(folder, [ASSIGNMENT])
    assert [r.assignment for r in reports] == [ASSIGNMENT]
    return reports[0]


def _namespace(notebook: dict) -> dict:
    """The notebook's tools cell, solution cells and added cells, run in order (they are our own
    code, not a learner's)."""
    namespace = {"np": np}
    for cell in notebook["cells"]:
        metadata = nbgrader_metadata(cell)
        added = cell["cell_type"] == "code" and not metadata
        if metadata.get("grade_id") == "tools" or metadata.get("solution") or added:
            exec(honest_answers._source(cell), namespace)
    return namespace


def test_every_constructed_answer_is_correct(students):
    """Do the honest answers and the copies pass every hidden check against PyTorch?"""
    checks = load_assignment(ASSIGNMENT).CHECKS
    for student, notebook in students.items():
        if student.startswith(("template", "one-line")):
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
        "attention_weights_bytes",
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


def _defined_names(source: str) -> set[str]:
    """The names the student chose: functions, variables and helpers' parameters (the graded
    function's own name and parameters are the exercise's)."""
    tree = ast.parse(source)
    graded = tree.body[0]
    parameters = graded.args.posonlyargs + graded.args.args + graded.args.kwonlyargs
    fixed = {graded.name} | {argument.arg for argument in parameters}
    chosen = {
        node.name if isinstance(node, ast.FunctionDef) else node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        or (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store))
    }
    return chosen - fixed


def test_copy_is_disguised(students):
    """Is the copy renamed, re-commented, reordered and its helpers inlined, not the same text?"""
    original = dict(similarity.code_cells(students["honest-000"], True))
    copy = dict(similarity.code_cells(students["copier"], True))
    for grade_id in original:
        assert original[grade_id] != copy[grade_id]
        chosen = _defined_names(original[grade_id])
        assert not chosen & _defined_names(copy[grade_id]), f"{grade_id}: a name was kept"
    mha = original["multi-head-attention"], copy["multi-head-attention"]
    original_lines = {line.strip() for line in mha[0].splitlines() if line.strip()}
    copy_lines = {line.strip() for line in mha[1].splitlines() if line.strip()}
    assert len(original_lines & copy_lines) < len(original_lines) / 3, (
        "the copy kept most lines verbatim"
    )
    helpers = [source.count("    def ") for source in mha]
    assert helpers[0] > helpers[1], "no helper was inlined"
    comments = [{line for line in source.splitlines() if "#" in line} for source in mha]
    assert comments[1] and not comments[0] & comments[1], "the comments were not changed"


def test_copied_pair_ranks_first_by_a_clear_margin(report):
    """Does the disguised copy rank first, with at least twice the evidence of any other pair?"""
    first, second = report.pairs[:2]
    assert {first.student_a, first.student_b} == {"copier", "honest-000"}, report.pairs[:5]
    assert first.evidence > 2 * second.evidence, (first, second)
    honest = [p for p in report.pairs if {p.student_a[:6], p.student_b[:6]} == {"honest"}]
    assert first.shared > max(pair.shared for pair in honest)
    assert first.share_a == first.share_b == 1.0
    assert report.match(first).tokens > max(report.match(pair).tokens for pair in honest[:10])


def test_one_shared_fingerprint_is_set_apart_not_ranked(report):
    """Do two notebooks whose only own code is one shared line stay below the copy, listed apart
    with the reason, however rare that line is?"""
    ranked = {(pair.student_a, pair.student_b): rank for rank, pair in enumerate(report.pairs)}
    assert ("one-line-a", "one-line-b") not in ranked
    apart = {(pair.student_a, pair.student_b): pair for pair in report.ranking.too_little}
    pair = apart[("one-line-a", "one-line-b")]
    assert pair.shared == 1 and pair.share_a == pair.share_b == 1.0
    assert pair.evidence < report.pairs[0].evidence / 10
    page = similarity_files.similarity_html([report])
    assert "Set apart: fewer than" in page and "one-line-a" in page


def test_answers_written_outside_the_answer_cells_are_compared(tmp_path):
    """Are two students who kept every stub and wrote the same answers in cells of their own
    below paired first, with all of that code compared?"""
    kept = _added_cells(honest_answers.release(), honest_answers.answers(4242))
    students = {f"honest-{n}": honest_answers.honest_notebook(n) for n in range(6)}
    students["stubs-kept-a"] = kept
    students["stubs-kept-b"] = honest_answers.disguised_copy(kept, 7)
    honest_answers.write_notebooks(students, tmp_path)
    report = similarity.compare_class(tmp_path, [ASSIGNMENT])[0]
    first = report.pairs[0]
    assert (first.student_a, first.student_b) == ("stubs-kept-a", "stubs-kept-b"), report.pairs
    assert first.share_a == first.share_b == 1.0
    assert all(first.evidence > 2 * pair.evidence for pair in report.pairs[1:])
    a = report.submissions["stubs-kept-a"]
    assert sum(", added" in a.lines[header] for header in a.headers) == len(
        honest_answers.answers(4242)
    )


def test_a_course_cell_of_an_earlier_release_is_still_the_course_s(tmp_path):
    """Learners who downloaded the release before one of its read-only cells changed (the
    helpers, say) hand in that cell's earlier text. Grading runs the course's copy of it: is the
    report the same as for the current text, with no line of that cell matched?"""
    earlier_lines = "def earlier_helper(values):\n    return [2 * value + 1 for value in values]\n"
    current = {f"honest-{n}": honest_answers.honest_notebook(n) for n in range(6)}
    current["copier"] = honest_answers.disguised_copy(current["honest-0"], 7)
    earlier = json.loads(json.dumps(current))
    for notebook in earlier.values():
        (helpers,) = [
            cell
            for cell in notebook["cells"]
            if nbgrader_metadata(cell).get("grade_id") == "test-helpers"
        ]
        helpers["source"] = honest_answers._source(helpers) + "\n\n" + earlier_lines
    reports = {}
    for name, students in (("current", current), ("earlier", earlier)):
        honest_answers.write_notebooks(students, tmp_path / name)
        reports[name] = similarity.compare_class(tmp_path / name, [ASSIGNMENT])[0]
    handed_in = json.loads(next((tmp_path / "earlier" / "copier").rglob("*.ipynb")).read_text())
    assert any("earlier_helper" in honest_answers._source(c) for c in handed_in["cells"])

    def ranking(report):
        return [
            (p.student_a, p.student_b, p.evidence, p.shared, p.share_a, p.share_b)
            for p in report.pairs
        ]

    assert ranking(reports["earlier"]) == ranking(reports["current"])
    first = reports["earlier"].pairs[0]
    assert {first.student_a, first.student_b} == {"copier", "honest-0"}
    for submission in reports["earlier"].submissions.values():
        assert not any("earlier_helper" in line for line in submission.lines)
    page = similarity_files.similarity_html([reports["earlier"]])
    assert "earlier_helper" not in page


def test_a_side_shows_its_shared_code_and_folds_the_rest(tmp_path):
    """A copy padded with 2,000 cells of its own: the page shows the shared lines, folds the
    padding into lines that count it, and stays small (a 10,000-cell copy made 1.6 MB)."""
    copied = honest_answers.honest_notebook(1)
    padded = json.loads(json.dumps(copied))
    padded["cells"] += [
        {"cell_type": "code", "metadata": {}, "source": f"padding_{n} = {n}", "outputs": []}
        for n in range(2000)
    ]
    students = {f"honest-{n}": honest_answers.honest_notebook(n) for n in range(2, 6)}
    students.update({"copied": copied, "padded": padded})
    honest_answers.write_notebooks(students, tmp_path)
    report = similarity.compare_class(tmp_path, [ASSIGNMENT])[0]
    assert {report.pairs[0].student_a, report.pairs[0].student_b} == {"copied", "padded"}
    page = similarity_files.similarity_html([report], limit=1)
    assert "lines without shared code</span>" in page
    assert "padding_1000 " not in page and "padding_1999 " not in page
    assert page.count("<mark>") > 50
    assert len(page) < 150_000, len(page)


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
        similarity.Ranking(
            [dataclasses.replace(pair, student_a=hostile, student_b="b")],
            1,
            [dataclasses.replace(pair, student_a=hostile + "2", student_b="b")],
            1,
            0,
        ),
        report.excluded,
        [],
    )
    page = similarity_files.similarity_html([fake])
    assert "<script>" not in page and page.count("&lt;script&gt;") >= 4
    rows = list(csv.reader(io.StringIO(similarity_files.similarity_csv([fake]))))
    assert rows[0] == similarity_files.CSV_FIELDS
    assert rows[1][2].startswith("'=")
    assert int(rows[1][-1]) > 0


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


def test_files_are_the_same_whether_the_code_is_held_or_read_again(students, tmp_path):
    """The report holds each notebook's code only while its assignment is compared: are the CSV
    and the HTML the same when the shown pairs' code is prepared then (as the report command
    does) and when it is read again from the files, and is no code left held afterwards?"""
    honest_answers.write_notebooks(students, tmp_path)
    prepared = similarity.compare_class(
        tmp_path, [ASSIGNMENT], prepare=similarity_files.prepare_html
    )
    read_again = similarity.compare_class(tmp_path, [ASSIGNMENT])
    assert prepared[0].prepared and not read_again[0].prepared
    assert all(s.held is None for r in prepared + read_again for s in r.submissions.values())
    files = similarity_files.similarity_csv, similarity_files.similarity_html
    assert [write(prepared) for write in files] == [write(read_again) for write in files]


def test_fingerprints_taken_on_the_workers_give_the_same_files(students, tmp_path):
    """For an assignment of more than READ_AGAIN notebooks, the report takes each one's
    fingerprints from the worker that graded it (fingerprint_notebook) instead of reading it again:
    are the CSV and the HTML the same as when it reads every notebook itself; are the given
    fingerprints what it uses; and does it read a notebook again when the file changed since, or
    the fingerprints were taken against another release?"""
    honest_answers.write_notebooks(students, tmp_path)
    found = similarity.find_notebooks(tmp_path, [ASSIGNMENT])[ASSIGNMENT]
    taken = {
        (student, ASSIGNMENT): similarity.fingerprint_notebook(path, ASSIGNMENT)
        for student, path in found.items()
    }
    assert all(taken.values())

    def files(fingerprinted):
        reports = similarity.compare_class(
            tmp_path,
            [ASSIGNMENT],
            prepare=similarity_files.prepare_html,
            fingerprinted=fingerprinted,
        )
        return reports[0], [
            write(reports)
            for write in (similarity_files.similarity_csv, similarity_files.similarity_html)
        ]

    read_here, expected = files(None)
    assert "copier" in (read_here.pairs[0].student_a, read_here.pairs[0].student_b)
    assert files(taken)[1] == expected
    # Fingerprints of nothing for the copier: used as given, its pair is gone...
    empty = dataclasses.replace(taken["copier", ASSIGNMENT], hashes=array("Q"))
    report, _ = files({**taken, ("copier", ASSIGNMENT): empty})
    assert "copier" in report.no_own_code
    assert all("copier" not in (pair.student_a, pair.student_b) for pair in report.pairs)
    # ...unless they are of another version of its file, or of another release: read again.
    for stale in (
        dataclasses.replace(empty, mtime_ns=empty.mtime_ns - 1),
        dataclasses.replace(empty, size=empty.size + 1),
        dataclasses.replace(empty, release_digest="0" * 64),
    ):
        assert files({**taken, ("copier", ASSIGNMENT): stale})[1] == expected


def test_a_large_class_is_fingerprinted_on_the_workers_and_nothing_else():
    """Is a task's notebook fingerprinted on its worker exactly when its assignment has more
    handed-in notebooks than the report keeps read at a time (a smaller one's report reads them
    all anyway, to show its pairs)?"""
    from autograder.grade.results import Task

    limit = similarity.READ_AGAIN
    tasks = [Task(f"s{i}", "large", Path(f"s{i}.ipynb"), []) for i in range(limit + 1)]
    tasks += [Task(f"s{i}", "small", Path(f"s{i}.ipynb"), []) for i in range(limit)]
    tasks += [Task(f"m{i}", "small", None, ["not handed in"]) for i in range(5)]
    marked = similarity.fingerprinted_on_workers(tasks)
    assert [task._replace(fingerprint=False) for task in marked] == tasks
    assert {task.assignment for task in marked if task.fingerprint} == {"large"}
    assert sum(task.fingerprint for task in marked) == limit + 1
