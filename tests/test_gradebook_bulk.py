"""The gradebook written in bulk (GradebookWriter's batches, one transaction each) holds the same
rows as written one nbgrader call at a time (``bulk=False``, the path nbgrader's own API takes),
in every table, on SQLite and on a real PostgreSQL server: a first grading of the demo class, and
a second one after a grader's manual score, a due date, a written answer that one submission
predates, and resubmissions, with nbgrader's "zero" late penalty. Only the generated ids differ;
rows are compared with each id replaced by the row it names."""

import dataclasses
import datetime
from pathlib import Path

import pytest
from traitlets.config import Config

from autograder import course
from autograder.grade.results import NotebookResult, Status
from autograder.report.gradebook import GradebookWriter, LatePolicy

pytestmark = pytest.mark.slow  # the demo class graded, a PostgreSQL server

WRITTEN = "06-why-multi-head"
LATE = "03-self-attention"


def table_rows(url: str) -> dict[str, list[str]]:
    """table -> its rows, sorted, each as text with generated ids replaced by what they name."""
    from nbgrader.api import Base
    from sqlalchemy import create_engine, select

    engine = create_engine(url)
    labels = {}  # a generated id -> the label of its row
    dumped = {}
    try:
        with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:  # parents before the rows that name them
                generated = {
                    column.name
                    for column in table.primary_key.columns
                    if column.default is not None  # nbgrader's new_uuid
                }
                rows = []
                for row in connection.execute(select(table)).mappings():
                    shown = tuple(
                        (name, labels.get(value, value) if _names_a_row(table, name) else value)
                        for name, value in sorted(row.items())
                        if name not in generated
                    )
                    label = f"{table.name}{shown!r}"
                    for name in generated:
                        labels[row[name]] = label
                    rows.append(label)
                dumped[table.name] = sorted(rows)
    finally:
        engine.dispose()
    return dumped


def _names_a_row(table, name: str) -> bool:
    return bool(table.columns[name].foreign_keys)


def write(url: str, results: list, policy: LatePolicy, bulk: bool) -> GradebookWriter:
    with GradebookWriter(url, course.assignments(), policy=policy, bulk=bulk) as writer:
        for result in results:
            writer.add(result)
    return writer


def a_graders_changes(url: str, written_answer: tuple[str, str, str]) -> None:
    """What a grader does between two runs: a due date, and a manual score on a written answer."""
    from nbgrader.api import Gradebook

    student, assignment, grade_id = written_answer
    with Gradebook(url) as gradebook:
        gradebook.update_or_create_assignment(LATE, duedate=datetime.datetime(2020, 1, 1))
        notebook = Path(course.notebook_name(assignment)).stem
        grade = gradebook.find_grade(grade_id, notebook, assignment, student)
        grade.manual_score = 1.0
        gradebook.db.commit()


def a_cell_added_since(url: str, written_answer: tuple[str, str, str]) -> None:
    """A written answer added to the assignment after a submission was graded: the submission has
    no grade and no comment for that cell until it is written again."""
    from nbgrader.api import Gradebook

    student, assignment, grade_id = written_answer
    notebook = Path(course.notebook_name(assignment)).stem
    with Gradebook(url) as gradebook:
        gradebook.db.delete(gradebook.find_grade(grade_id, notebook, assignment, student))
        gradebook.db.delete(gradebook.find_comment(grade_id, notebook, assignment, student))
        gradebook.db.commit()


def later(result: NotebookResult) -> NotebookResult:
    """The same result, handed in again a day later."""
    if result.submitted is None:
        return result
    day, time, zone = result.submitted.timestamp.split(" ")  # "2026-12-01 17:05:00.000000 UTC"
    stamp = datetime.datetime.fromisoformat(f"{day} {time}") + datetime.timedelta(days=1)
    timestamp = f"{stamp:%Y-%m-%d %H:%M:%S.%f} {zone}"
    return dataclasses.replace(
        result, submitted=dataclasses.replace(result.submitted, timestamp=timestamp)
    )


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_bulk_writes_the_same_rows_as_one_call_at_a_time(
    database, graded_demo_class, tmp_path, request
):
    results = [NotebookResult.from_dict(row) for row in graded_demo_class.results.values()]
    results.sort(key=lambda result: (result.student, result.assignment))
    written, predated = [
        (result.student, result.assignment, result.written[0].grade_id)
        for result in results
        if result.assignment == WRITTEN and result.status is Status.GRADED and result.written
    ][:2]
    assert any(result.status is not Status.GRADED for result in results)  # rows without scores
    # A student id PostgreSQL refuses (SQLite stores it), in the first run: set aside alike on
    # both paths. Not in the second: one call at a time, nbgrader commits the results before it
    # in its batch, whose retry then no longer sees them handed in again (a grader's score is
    # not flagged for review), where the bulk path's batch is rolled back whole.
    refused = dataclasses.replace(results[0], student="y" * 129)
    first = results[:40] + [refused] + results[40:]
    # The second run: half the class handed in again, every result written again.
    second = [later(result) if index % 2 else result for index, result in enumerate(results)]
    policy = LatePolicy(Config({"LateSubmissionPlugin": {"penalty_method": "zero"}}))

    if database == "postgresql":
        server = request.getfixturevalue("postgresql_server")
        urls = {bulk: server.create_database(f"bulk_{str(bulk).lower()}") for bulk in (1, 0)}
    else:
        urls = {bulk: f"sqlite:///{tmp_path / f'bulk-{bulk}.db'}" for bulk in (1, 0)}
    writers, first_writers = {}, {}
    for bulk, url in urls.items():
        first_writers[bulk] = write(url, first, policy, bool(bulk))
        a_graders_changes(url, written)
        a_cell_added_since(url, predated)
        writers[bulk] = write(url, second, policy, bool(bulk))

    bulk, one_by_one = table_rows(urls[1]), table_rows(urls[0])
    assert bulk.keys() == one_by_one.keys()
    for table in one_by_one:
        assert bulk[table] == one_by_one[table], table
    assert len(bulk["grade"]) > 100 and len(bulk["submitted_assignment"]) > 20
    assert writers[1].settled == writers[0].settled
    assert first_writers[1].settled == first_writers[0].settled
    assert first_writers[1].refused == first_writers[0].refused
    if database == "postgresql":
        assert list(first_writers[1].refused) == [(refused.student, refused.assignment)]
    # The grader's changes are there: a late penalty, and the manual score kept.
    settled = writers[1].settled
    assert any(
        result.submitted is not None and result.submitted.late_penalty
        for (student, assignment), result in settled.items()
        if assignment == LATE
    )
    assert settled[written[:2]].written[0].score is not None
