"""One-token mutants of the reference answers, and an in-process grade of each.

The mutation test (tests/test_mutation.py) asks: does every small slip in a reference answer lose
points? This module makes the slips and grades them. It lives under tests/ because only the test
suite uses it: it is a tool for testing the checks, not part of the grader that instructors run.

A mutant changes one node of the AST of a solution cell, inside ``### BEGIN/END SOLUTION``:
an arithmetic, comparison or boolean operator; a small integer or float constant (+1, -1, sign);
a dropped ``.T``, transpose, square root or other one-argument numpy call; a dropped keyword
argument (``keepdims``, ``axis``, ``kind``...); a swapped returned pair; max<->min, sum<->mean,
argmax<->argmin; a dropped assignment, so that the name is then read from the notebook's globals
(chapter 2's setup cell defines N, L, E, H).

Grading runs the notebook's cells in one namespace, the mutated answer in place of the reference,
then each test cell whole (visible asserts and hidden block), as nbgrader does; a test cell that
raises loses its points. It is much cheaper than the sandboxed grader or real nbgrader.
"""

import ast
import contextlib
import copy
import functools
import io
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path

from autograder import course
from autograder.course import notebook_format

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EQUIVALENT_DIR = Path(__file__).parent / "equivalent_mutants"
SECONDS_PER_TEST_CELL = 20

BINARY_SWAPS = {
    ast.Add: [ast.Sub],
    ast.Sub: [ast.Add],
    ast.Mult: [ast.Div],
    ast.Div: [ast.Mult],
    ast.MatMult: [ast.Mult],
    ast.Pow: [ast.Mult],
    ast.FloorDiv: [ast.Div],
    ast.Mod: [ast.FloorDiv],
    ast.BitOr: [ast.BitAnd],
    ast.BitAnd: [ast.BitOr],
}
COMPARE_SWAPS = {
    ast.Lt: [ast.LtE, ast.Gt],
    ast.LtE: [ast.Lt],
    ast.Gt: [ast.GtE, ast.Lt],
    ast.GtE: [ast.Gt],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
    ast.Is: [ast.IsNot],
    ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn],
    ast.NotIn: [ast.In],
}
NAME_SWAPS = {
    "max": "min",
    "min": "max",
    "maximum": "minimum",
    "minimum": "maximum",
    "amax": "amin",
    "amin": "amax",
    "argmax": "argmin",
    "argmin": "argmax",
    "sum": "mean",
    "mean": "sum",
    "any": "all",
    "all": "any",
    "zeros": "ones",
    "ones": "zeros",
    "tril": "triu",
    "triu": "tril",
}
# One-argument functions whose dropping keeps the code running: f(x, ...) becomes x.
DROPPABLE_CALLS = {
    "sqrt",
    "transpose",
    "swapaxes",
    "tanh",
    "exp",
    "log",
    "abs",
    "squeeze",
    "expand_dims",
    "moveaxis",
    "flip",
    "triu",
    "tril",
    "logical_not",
    "square",
}


@dataclass(frozen=True)
class Mutant:
    assignment: str
    cell: str
    label: str  # stable and readable: what changed, and where (line within the answer cell)
    source: str  # the whole mutated cell

    @property
    def key(self) -> str:
        return f"{self.cell} | {self.label}"


def _solution_lines(source: str) -> range:
    lines = source.splitlines()
    begin = next(i for i, line in enumerate(lines, 1) if line.strip() == BEGIN)
    end = next(i for i, line in enumerate(lines, 1) if line.strip() == END)
    return range(begin + 1, end)


def _call_name(node: ast.Call):
    func = node.func
    return (
        func.attr
        if isinstance(func, ast.Attribute)
        else func.id
        if isinstance(func, ast.Name)
        else None
    )


def _edits(node: ast.AST):
    """(label, replacement) for each one-token change of `node`; a replacement of None deletes
    it."""
    text = ast.unparse(node) if not isinstance(node, ast.stmt) else ""
    if isinstance(node, ast.BinOp):
        for new in BINARY_SWAPS.get(type(node.op), []):
            yield (
                f"{type(node.op).__name__}->{new.__name__}",
                ast.BinOp(node.left, new(), node.right),
            )
    elif isinstance(node, ast.AugAssign):
        for new in BINARY_SWAPS.get(type(node.op), []):
            yield (
                f"augmented {type(node.op).__name__}->{new.__name__}",
                ast.AugAssign(node.target, new(), node.value),
            )
    elif isinstance(node, ast.Compare) and len(node.ops) == 1:
        for new in COMPARE_SWAPS.get(type(node.ops[0]), []):
            yield (
                f"{type(node.ops[0]).__name__}->{new.__name__} in `{text}`",
                ast.Compare(node.left, [new()], node.comparators),
            )
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield (
            f"{type(node.op).__name__}->{new.__name__} in `{text}`",
            ast.BoolOp(new(), node.values),
        )
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not, ast.Invert)):
        yield f"dropped unary {type(node.op).__name__} in `{text}`", node.operand
    elif (
        isinstance(node, ast.Constant)
        and type(node.value) in (int, float)
        and not isinstance(node.value, bool)
    ):
        value = node.value
        for new in sorted({value + 1, value - 1, -value} - {value}):
            if abs(value) < 1e6:
                yield f"constant {value!r}->{new!r}", ast.Constant(type(value)(new))
    elif isinstance(node, ast.Attribute) and node.attr == "T":
        yield f"dropped .T in `{text}`", node.value
    elif isinstance(node, ast.Attribute) and node.attr in NAME_SWAPS:
        yield (
            f"{node.attr}->{NAME_SWAPS[node.attr]} in `{text}`",
            ast.Attribute(node.value, NAME_SWAPS[node.attr], node.ctx),
        )
    elif isinstance(node, ast.Name) and node.id in NAME_SWAPS and isinstance(node.ctx, ast.Load):
        yield f"{node.id}->{NAME_SWAPS[node.id]}", ast.Name(NAME_SWAPS[node.id], node.ctx)
    elif isinstance(node, ast.Call):
        if _call_name(node) in DROPPABLE_CALLS and node.args:
            yield f"dropped {_call_name(node)}() in `{text}`", node.args[0]
        for index, keyword in enumerate(node.keywords):
            if keyword.arg is not None:
                kept = node.keywords[:index] + node.keywords[index + 1 :]
                yield f"dropped {keyword.arg}= in `{text}`", ast.Call(node.func, node.args, kept)
    elif (
        isinstance(node, ast.Return)
        and isinstance(node.value, ast.Tuple)
        and len(node.value.elts) == 2
    ):
        swapped = ast.Tuple(list(reversed(node.value.elts)), ast.Load())
        yield f"swapped returned pair in `{ast.unparse(node)}`", ast.Return(swapped)
    elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        yield f"dropped assignment `{ast.unparse(node)}`", None


class _Replace(ast.NodeTransformer):
    def __init__(self, target, replacement):
        self.target, self.replacement = target, replacement

    def generic_visit(self, node):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                if self.target in value:
                    index = value.index(self.target)
                    if self.replacement is None:
                        value[index : index + 1] = [] if len(value) > 1 else [ast.Pass()]
                    else:
                        value[index] = self.replacement
                    return node
            elif value is self.target:
                setattr(node, field, self.replacement)
                return node
        return super().generic_visit(node)


def mutants_of_cell(assignment: str, cell_id: str, source: str) -> list[Mutant]:
    """Every one-token mutant of one solution cell; each distinct mutated program once."""
    inside = _solution_lines(source)
    tree = ast.parse(source)
    found, seen = [], {ast.unparse(tree)}
    for index, node in enumerate(ast.walk(tree)):
        if getattr(node, "lineno", None) not in inside:
            continue
        for label, replacement in _edits(node):
            mutated = ast.parse(source)  # a fresh copy of `tree`, faster than deepcopy
            target = list(ast.walk(mutated))[index]
            replacement = None if replacement is None else copy.deepcopy(replacement)
            _Replace(target, replacement).visit(mutated)
            text = ast.unparse(mutated)
            if text in seen:
                continue
            seen.add(text)
            line = node.lineno - inside.start + 1
            found.append(Mutant(assignment, cell_id, f"line {line}: {label}", text))
    return found


def mutants(assignment: str, notebook) -> list[Mutant]:
    """Every mutant of every solution cell of `notebook`, in the notebook's order."""
    return [
        mutant
        for cell in notebook.cells
        if notebook_format.is_autograded_answer(cell)  # written answers are scored by a person
        for mutant in mutants_of_cell(
            assignment, notebook_format.nbgrader_metadata(cell)["grade_id"], cell.source
        )
    ]


def solution(assignment: str):
    return course.read_notebook(course.solution_notebook(assignment))


@functools.cache
def course_mutants() -> tuple[Mutant, ...]:
    """Every mutant of every assignment in solutions/, in a fixed order (each xdist worker collects
    the same tests)."""
    return tuple(
        mutant
        for assignment in course.assignments()
        for mutant in mutants(assignment, solution(assignment))
    )


def course_mutants_by_key() -> list[tuple[Mutant, ...]]:
    """The mutants of course_mutants() that share a key, together, in order: a key can name two
    mutants (two equal constants on one line), and the reviewed list names keys."""
    by_key: dict[tuple[str, str], list[Mutant]] = {}
    for mutant in course_mutants():
        by_key.setdefault((mutant.assignment, mutant.key), []).append(mutant)
    return [tuple(same) for same in by_key.values()]


class _TimedOut(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds):
    def stop(signum, frame):
        raise _TimedOut(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def failing_test(notebook, mutant: Mutant) -> str | None:
    """The grade_id of a test cell the mutant fails (the first one found), or None if it passes all.

    The test cells after the mutated cell run first: they are the likeliest to catch it."""
    code, tests, position = [], [], None
    for cell in notebook.cells:
        if cell.cell_type != "code" or notebook_format.skips_execution(cell):
            continue  # markdown, and the ungraded demonstration no grader runs
        metadata = notebook_format.nbgrader_metadata(cell)
        grade_id = metadata.get("grade_id", "cell")
        if metadata.get("grade") and not metadata.get("solution"):
            tests.append((grade_id, cell.source))
        else:
            if grade_id == mutant.cell:
                position = len(tests)
            code.append((grade_id, mutant.source if grade_id == mutant.cell else cell.source))
    namespace = {"__name__": "__main__"}
    sink = io.StringIO()
    with (
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        for grade_id, source in code:
            try:
                exec(compile(source, f"<{grade_id}>", "exec"), namespace)
            except Exception:  # a cell that fails makes the tests that need it fail
                pass
        for grade_id, source in tests[position:] + tests[:position]:
            try:
                with _time_limit(SECONDS_PER_TEST_CELL):
                    exec(compile(source, f"<{grade_id}>", "exec"), namespace)
            except Exception:  # any error in a test cell costs its points
                return grade_id
    return None


@functools.cache
def reviewed_equivalents(assignment: str) -> dict[str, str]:
    """The reviewed list: mutant key -> the one-line reason it computes the same function.

    Format of tests/equivalent_mutants/<assignment>.txt, one mutant a line:
    ``<answer cell> | line <n>: <change> ## <reason>``; blank lines and # comments are ignored."""
    path = EQUIVALENT_DIR / f"{assignment}.txt"
    if not path.exists():
        return {}
    reviewed = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, reason = line.rpartition(" ## ")
        reviewed[key.strip() or line.strip()] = reason.strip()
    return reviewed
