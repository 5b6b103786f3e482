"""OUT/gradebook.db: an nbgrader gradebook, so that ``nbgrader export`` and formgrader work on it.

The assignment structure (grade cells with their points, solution cells, source cells) is taken
from solutions/, as ``nbgrader generate_assignment`` would record it; each result becomes a
submission whose test cells carry the auto scores. Only the grading command's main process
writes it, after the workers are done, so parallel grading cannot corrupt it; a re-run updates
the same rows (manual scores a grader entered in formgrader are kept, and flagged for review).

Only a graded notebook writes scores. A notebook missing or not gradable in this run records the
student and leaves any earlier submission as it was: a re-run into the same OUT never replaces a
recorded score by a zero (``nbgrader export`` counts a student without a submission as 0).
"""

import warnings
from pathlib import Path

from autograder import course
from autograder.course.notebook_format import cell_source, nbgrader_metadata
from autograder.grade.results import Status


def _record_assignment(gradebook, assignment: str) -> None:
    from nbgrader.utils import compute_checksum
    import nbformat

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
            gradebook.update_or_create_grade_cell(grade_id, name, assignment, max_score=float(metadata.get("points", 0)),
                                                  cell_type=cell.cell_type)
        if metadata.get("solution"):
            gradebook.update_or_create_solution_cell(grade_id, name, assignment)
        gradebook.update_or_create_source_cell(grade_id, name, assignment, cell_type=cell.cell_type,
                                               locked=bool(metadata.get("locked")), source=cell_source(cell),
                                               checksum=compute_checksum(cell))


def _alembic_head() -> str:
    """The schema version nbgrader stamps on a new gradebook, read in-process (nbgrader runs the
    `alembic` script for it, which needs the venv's bin/ on PATH and a temporary folder)."""
    import nbgrader
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    return ScriptDirectory.from_config(config).get_current_head()


def write_gradebook(results: list, path: Path, known: list) -> None:
    import nbgrader.api

    nbgrader.api.get_alembic_version = _alembic_head
    with warnings.catch_warnings():  # nbgrader's own add_submission warns about SQLAlchemy sessions
        warnings.simplefilter("ignore")
        _write(results, path, known)


def _write(results: list, path: Path, known: list) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    recorded = [result for result in results
                if result.assignment in known and result.max_score is not None]
    graded = [result for result in recorded if result.status == Status.GRADED]
    with Gradebook(f"sqlite:///{path}") as gradebook:
        for assignment in sorted({result.assignment for result in recorded}):
            _record_assignment(gradebook, assignment)
        for result in recorded:
            gradebook.update_or_create_student(result.student)
        for result in graded:
            student, assignment = result.student, result.assignment
            notebook = Path(course.notebook_name(assignment)).stem
            try:
                gradebook.find_submission(assignment, student)
            except MissingEntry:
                gradebook.add_submission(assignment, student)
            scores = {test.grade_id: test.score for test in result.tests}
            for grade_id, score in scores.items():
                grade = gradebook.find_grade(grade_id, notebook, assignment, student)
                grade.auto_score = float(score)
                grade.needs_manual_grade = grade.manual_score is not None
            gradebook.db.commit()
