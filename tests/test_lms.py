"""Grades for the LMS: grades-wide.csv, and a Canvas gradebook export filled in and written back.

tests/data/canvas-gradebook-export.csv follows the layout Canvas exports (Gradebook > Export):
Student, ID, SIS User ID, SIS Login ID, Section, one column per assignment titled
"<name> (<canvas id>)", the read-only score columns, a "Points Possible" row under the header,
Canvas's test student, a UTF-8 byte-order mark and CRLF line endings.
"""

import csv
import io
import itertools
from pathlib import Path

from autograder.grade.results import NotebookResult, Status
from autograder.report import lms, outputs

TEMPLATE = Path(__file__).parent / "data" / "canvas-gradebook-export.csv"
KNOWN = ["01-word-embeddings", "02-rnn-limitations", "05-multi-head-attention"]
GRADES_CSV = """student_id,assignment,score,max_score,status,message
ada,01-word-embeddings,8,8,graded,
ada,05-multi-head-attention,12.5,14,graded,
grace@uni.edu,01-word-embeddings,6,8,graded,
grace@uni.edu,05-multi-head-attention,0,14,missing,missing notebook
ghost,01-word-embeddings,4,8,graded,
ghost,05-multi-head-attention,14,14,graded,
'=HYPERLINK(evil),01-word-embeddings,1,8,graded,
ada,99-unknown,,,error,unknown assignment
"""


def _grades(tmp_path) -> lms.Grades:
    path = tmp_path / "grades.csv"
    path.write_text(GRADES_CSV)
    return lms.read_grades(path, KNOWN)


def test_grades_wide_has_one_row_per_student_and_a_total(tmp_path):
    """One row per student, one column per assignment graded, the total; formulas neutralised?"""
    rows = list(csv.reader(io.StringIO(lms.grades_wide_csv(_grades(tmp_path)))))
    assert rows[0] == ["student_id", "01-word-embeddings", "05-multi-head-attention", "total"]
    by_student = {row[0]: row[1:] for row in rows[1:]}
    assert by_student["ada"] == ["8", "12.5", "20.5"]
    assert by_student["grace@uni.edu"] == ["6", "", "6"], "not handed in: an empty cell, not 0"
    assert by_student["'=HYPERLINK(evil)"] == ["1", "", "1"], (
        "a formula-like id is neutralised, a missing grade empty"
    )
    assert len(rows) == 1 + 4


def test_canvas_import_fills_matched_students_and_reports_the_rest(tmp_path):
    """Matched by SIS login exactly; a Canvas grade with none here kept; the rest named?"""
    template = TEMPLATE.read_bytes().decode("utf-8")
    result = lms.canvas_import(template, _grades(tmp_path))
    rows = list(csv.reader(io.StringIO(result.text.lstrip("\ufeff"))))
    by_login = {row[3]: row for row in rows[2:]}
    assert by_login["ada"][5:7] == ["8", "12.5"]
    assert by_login["Grace@Uni.edu"][5:7] == ["7.00", ""], "not grace@uni.edu: Canvas's kept"
    assert by_login["alan"][5:7] == ["3.00", ""], "no grade here: Canvas's grade is kept"
    assert by_login["pat"][5:7] == ["", ""]
    assert result.filled == {
        "01-word-embeddings": "01-word-embeddings (12345)",
        "05-multi-head-attention": "05-multi-head-attention (12349)",
    }
    assert result.matched == ["ada"]
    assert result.no_grade == ["Hopper, Grace", "Turing, Alan", 'O"Brien, Pat']
    assert result.not_in_canvas == ["=HYPERLINK(evil)", "ghost"]
    summary = result.summary()
    assert (
        "ghost" in summary and "Turing, Alan" in summary and "not in the Canvas export" in summary
    )
    assert "'grace@uni.edu' is not 'Grace@Uni.edu' in Canvas" in summary
    assert "Turing, Alan / 01-word-embeddings: 3.00 (no grade here)" in summary


def test_canvas_import_keeps_every_other_byte(tmp_path):
    """Does the round trip keep the BOM, CRLFs, quoting and every other column and row unchanged?"""
    template = TEMPLATE.read_bytes().decode("utf-8")
    result = lms.canvas_import(template, _grades(tmp_path))
    assert result.text.startswith("\ufeffStudent,ID,")
    before, after = template.split("\r\n"), result.text.split("\r\n")
    assert len(before) == len(after) and "\n" not in "".join(after)
    assert before[:2] == after[:2], "header and Points Possible rows are untouched"
    filled = {5, 6}
    for old, new in zip(
        lms.split_records(template.lstrip("\ufeff")),
        lms.split_records(result.text.lstrip("\ufeff")),
    ):
        assert len(old.fields) == len(new.fields) and old.end == new.end
        student_row = old.value(3).strip() != "" and not old.value(0).strip().lower().startswith(
            "points"
        )
        for index, (raw_old, raw_new) in enumerate(zip(old.fields, new.fields)):
            if not (student_row and index in filled):
                assert raw_old == raw_new, (index, raw_old, raw_new)
    test_student = next(line for line in after if line.startswith('"Student, Test"'))
    assert test_student == next(line for line in before if line.startswith('"Student, Test"'))
    # Filling with the template's own values gives the template back, byte for byte.
    same = lms.Grades(
        ["01-word-embeddings"],
        {"grace@uni.edu": {"01-word-embeddings": 7.0}, "alan": {"01-word-embeddings": 3.0}},
    )
    own = template.replace(",7.00,,4.00", ",7,,4.00").replace(",3.00,,2.00", ",3,,2.00")
    assert lms.canvas_import(own, same).text == own


def test_points_possible_that_differ_are_warned_about(tmp_path):
    template = TEMPLATE.read_text(encoding="utf-8-sig").replace(",8.00,14.00,", ",10.00,14.00,")
    result = lms.canvas_import(template, _grades(tmp_path))
    assert any("01-word-embeddings out of 10.00" in warning for warning in result.warnings)


def test_report_command_writes_canvas_import_and_summary(tmp_path, capsys):
    """Does `report OUT --canvas-template FILE` write canvas-import.csv, and name the unmatched?"""
    from autograder.__main__ import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "grades.csv").write_text(GRADES_CSV.replace("02-rnn", "xx"))
    assert (
        main(
            [
                "report",
                str(out),
                "--submitted",
                str(tmp_path / "none"),
                "--canvas-template",
                str(TEMPLATE),
            ]
        )
        == 0
    )
    assert (out / "canvas-import.csv").read_bytes().startswith(b"\xef\xbb\xbfStudent,ID,")
    summary = (out / "canvas-summary.txt").read_text()
    assert "ghost" in summary and "ghost" in capsys.readouterr().out
    assert (out / "grades-wide.csv").is_file()


def test_bad_template_is_refused_with_a_message(tmp_path, capsys):
    from autograder.__main__ import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "grades.csv").write_text(GRADES_CSV)
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Score\nAda,3\n")
    assert main(["report", str(out), "--canvas-template", str(bad)]) == 2
    assert "no SIS Login ID" in capsys.readouterr().err


def _result(student: str, assignment: str, status: Status, score: float = 0.0) -> NotebookResult:
    return NotebookResult(
        student=student,
        assignment=assignment,
        score=score,
        max_score=8.0,
        status=status,
        message="01-word-embeddings.ipynb: the notebook is not valid JSON (line 1)"
        if status is Status.ERROR
        else "",
    )


def test_ungradable_work_is_an_empty_cell_never_a_zero(tmp_path):
    """Does an error row give an empty score in grades.csv, grades-wide.csv (total too) and
    canvas-import.csv, and is it named with its reason in the Canvas summary?"""
    results = [
        _result("ada", "01-word-embeddings", Status.ERROR),
        _result("ada", "05-multi-head-attention", Status.GRADED, 12.0),
        _result("pat", "01-word-embeddings", Status.GRADED, 6.0),
    ]
    path = tmp_path / "grades.csv"
    path.write_text(outputs.grades_csv(results))
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert (rows[0]["status"], rows[0]["score"], rows[0]["max_score"]) == ("error", "", "8")
    grades = lms.read_grades(path, KNOWN)
    wide = {row[0]: row[1:] for row in csv.reader(io.StringIO(lms.grades_wide_csv(grades)))}
    assert wide["ada"] == ["", "12", ""], "no grade and no total: not 0, not 12"
    assert wide["pat"] == ["6", "", "6"]
    result = lms.canvas_import(TEMPLATE.read_bytes().decode("utf-8"), grades)
    by_login = {row[3]: row for row in csv.reader(io.StringIO(result.text.lstrip("\ufeff")))}
    assert by_login["ada"][5:7] == ["", "12"]
    summary = result.summary()
    assert "1 notebook could not be graded" in summary
    assert "ada / 01-word-embeddings: 01-word-embeddings.ipynb: the notebook is not valid JSON" in (
        summary
    )


def test_canvas_matches_ids_exactly_and_refuses_the_rest(tmp_path):
    """Does a folder 'alice ' (0/8) no longer take alice's 8/8, and is every fuzzy or ambiguous
    match refused and named, and every Canvas grade the import changes said?"""
    template = (
        "Student,ID,SIS User ID,SIS Login ID,Email,Section,01-word-embeddings (1)\n"
        "    Points Possible,,,,,,8.00\n"
        '"Liddell, Alice",1,S1,alice,alice@uni.edu,A,3.00\n'
        '"Both, Ids",2,S2,bob,carol@uni.edu,A,\n'
        '"Twice, Dan",3,S3,dan,,A,\n'
        '"Again, Dan",4,S4,dan2,dan,A,\n'
    )
    grades = lms.Grades(
        ["01-word-embeddings"],
        {
            "alice": {"01-word-embeddings": 8.0},
            "alice ": {"01-word-embeddings": 0.0},
            "bob": {"01-word-embeddings": 5.0},
            "carol@uni.edu": {"01-word-embeddings": 6.0},
            "dan": {"01-word-embeddings": 7.0},
        },
    )
    result = lms.canvas_import(template, grades)
    rows = {row[3]: row[6] for row in csv.reader(io.StringIO(result.text))}
    assert rows["alice"] == "8", "alice's own grade, not the 0 of 'alice '"
    assert rows["bob"] == "" and rows["dan"] == "" and rows["dan2"] == ""
    assert result.matched == ["alice"]
    summary = result.summary()
    assert "'alice ' is not 'alice' in Canvas" in summary
    assert "Canvas row 'Both, Ids' matches 2 ids: 'bob', 'carol@uni.edu'" in summary
    assert summary.count("'dan' matches 2 Canvas rows: 'Twice, Dan', 'Again, Dan'") == 1
    assert "Liddell, Alice (alice) / 01-word-embeddings: 3.00 -> 8" in summary
    assert "1 grade that Canvas holds would change" in summary


def test_formula_guard_is_reversible_and_never_makes_two_ids_equal():
    """For every short string of formula starts, quotes and letters: is the written cell safe,
    distinct from every other one's, and read back as it was?"""
    alphabet = ["=", "'", "+", "-", "@", "\t", "a", " "]
    values = ["".join(chars) for n in range(4) for chars in itertools.product(alphabet, repeat=n)]
    written = {value: outputs.spreadsheet_safe(value) for value in values}
    assert len(set(written.values())) == len(values)
    for value, cell in written.items():
        assert not cell.startswith(outputs.FORMULA_STARTS)
        assert outputs.spreadsheet_value(cell) == value


def test_grades_wide_never_merges_two_ids(tmp_path):
    """Do '=a' and a student whose id is "'=a" stay two rows, each with its own grade?"""
    results = [
        _result("=a", "01-word-embeddings", Status.GRADED, 1.0),
        _result("'=a", "01-word-embeddings", Status.GRADED, 2.0),
    ]
    path = tmp_path / "grades.csv"
    path.write_text(outputs.grades_csv(results))
    grades = lms.read_grades(path, KNOWN)
    assert grades.scores == {"=a": {"01-word-embeddings": 1.0}, "'=a": {"01-word-embeddings": 2.0}}
    rows = list(csv.reader(io.StringIO(lms.grades_wide_csv(grades))))[1:]
    assert sorted(rows) == [["''=a", "2", "2"], ["'=a", "1", "1"]]


def test_a_canvas_import_made_from_other_grades_is_removed(tmp_path, capsys):
    """After a regrade changes grades.csv, does `report OUT` (which the grading command runs at
    its end) remove the canvas-import.csv made from the old grades, and say so?"""
    from autograder.__main__ import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "grades.csv").write_text(GRADES_CSV)
    common = ["report", str(out), "--submitted", str(tmp_path / "none")]
    assert main([*common, "--canvas-template", str(TEMPLATE)]) == 0
    assert main(common) == 0  # the same grades: the import still holds
    assert (out / "canvas-import.csv").exists() and (out / "canvas-summary.txt").exists()
    capsys.readouterr()
    (out / "grades.csv").write_text(
        GRADES_CSV.replace("ada,01-word-embeddings,8", "ada,01-word-embeddings,7")
    )
    assert main(common) == 0
    assert not (out / "canvas-import.csv").exists() and not (out / "canvas-summary.txt").exists()
    assert "removed canvas-import.csv" in capsys.readouterr().out
