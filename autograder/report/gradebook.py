"""The nbgrader gradebook, so that ``nbgrader export`` and formgrader work on the grades.

By default it is OUT/gradebook.db (SQLite); ``--db-url`` takes any SQLAlchemy URL nbgrader takes
(``CourseDirectory.db_url``), such as ``postgresql://grader@dbhost/course``. The assignment
structure (grade cells with their points, solution cells, source cells) is taken from solutions/,
as ``nbgrader generate_assignment`` would record it, once per assignment; each result becomes a
submission whose test cells carry the auto scores. Only the grading command's main process writes
it, as results arrive, committing every ``batch`` results; a re-run updates the same rows (manual
scores a grader entered in formgrader are kept, and flagged for review).

Several grading runs may write one PostgreSQL gradebook at the same time (disjoint students):
nbgrader creates its schema, course, assignment, notebook and cell rows by "find, else insert",
which two runs racing on an empty database turn into a duplicate-key error. Each write therefore
holds a PostgreSQL advisory lock of this database. SQLite needs none: one OUT is written by one
run (OUT/.grading.lock) and SQLite locks its file for each transaction.

A student id longer than nbgrader's column for it (``student.id``, ``varchar(128)``, which
PostgreSQL enforces and SQLite does not) is refused before grading (``student_id_problem``, called
where the submissions are found), so every gradebook gets the same rows. Any other result the
database refuses to store (a value it rejects) is set aside in ``refused``, with the database's
reason, and the rest of the batch is written: the command turns it into an error row.

Only a graded notebook writes scores. A notebook missing or not gradable in this run records the
student and leaves any earlier submission as it was: a re-run into the same OUT never replaces a
recorded score by a zero (``nbgrader export`` counts a student without a submission as 0).

A graded notebook's submission carries what nbgrader's autograde records: its timestamp (the
submission's timestamp.txt, else the notebook file's time: formgrader counts a submission as
autograded only when the two agree), the test cells' auto scores, its written answers (an answer
left as released scores 0 with the comment "No response.", as nbgrader's SaveAutoGrades does; any
other awaits a grader), and the late penalty. The penalty is nbgrader's: the due date is the
assignment's in the gradebook (set in formgrader or with ``nbgrader db assignment add ID
--duedate=...``) and the policy is nbgrader's LateSubmissionPlugin (or the class set as
``AssignLatePenalties.plugin_class``), configured as for ``python -m autograder nbgrader``
(``late_policy``). The writer then hands back each result as the gradebook has it (``settled``):
the written answers' scores a grader gave, and the penalty, which grades.csv reports too.
"""

import contextlib
import types
import warnings
from dataclasses import replace
from pathlib import Path

from autograder import course
from autograder.course.nbgrader_runs import NBGRADER_CONFIG
from autograder.course.notebook_format import cell_source, nbgrader_metadata
from autograder.grade.messages import summary, total_score
from autograder.grade.results import NotebookResult, Status

BATCH = 50  # results per commit: a crash loses at most this many, and commits stay few
ADVISORY_LOCK = 0x6D68615F67726164  # any fixed 64-bit key; "mha_grad" in ASCII


class GradebookUnavailable(Exception):
    """The gradebook's database cannot be opened (a wrong URL, no server, no driver)."""


def gradebook_url(out: Path, db_url: str | None = None) -> str:
    """The SQLAlchemy URL to write: `db_url`, a relative SQLite path made absolute (nbgrader run
    in OUT must find the same file), or OUT/gradebook.db."""
    if not db_url:
        return f"sqlite:///{out.resolve() / 'gradebook.db'}"
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_absolute():
        absolute = url.set(database=str(Path(url.database).resolve()))
        return absolute.render_as_string(hide_password=False)
    return db_url


# The length of nbgrader's student.id column (nbgrader.api.Student), held here so that the
# submissions can be listed before nbgrader is imported (a second of CPU, which the grading command
# spends while its workers start); tests/unit/test_collect.py reads it from nbgrader's model.
STUDENT_ID_LENGTH = 128


def student_id_problem(student: str) -> str | None:
    """Why nbgrader's gradebook cannot store `student` as a student id (longer than its column),
    or None."""
    if len(student) > STUDENT_ID_LENGTH:
        return (
            f"it is {len(student)} characters long, and nbgrader's gradebook stores student ids "
            f"of at most {STUDENT_ID_LENGTH} characters"
        )
    return None


def _refusal(error: BaseException) -> str | None:
    """The database's reason when `error` is its refusal of a value (SQLAlchemy's DataError,
    possibly wrapped by nbgrader), or None for any other failure (which is not the result's)."""
    from sqlalchemy.exc import DataError

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DataError):
            return _first_line(error.orig if error.orig is not None else error)
        error = error.__cause__ or error.__context__
    return None


def shown(db_url: str) -> str:
    """The URL as printed: without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing in it to hide
        return db_url


def _record_assignment(gradebook, assignment: str) -> None:
    import nbformat
    from nbgrader.utils import compute_checksum

    notebook = nbformat.read(course.solution_notebook(assignment), as_version=4)
    name = Path(course.notebook_name(assignment)).stem
    gradebook.update_or_create_assignment(assignment)
    gradebook.update_or_create_notebook(name, assignment)
    for cell in notebook.cells:
        metadata = nbgrader_metadata(cell)
        grade_id = metadata.get("grade_id")
        if not grade_id:
            continue
        if metadata.get("grade"):
            gradebook.update_or_create_grade_cell(
                grade_id,
                name,
                assignment,
                max_score=float(metadata.get("points", 0)),
                cell_type=cell.cell_type,
            )
        if metadata.get("solution"):
            gradebook.update_or_create_solution_cell(grade_id, name, assignment)
        gradebook.update_or_create_source_cell(
            grade_id,
            name,
            assignment,
            cell_type=cell.cell_type,
            locked=bool(metadata.get("locked")),
            source=cell_source(cell),
            checksum=compute_checksum(cell),
        )


@contextlib.contextmanager
def _commits_deferred(session):
    """Within the block, nbgrader's calls on `session` flush where they would commit: their rows
    are written in one transaction, which the caller commits (nbgrader rolls back and raises on
    a database error, as before)."""
    session.commit = session.flush  # on this session object only, for this block only
    try:
        yield
    finally:
        del session.commit


class LatePolicyUnavailable(Exception):
    """The late-submission policy that nbgrader's configuration names cannot be loaded."""


class LatePolicy:
    """nbgrader's late-submission policy: the plugin that ``nbgrader autograde`` would use
    (``AssignLatePenalties.plugin_class``, by default LateSubmissionPlugin with its
    ``penalty_method``, "none" or "zero"), and nbgrader's own bounds on what it returns (from 0 to
    the notebook's score)."""

    def __init__(self, config=None):
        from nbgrader.preprocessors import AssignLatePenalties

        try:
            self._assigner = AssignLatePenalties(config=config)
            self._assigner.init_plugin()
        except Exception as error:  # an instructor's class that cannot be imported or built
            raise LatePolicyUnavailable(f"{type(error).__name__}: {error}") from error
        self.plugin = self._assigner.plugin_inst

    def describe(self) -> str:
        plugin = type(self.plugin)
        method = getattr(self.plugin, "penalty_method", None)
        return f"{plugin.__module__}.{plugin.__qualname__}" + (f" ({method!r})" if method else "")

    def penalty(self, student: str, score: float, seconds_late: float) -> float:
        """What to take off a notebook scored `score` that came `seconds_late` after its due
        date."""
        if seconds_late <= 0:
            return 0.0
        penalty = self.plugin.late_submission_penalty(student, score, seconds_late)
        if penalty is None:
            return 0.0
        bounded = self._assigner._check_late_penalty(types.SimpleNamespace(score=score), penalty)
        return float(bounded)


def late_policy() -> LatePolicy:
    """The policy in nbgrader's configuration as ``python -m autograder nbgrader`` reads it: the
    course's nbgrader_config.py (autograder/course/), then the instructor's Jupyter configuration
    (``~/.jupyter/nbgrader_config.py``, $JUPYTER_CONFIG_PATH...)."""
    from nbgrader.apps.baseapp import NbGrader

    app = NbGrader(config_dir=str(NBGRADER_CONFIG.parent))
    app.load_cwd_config = False  # the grading command's folder is incidental
    try:
        app.load_config_file()
    except Exception as error:
        raise LatePolicyUnavailable(f"{type(error).__name__}: {error}") from error
    return LatePolicy(app.config)


def _alembic_head() -> str:
    """The schema version nbgrader stamps on a new gradebook, read in-process (nbgrader runs the
    `alembic` script for it, which needs the venv's bin/ on PATH and a temporary folder)."""
    import nbgrader
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    return ScriptDirectory.from_config(config).get_current_head()


@contextlib.contextmanager
def _alembic_head_in_process():
    """nbgrader.api.get_alembic_version replaced by `_alembic_head` for one gradebook's opening
    only, and restored afterwards, so that nbgrader elsewhere in this process is nbgrader."""
    import nbgrader.api

    original = nbgrader.api.get_alembic_version
    nbgrader.api.get_alembic_version = _alembic_head
    try:
        yield
    finally:
        nbgrader.api.get_alembic_version = original


class GradebookWriter:
    """Writes results into the gradebook at `db_url` as they arrive:

        with GradebookWriter(url, course.assignments()) as gradebook:
            for result in results:
                gradebook.add(result)

    Results are committed every `batch` of them and at the end (also when the run stops with an
    exception, so what was graded is kept). A result the database refuses to store is left out,
    its reason kept in `refused`: {(student, assignment): the database's reason}."""

    def __init__(
        self,
        db_url: str,
        known: list,
        batch: int = BATCH,
        policy: LatePolicy | None = None,
        bulk: bool = True,
    ):
        self.db_url, self.known, self.batch, self.bulk = db_url, list(known), batch, bulk
        self.policy = policy or LatePolicy()  # nbgrader's default: no penalty
        self.settled = {}  # (student, assignment) -> the result as the gradebook has it
        self.refused: dict[tuple[str, str], str] = {}
        self.gradebook = None
        self._lock_connection = None
        self._lock_engine = None
        self._recorded = set()  # assignments whose structure this writer has recorded
        self._pending = []
        self.written = 0

    # -- opening and closing

    @staticmethod
    def load() -> None:
        """Import what `open` needs (nbgrader's gradebook, SQLAlchemy, alembic: a second or so),
        ahead of it, for a caller that has time to spare elsewhere."""
        import alembic.script  # noqa: F401
        import nbgrader.api  # noqa: F401
        import nbgrader.utils  # noqa: F401

    def open(self) -> "GradebookWriter":
        """Connect and create nbgrader's tables if the database has none. Raises
        GradebookUnavailable, before any grading, when the database cannot be used."""
        if self.gradebook is not None:
            return self
        from nbgrader.api import Gradebook

        try:
            if self.db_url.startswith("postgresql"):
                from sqlalchemy import create_engine
                from sqlalchemy.pool import NullPool

                # One connection of its own holds the advisory lock across nbgrader's commits.
                self._lock_engine = create_engine(self.db_url, poolclass=NullPool)
                self._lock_connection = self._lock_engine.connect()
            with self._exclusive(), _alembic_head_in_process(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.gradebook = Gradebook(self.db_url)
        except Exception as error:
            self._close_lock()
            raise GradebookUnavailable(f"{shown(self.db_url)}: {_first_line(error)}") from error
        return self

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self.gradebook is not None:
                self.gradebook.close()
                self.gradebook = None
            self._close_lock()

    def __enter__(self) -> "GradebookWriter":
        return self.open()

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        self.close()

    def _close_lock(self) -> None:
        if self._lock_connection is not None:
            self._lock_connection.close()
            self._lock_engine.dispose()
        self._lock_connection = self._lock_engine = None

    @contextlib.contextmanager
    def _exclusive(self):
        """This database to this writer alone (PostgreSQL); a no-op on SQLite."""
        if self._lock_connection is None:
            yield
            return
        from sqlalchemy import text

        self._lock_connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK})
        self._lock_connection.commit()
        try:
            yield
        finally:
            self._lock_connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK}
            )
            self._lock_connection.commit()

    # -- writing

    def add(self, result: dict) -> None:
        """Queue one result; every `batch` results are written and committed together."""
        if result.assignment not in self.known or result.max_score is None:
            return  # no assignment of this course, or nothing to score: grades.csv says why
        self._pending.append(result)
        if len(self._pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self._pending or self.gradebook is None:
            return
        pending, self._pending = self._pending, []
        with self._exclusive(), warnings.catch_warnings():
            # nbgrader's own add_submission warns about SQLAlchemy sessions
            warnings.simplefilter("ignore")
            try:
                self._commit(pending)
            except Exception as error:
                self.gradebook.db.rollback()
                if _refusal(error) is None:
                    raise
                # A value was refused, and what was not yet committed rolled back: each result
                # again (the writes are idempotent), committed alone, to find which.
                for result in pending:
                    try:
                        self._commit([result])
                    except Exception as error:
                        self.gradebook.db.rollback()
                        reason = _refusal(error)
                        if reason is None:
                            raise
                        self.refused[result.student, result.assignment] = reason
        self.written += len(pending)

    def _commit(self, results: list) -> None:
        """`results` in one transaction: in bulk, or one nbgrader call at a time (`bulk` off, and
        the search for a result the database refuses)."""
        if self.bulk and len(results) > 1:
            self._write_batch(results)
        else:
            for result in results:
                self._write(result)
        self.gradebook.db.commit()

    def _record_structure(self, assignments) -> None:
        """The assignments' notebooks and cells as nbgrader's update_or_create calls make them,
        committed together before any result (a result refused later rolls back only its own
        batch). nbgrader commits after every call: one commit per cell, on SQLite a sync of the
        file each, took 1.2 s for the eight assignments; one commit for all, 0.8 s."""
        new = sorted(set(assignments) - self._recorded)
        if not new:
            return
        with _commits_deferred(self.gradebook.db):
            for assignment in new:
                _record_assignment(self.gradebook, assignment)
        self.gradebook.db.commit()
        self._recorded.update(new)

    def _write(self, result: NotebookResult) -> None:
        """One result through nbgrader's API, as ``nbgrader autograde`` writes one (which
        commits the student and a new submission on its own), and one query per cell."""
        from nbgrader.api import MissingEntry

        gradebook = self.gradebook
        student, assignment = result.student, result.assignment
        self._record_structure([assignment])
        gradebook.update_or_create_student(student)
        if result.status is not Status.GRADED:
            return
        notebook = Path(course.notebook_name(assignment)).stem
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            submission = gradebook.add_submission(assignment, student)

        def row(kind: str, grade_id: str):
            return _row(kind, gradebook, grade_id, notebook, assignment, student)

        self._score(result, submission, row)

    def _write_batch(self, results: list) -> None:
        """Results in bulk, the same rows as `_write` makes: the batch's students, submissions,
        grades and comments are read in a few queries, a new submission is built as nbgrader's
        add_submission builds it (a submitted notebook per notebook, a grade per grade cell, a
        comment per solution cell, both per task cell) and inserted with one statement per table,
        and nothing is committed here."""
        from nbgrader.api import (
            Assignment,
            Comment,
            Grade,
            Notebook,
            Student,
            SubmittedAssignment,
            SubmittedNotebook,
            new_uuid,
        )
        from sqlalchemy import select
        from sqlalchemy.orm import joinedload, selectinload
        from sqlalchemy.orm.attributes import set_committed_value

        db = self.gradebook.db
        self._record_structure({result.assignment for result in results})
        students = {result.student for result in results}
        present = set(db.scalars(select(Student.id).where(Student.id.in_(students))))
        for student in sorted(students - present):
            db.add(Student(id=student))
        graded = [result for result in results if result.status is Status.GRADED]
        if not graded:
            return
        names = {result.assignment for result in graded}
        assignments = {
            assignment.name: assignment
            for assignment in db.scalars(
                select(Assignment)
                .where(Assignment.name.in_(names))
                .options(selectinload(Assignment.notebooks).selectinload(Notebook._base_cells))
            )
        }
        submissions = {
            (submission.assignment.name, submission.student_id): submission
            for submission in db.scalars(
                select(SubmittedAssignment)
                .join(SubmittedAssignment.assignment)
                .where(
                    Assignment.name.in_(names),
                    SubmittedAssignment.student_id.in_({result.student for result in graded}),
                )
                .options(
                    joinedload(SubmittedAssignment.assignment),
                    selectinload(SubmittedAssignment.notebooks).options(
                        joinedload(SubmittedNotebook.notebook),
                        selectinload(SubmittedNotebook.grades).joinedload(Grade.cell),
                        selectinload(SubmittedNotebook.comments).joinedload(Comment.cell),
                    ),
                )
            )
        }
        # (assignment, student) -> notebook name -> (submitted notebook, its grade and comment
        # rows by cell name)
        notebooks = {
            key: {
                submitted.notebook.name: (
                    submitted,
                    {
                        "grade": {grade.cell.name: grade for grade in submitted.grades},
                        "comment": {comment.cell.name: comment for comment in submitted.comments},
                    },
                )
                for submitted in submission.notebooks
            }
            for key, submission in submissions.items()
        }
        new = []  # the batch's new submissions: (submission, its notebooks' rows)
        for result in graded:
            key = (result.assignment, result.student)
            if key not in submissions:  # as nbgrader's add_submission builds it
                assignment = assignments[result.assignment]
                # Outside the session, inserted below with SQLAlchemy Core: the ORM's unit of
                # work (a flush of each object, then the commit's bookkeeping) took most of a
                # batch's time. Each row gets its id here, as nbgrader's column default would,
                # and names its parent by id; the relationships that _score reads are set
                # without events, so that nothing in the session refers to these rows.
                submission = SubmittedAssignment(
                    id=new_uuid(), assignment_id=assignment.id, student_id=result.student
                )
                set_committed_value(submission, "assignment", assignment)
                notebooks[key] = {}
                for notebook in assignment.notebooks:
                    submitted = SubmittedNotebook(
                        id=new_uuid(), notebook_id=notebook.id, assignment_id=submission.id
                    )
                    set_committed_value(submitted, "assignment", submission)

                    def new_row(kind, cell, submitted=submitted):
                        found = (Grade if kind == "grade" else Comment)(
                            id=new_uuid(), cell_id=cell.id, notebook_id=submitted.id
                        )
                        set_committed_value(found, "notebook", submitted)
                        return found

                    rows = {"grade": {}, "comment": {}}
                    for cell in notebook.grade_cells:
                        rows["grade"][cell.name] = new_row("grade", cell)
                    for cell in notebook.solution_cells:
                        rows["comment"][cell.name] = new_row("comment", cell)
                    for cell in notebook.task_cells:
                        rows["comment"][cell.name] = new_row("comment", cell)
                        rows["grade"][cell.name] = new_row("grade", cell)
                    notebooks[key][notebook.name] = (submitted, rows)
                new.append((submission, notebooks[key]))
                submissions[key] = submission
            name = Path(course.notebook_name(result.assignment)).stem
            rows = notebooks[key][name][1]

            def row(kind: str, grade_id: str, rows=rows, name=name, result=result):
                if grade_id not in rows[kind]:  # the submission predates the cell (rare)
                    rows[kind][grade_id] = _row(
                        kind, self.gradebook, grade_id, name, result.assignment, result.student
                    )
                return rows[kind][grade_id]

            self._score(result, submissions[key], row)
        if new:
            db.flush()  # the batch's new students, before the rows that name them
            _insert(db, [submission for submission, _ in new])
            _insert(db, [row for _, by_name in new for row, _ in by_name.values()])
            for kind in ("grade", "comment"):
                _insert(
                    db,
                    [
                        row
                        for _, by_name in new
                        for _, rows in by_name.values()
                        for row in rows[kind].values()
                    ],
                )

    def _score(self, result: NotebookResult, submission, row) -> None:
        """The graded `result` into its `submission`, whose grade and comment rows `row(kind,
        grade_id)` gives; `settled` gets the result as the gradebook then has it."""
        from nbgrader.utils import parse_utc

        student, assignment = result.student, result.assignment
        timestamp = parse_utc(result.submitted.timestamp) if result.submitted else None
        resubmitted = submission.timestamp != timestamp
        submission.timestamp = timestamp
        grades = []  # every grade of the notebook: its test cells' and its written answers'
        for test in result.tests:
            grade = row("grade", test.grade_id)
            grade.auto_score = float(test.score)
            grade.needs_manual_grade = grade.manual_score is not None
            grades.append(grade)
        written = []
        for answer in result.written:
            grade = row("grade", answer.grade_id)
            grades.append(grade)
            grade.auto_score = None if answer.answered else 0.0
            # A grader's score stands until the learner hands in again (nbgrader flags it on
            # every autograde; a re-run of this command that grades nothing new must not).
            if answer.answered:
                grade.needs_manual_grade = grade.manual_score is None or resubmitted
            else:
                grade.needs_manual_grade = grade.manual_score is not None and resubmitted
            comment = row("comment", answer.grade_id)
            comment.auto_comment = None if answer.answered else "No response."
            given = grade.manual_score if grade.manual_score is not None else grade.auto_score
            extra = grade.extra_credit or 0.0
            written.append(replace(answer, score=None if given is None else given + extra))
        settled = replace(result, written=tuple(written))
        seconds_late = submission.total_seconds_late
        penalty = self.policy.penalty(student, sum(map(_score, grades)), seconds_late)
        for submitted in {id(grade.notebook): grade.notebook for grade in grades}.values():
            submitted.late_submission_penalty = penalty if seconds_late > 0 else None
        if result.submitted is not None:
            duedate = submission.duedate
            settled = replace(
                settled,
                submitted=replace(
                    result.submitted,
                    duedate=None if duedate is None else f"{duedate:%Y-%m-%d %H:%M:%S} UTC",
                    seconds_late=float(seconds_late),
                    late_penalty=penalty,
                ),
            )
        settled = replace(settled, score=total_score(settled))
        self.settled[student, assignment] = replace(settled, message=summary(settled))


def _insert(db, rows: list) -> None:
    """Insert new nbgrader objects of one class, none of them in the session, in one statement
    of SQLAlchemy Core: each column the value set on the object, else the column's fixed default
    (None if it has none), as the ORM's flush would write it. A column whose default is a function
    (the ids) must be set on the object."""
    from sqlalchemy import insert, inspect

    if not rows:
        return
    table = type(rows[0]).__table__
    fixed = {
        column.key: column.default.arg if column.default is not None else None
        for column in table.columns
        if column.default is None or column.default.is_scalar
    }
    computed = [column.key for column in table.columns if column.key not in fixed]
    values = []
    for row in rows:
        given = inspect(row).dict
        value = {key: given.get(key, default) for key, default in fixed.items()}
        value.update((key, given[key]) for key in computed)
        values.append(value)
    db.execute(insert(table), values)


def _score(grade) -> float:
    """nbgrader's Grade.score, from the objects in this session (the column is computed by the
    database, which has not seen this session's changes yet)."""
    given = grade.manual_score if grade.manual_score is not None else grade.auto_score
    return 0.0 if given is None else given + (grade.extra_credit or 0.0)


def _row(kind: str, gradebook, grade_id: str, notebook: str, assignment: str, student: str):
    """The submission's "grade" or "comment" row of a cell; created when the submission predates
    the cell (a written answer added to an assignment after its first grading)."""
    from nbgrader.api import Comment, Grade, MissingEntry

    find, find_cell, row_class = {
        "grade": (gradebook.find_grade, gradebook.find_grade_cell, Grade),
        "comment": (gradebook.find_comment, gradebook.find_solution_cell, Comment),
    }[kind]
    try:
        return find(grade_id, notebook, assignment, student)
    except MissingEntry:
        cell = find_cell(grade_id, notebook, assignment)
        submitted = gradebook.find_submission_notebook(notebook, assignment, student)
        row = row_class(cell_id=cell.id, notebook=submitted)
        gradebook.db.add(row)
        return row


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def write_gradebook(results: list, target, known: list) -> None:
    """All of `results` at once into `target`: a SQLite file's path or a database URL."""
    url = f"sqlite:///{target}" if isinstance(target, Path) else target
    with GradebookWriter(url, known) as gradebook:
        for result in results:
            gradebook.add(result)
