"""Grades for the LMS: grades-wide.csv, and a Canvas gradebook export filled in and written back.

tests/data/canvas-gradebook-export.csv follows the layout Canvas exports (Gradebook > Export):
Student, ID, SIS User ID, SIS Login ID, Section, one column per assignment titled
"<name> (<canvas id>)", the read-only score columns, a "Points Possible" row under the header,
Canvas's test student, a UTF-8 byte-order mark and CRLF line endings.
"""

import csv
import io
from pathlib import Path

from autograder.report import lms

TEMPLATE = Path(__file__).parent / "data" / "canvas-gradebook-export.csv"
KNOWN = ["01-word-embeddings", "02-rnn-limitations", "05-multi-head-attention"]
GRADES_CSV = """student_id,assignment,score,max_score,status,message
ada,01-word-embeddings,8,8,graded,
ada,05-multi-head-attention,12.5,14,graded,
grace@uni.edu,01-word-embeddings,6,8,graded,
grace@uni.edu,05-multi-head-attention,0,14,missing,missing notebook
ghost,01-word-embeddings,4,8,graded,
ghost,05-multi-head-attention,14,14,graded,
=HYPERLINK(evil),01-word-embeddings,1,8,graded,
ada,99-unknown,0,,error,unknown assignment
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
    """Matched by SIS login (case-insensitive, e-mail or username), missing ones empty, others
    named?"""
    template = TEMPLATE.read_bytes().decode("utf-8")
    result = lms.canvas_import(template, _grades(tmp_path))
    rows = list(csv.reader(io.StringIO(result.text.lstrip("\ufeff"))))
    by_login = {row[3]: row for row in rows[2:]}
    assert by_login["ada"][5:7] == ["8", "12.5"]
    assert by_login["Grace@Uni.edu"][5:7] == ["6", ""]
    assert by_login["alan"][5:7] == ["", ""], "a Canvas student with no grade gets empty cells"
    assert by_login["pat"][5:7] == ["", ""]
    assert result.filled == {
        "01-word-embeddings": "01-word-embeddings (12345)",
        "05-multi-head-attention": "05-multi-head-attention (12349)",
    }
    assert sorted(result.matched) == ["ada", "grace@uni.edu"]
    assert result.no_grade == ["Turing, Alan", 'O"Brien, Pat']
    assert result.not_in_canvas == ["=HYPERLINK(evil)", "ghost"]
    summary = result.summary()
    assert (
        "ghost" in summary and "Turing, Alan" in summary and "not in the Canvas export" in summary
    )


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
    assert "ghost" in summary and "ghost" in capsys.readouterr().err
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
