"""What the grader knows of one assignment, all of it from the course and none from a
submission: the solution notebook's test cells (points and code), answer cells and read-only
cells, the cells no grader runs (an ungraded demonstration, tagged skip-execution), its
written answers (manually graded, with the release's text), the names each test needs from
the learner, and the assignment's mistake detector."""

import ast
import builtins
import json

from autograder import course
from autograder.checks.mistakes import known_mistakes
from autograder.course.notebook_format import (
    cell_grade_id,
    cell_source,
    is_manually_graded,
    nbgrader_metadata,
    skips_execution,
)
from autograder.grade.diagnosis import MistakeDetector
from autograder.grade.trusted import run_trusted


def _defined_names(source: str) -> set:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _parameters(source: str) -> dict:
    """The positional parameter names of each function that `source` defines at its top level."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    return {
        node.name: [arg.arg for arg in node.args.posonlyargs + node.args.args]
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }


def _free_names(source: str) -> list:
    """Names a test cell reads but never assigns: the ones the learner's cells must provide."""
    tree = ast.parse(source)
    loaded, stored = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded.append(node.id) if isinstance(node.ctx, ast.Load) else stored.add(node.id))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            stored.add(node.name)
            if not isinstance(node, ast.ClassDef):
                stored.update(arg.arg for arg in ast.walk(node.args) if isinstance(arg, ast.arg))
        elif isinstance(node, ast.Lambda):
            stored.update(arg.arg for arg in ast.walk(node.args) if isinstance(arg, ast.arg))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            stored.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            stored.add(node.name)
    return sorted({name for name in loaded if name not in stored and not hasattr(builtins, name)})


class AssignmentSpec:
    """Everything about one assignment that comes from the course, never from a submission."""

    def __init__(self, assignment: str):
        self.assignment = assignment
        notebook = json.loads(course.solution_notebook(assignment).read_text())
        release = json.loads(course.release_notebook(assignment).read_text())
        released = {cell_grade_id(cell): cell_source(cell) for cell in release["cells"]}
        self.readonly, self.answers, self.tests = {}, {}, {}
        self.skipped = set()  # grade_ids of the cells no grader runs, whatever a submission says
        # grade_id -> (points, the release's text: a learner who left it as it was wrote nothing)
        self.written = {
            cell_grade_id(cell): (
                float(nbgrader_metadata(cell).get("points", 0)),
                released.get(cell_grade_id(cell), ""),
            )
            for cell in notebook["cells"]
            if is_manually_graded(cell) and cell_grade_id(cell)
        }
        for cell in notebook["cells"]:
            if cell.get("cell_type") != "code":
                continue
            metadata = nbgrader_metadata(cell)
            grade_id, source = metadata.get("grade_id"), cell_source(cell)
            if not grade_id:
                continue
            if skips_execution(cell):
                self.skipped.add(grade_id)
            elif metadata.get("solution"):
                self.answers[grade_id] = source
            elif metadata.get("grade"):
                self.tests[grade_id] = (float(metadata.get("points", 0)), source)
            else:
                self.readonly[grade_id] = source
        self.max_score = sum(points for points, _ in [*self.tests.values(), *self.written.values()])
        self.answer_names = {
            grade_id: _defined_names(source) for grade_id, source in self.answers.items()
        }
        # function -> its positional parameters, as the course's answers name them (feedback)
        self.parameters = {
            name: params
            for source in self.answers.values()
            for name, params in _parameters(source).items()
        }
        self.compiled = {
            grade_id: compile(source, f"<test {grade_id}>", "exec")
            for grade_id, (_, source) in self.tests.items()
        }
        self.base = {"__name__": "__main__"}
        for grade_id, source in self.readonly.items():
            run_trusted(source, self.base, grade_id)
        self.needs = {
            grade_id: [name for name in _free_names(source) if name not in self.base]
            for grade_id, (_, source) in self.tests.items()
        }
        # Lives as long as the spec (a worker keeps one per assignment), with its caches.
        self.detector = MistakeDetector(
            self.base,
            self.answers,
            self.answer_names,
            known_mistakes(assignment),
        )

    def fresh_namespace(self) -> dict:
        """The course's read-only cells run anew for each submission, so no state is shared."""
        namespace = {"__name__": "__main__"}
        for grade_id, source in self.readonly.items():
            run_trusted(source, namespace, grade_id)
        return namespace
