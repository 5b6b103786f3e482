"""A submission read and planned: the notebook file read within its bounds, and which cells run
in the sandbox (the learner's, with IPython syntax rewritten in linear time, and the course's
read-only cells), with notes on how the submission differs from the course's notebook."""

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.course.notebook_format import (
    BEGIN_HIDDEN_TESTS,
    END_HIDDEN_TESTS,
    cell_grade_id,
    cell_source,
    nbgrader_metadata,
)
from autograder.grade.submission_file import MAX_NOTEBOOK_BYTES, file_problem, open_submission

if TYPE_CHECKING:  # the spec runs the course's cells, with torch: the grading client never needs it
    from autograder.grade.assignment_spec import AssignmentSpec


class NotebookProblem(Exception):
    """The submission is not a notebook that can be graded at all (the message says why)."""


def read_submission(path: Path) -> list:
    """The submission's cells as dicts; a NotebookProblem for anything that is not a notebook."""
    try:
        handle, status = open_submission(path)
    except OSError as error:
        raise NotebookProblem(f"cannot open the notebook ({error.strerror})") from None
    with handle:
        problem = file_problem(status)
        if problem:
            raise NotebookProblem(problem)
        data = handle.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:  # it grew since
        raise NotebookProblem(f"the notebook is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
    if not data.strip():
        raise NotebookProblem("the notebook file is empty")
    try:
        notebook = json.loads(data.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError) as error:
        raise NotebookProblem(f"the notebook is not valid JSON ({str(error)[:200]})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise NotebookProblem("the file is JSON but not a Jupyter notebook (no list of cells)")
    return [cell for cell in notebook["cells"] if isinstance(cell, dict)]


def _visible(source: str) -> list:
    """A test cell's lines as a learner's copy holds them: no hidden block, no blank lines."""
    lines, hidden = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN_HIDDEN_TESTS:
            hidden = True
        elif line.strip() == END_HIDDEN_TESTS:
            hidden = False
        elif not hidden and line.strip():
            lines.append(line.rstrip())
    return lines


# IPython syntax in a learner's cell (`!ls`, `%matplotlib inline`, `x = !ls`, `len?`): lines that
# IPython's TransformerManager rewrites, at a cost that grows with their number times the cell's
# size.
_IPYTHON_LINE = re.compile(
    r"^[ \t]*(?:[!%]|[\w.,\[\] \t]+=[ \t]*[!%]|[\w.]+[ \t]*\?\??[ \t]*$)", re.M
)
_ASSIGNED_FROM_IPYTHON = re.compile(r"^([ \t]*)([\w.,\[\] \t]+?)[ \t]*=[ \t]*[!%]")
# What IPython may spend on one notebook: (IPython lines x characters) summed over its cells, about
# a second of CPU; beyond it, each such line becomes a no-op here, linearly.
MAX_TRANSFORM_WORK = 1 << 19


def _neutralise_ipython(source: str) -> str:
    """IPython syntax without IPython, in linear time: the sandbox's get_ipython() does nothing, so
    a cell magic's cell, a magic or a shell line does nothing either; `x = !ls` gives x = None."""
    lines = source.split("\n")
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("%%"):
        return "pass\n"
    for number, line in enumerate(lines):
        if not _IPYTHON_LINE.match(line):
            continue
        assigned = _ASSIGNED_FROM_IPYTHON.match(line)
        if assigned:
            lines[number] = f"{assigned.group(1)}{assigned.group(2)} = None"
        else:
            lines[number] = line[: len(line) - len(line.lstrip())] + "pass"
    return "\n".join(lines)


class _CellTransformer:
    """IPython's own rewriting of a learner's cell while that stays cheap, ours beyond."""

    def __init__(self):
        self.work_left = MAX_TRANSFORM_WORK
        self._ipython = None

    def __call__(self, source: str) -> str:
        special = len(_IPYTHON_LINE.findall(source))
        if not special:
            return source
        work = special * len(source)
        if work > self.work_left:
            return _neutralise_ipython(source)
        self.work_left -= work
        if self._ipython is None:
            # Here: IPython takes a second to import, and most notebooks have no IPython syntax.
            from IPython.core.inputtransformer2 import TransformerManager

            self._ipython = TransformerManager().transform_cell
        try:
            return self._ipython(source)
        except Exception:  # leave it as it is: a syntax error will be reported for the cell
            return source


def learner_sources(spec: "AssignmentSpec", cells: list) -> list[str]:
    """The submission's own code: its code cells other than the course's tests, read-only cells
    (which run from the course's copy) and cells no grader runs, as written. Their digest seeds the
    hidden inputs."""
    course_cells = set(spec.tests) | set(spec.readonly) | spec.skipped
    return [
        cell_source(cell)
        for cell in cells
        if cell.get("cell_type") == "code" and cell_grade_id(cell) not in course_cells
    ]


def code_cell_labels(cells: list) -> list[tuple[str, dict]]:
    """(label, cell) of each code cell of a submission, in order: its nbgrader id, else "cell N"
    (N counting code cells from 1). The plan, the results and the autograded notebook name a
    learner's cell by this label."""
    code_cells = [cell for cell in cells if cell.get("cell_type") == "code"]
    return [
        (cell_grade_id(cell) or f"cell {number}", cell)
        for number, cell in enumerate(code_cells, start=1)
    ]


def plan_cells(spec: "AssignmentSpec", cells: list):
    """What runs in the sandbox, and notes on how the submission differs from the course's notebook.

    The course's read-only cells (imports, helpers) come from the solution; test cells are left out
    (they run in the trusted process from the solution), and so are the course's cells that no
    grader runs (spec.skipped: an ungraded demonstration); any other code cell is the learner's."""
    transform = _CellTransformer()
    notes, run, seen = [], [], {}
    code_cells = [cell for cell in cells if cell.get("cell_type") == "code"]
    present = [cell_grade_id(cell) for cell in code_cells]
    missing_readonly = [grade_id for grade_id in spec.readonly if grade_id not in present]
    for grade_id in missing_readonly:
        run.append((f"course cell {grade_id}", spec.readonly[grade_id], False))
    for label, cell in code_cell_labels(cells):
        grade_id, source = cell_grade_id(cell), cell_source(cell)
        seen[grade_id] = seen.get(grade_id, 0) + 1
        if grade_id in spec.tests or grade_id in spec.skipped:
            continue
        if grade_id in spec.readonly:
            run.append((f"course cell {grade_id}", spec.readonly[grade_id], False))
            continue
        run.append((label, transform(source), True))
    if not any(grade_id for grade_id in present):
        notes.append(
            "the notebook has no nbgrader metadata: every code cell was run, and the "
            "tests come from the course's copy"
        )
    else:
        deleted = [grade_id for grade_id in spec.tests if grade_id not in seen]
        if deleted:
            notes.append(
                "test cells missing from the submission (graded from the course's copy "
                f"anyway): {', '.join(deleted)}"
            )
        doubled = [grade_id for grade_id, count in seen.items() if grade_id and count > 1]
        if doubled:
            notes.append(f"cells that appear more than once: {', '.join(doubled)}")
        missing_answers = [grade_id for grade_id in spec.answers if grade_id not in seen]
        if missing_answers:
            notes.append(
                f"answer cells not found by their nbgrader id: {', '.join(missing_answers)}"
            )
        changed = []
        for cell in code_cells:
            grade_id = cell_grade_id(cell)
            if grade_id in spec.tests:
                points = nbgrader_metadata(cell).get("points")
                course_points, course_source = spec.tests[grade_id]
                if (
                    _visible(cell_source(cell)) != _visible(course_source)
                    or points != course_points
                ):
                    changed.append(grade_id)
        if changed:
            notes.append(
                "test cells edited in the submission (the course's code and points were "
                f"used): {', '.join(sorted(set(changed)))}"
            )
    return run, notes
