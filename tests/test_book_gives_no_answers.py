"""The book teaches each idea without printing a graded answer.

Every function defined in a solution cell of solutions/*/*.ipynb (a cell whose nbgrader metadata
says `solution: true`) has an answer: the statements of its body that lie between
`### BEGIN SOLUTION` and `### END SOLUTION`. No code cell of any page of the book (book/*.md, every
`{code-cell}` block) may contain

- a whole answer body (answers of one or two statements are compared against every run of one or
  two consecutive statements in the book), or
- any run of MIN_RUN consecutive statements of an answer, anywhere: in a function body, a loop, or
  loose in a cell, so that an answer pasted outside a `def` is caught as well. A longer copy
  contains such a run, so runs of exactly MIN_RUN statements are all that need comparing.

Statements are compared after normalisation (see `normalised`):

- names do not count. Every identifier (variables, arguments, attributes, keywords, function
  names) becomes a placeholder numbered by first appearance inside the compared run (variables,
  attributes and keyword names each numbered on their own), so a copy with every name changed,
  `torch` for `np` or `.amax` for `.max` included, still matches, while two runs whose data flow
  differs do not;
- docstrings, comments and layout do not count, and neither does the text of string literals
  (messages, labels);
- numbers do count (1 and 1.0 are the same number), and so do True, False and None. They are the
  computation: the axis of a softmax, the offset of a causal mask, the epsilon of a norm. The book
  is meant to show an idea on *another axis* or in a special case, and the exercise then asks for
  the general version; dropping the numbers would flag exactly those demonstrations.

The test reads whatever chapters and solution notebooks exist when it runs, so a new chapter or a
new exercise is covered without editing this file.
"""

import ast
import copy
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from nbgrader.preprocessors import ClearSolutions

from autograder import REPO_ROOT, course
from autograder.course import notebook_format

BOOK = REPO_ROOT / "book"
MIN_RUN = 3  # consecutive statements that make a copy

# nbgrader's own markers (this course does not override them in
# autograder/course/nbgrader_config.py).
BEGIN_SOLUTION = ClearSolutions.class_traits()["begin_solution_delimeter"].default_value
END_SOLUTION = ClearSolutions.class_traits()["end_solution_delimeter"].default_value

CODE_CELL = re.compile(
    r"^(?P<fence>`{3,})\{code-cell\}[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.S | re.M
)


# ---------------------------------------------------------------------------------------------
# Normalisation


class _Canonical(ast.NodeTransformer):
    """Renames every identifier to a numbered placeholder; keeps numbers, hides string contents."""

    def __init__(self):
        # one numbering per kind of name: in `axis=axis` the keyword and the variable are two names
        self.names: dict[str, dict[str, str]] = {"v": {}, "attr": {}, "kw": {}}

    def _name(self, name, kind="v"):
        if name is None:
            return None
        names = self.names[kind]
        return names.setdefault(name, f"{kind}{len(names)}")

    def visit_Name(self, node):
        node.id = self._name(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._name(node.arg)
        node.annotation = None
        return node

    def visit_Attribute(self, node):
        self.generic_visit(node)
        node.attr = self._name(node.attr, "attr")
        return node

    def visit_keyword(self, node):
        self.generic_visit(node)
        node.arg = self._name(node.arg, "kw")
        return node

    def _definition(self, node):
        node.name = self._name(node.name)
        node.body = without_docstrings(node.body)
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def visit_alias(self, node):
        node.name, node.asname = self._name(node.name), self._name(node.asname)
        return node

    def visit_Global(self, node):
        node.names = [self._name(name) for name in node.names]
        return node

    visit_Nonlocal = visit_Global

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, (str, bytes)):
            node.value = "<text>"
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            node.value = float(value)  # 1 and 1.0 are the same number
        node.kind = None
        return node


def is_docstring(statement) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def without_docstrings(statements):
    return [statement for statement in statements if not is_docstring(statement)]


def normalised(statements) -> str:
    """One string for a run of statements: equal strings mean equal code up to names and text."""
    module = ast.Module(
        body=[copy.deepcopy(statement) for statement in statements], type_ignores=[]
    )
    return ast.dump(_Canonical().visit(module), annotate_fields=False, include_attributes=False)


def statement_lists(tree):
    """Every list of consecutive statements in a tree: the cell itself, and every nested block."""
    for node in ast.walk(tree):
        for field_name in ("body", "orelse", "finalbody"):
            block = getattr(node, field_name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield without_docstrings(block)
        for handler in getattr(node, "handlers", []) or []:
            yield without_docstrings(handler.body)
        for case in getattr(node, "cases", []) or []:
            yield without_docstrings(case.body)


def runs(statements, length):
    return [statements[start : start + length] for start in range(len(statements) - length + 1)]


# ---------------------------------------------------------------------------------------------
# The answers


@dataclass(frozen=True)
class Answer:
    where: str  # notebook, cell and function, for the failure message
    body: tuple  # the function's answer statements (docstrings dropped)


def answer_lines(source: str) -> set[int]:
    """Line numbers (1-based) strictly between each BEGIN SOLUTION and END SOLUTION marker."""
    inside, lines = False, set()
    for number, line in enumerate(source.splitlines(), start=1):
        if BEGIN_SOLUTION in line:
            inside = True
        elif END_SOLUTION in line:
            inside = False
        elif inside:
            lines.add(number)
    return lines


def answers_in(source: str, where: str) -> list[Answer]:
    """The answer of every function (nested ones too) defined in one solution cell."""
    tree = ast.parse(source)
    marked = answer_lines(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = [
                statement
                for statement in without_docstrings(node.body)
                if set(range(statement.lineno, statement.end_lineno + 1)) & marked
            ]
            if body:
                found.append(Answer(where=f"{where}, function {node.name}", body=tuple(body)))
    return found


def solution_answers() -> list[Answer]:
    answers = []
    for assignment in course.assignments():
        path = course.solution_notebook(assignment)
        notebook = course.read_notebook(path)
        for cell in notebook.cells:
            metadata = notebook_format.nbgrader_metadata(cell)
            if cell.cell_type == "code" and metadata.get("solution"):
                where = f"{path.relative_to(REPO_ROOT)} cell {metadata.get('grade_id', '?')}"
                answers += answers_in(cell.source, where)
    return answers


@dataclass(frozen=True)
class Needle:
    answer: Answer
    statements: tuple
    key: str


def needles(answers) -> dict[int, list[Needle]]:
    """What to look for, by run length: whole short bodies, and every MIN_RUN-run of the others."""
    by_length: dict[int, list[Needle]] = {}
    for answer in answers:
        body = list(answer.body)
        candidates = [body] if len(body) < MIN_RUN else []
        for block in [body] + [block for statement in body for block in statement_lists(statement)]:
            candidates += runs(block, MIN_RUN)
        for statements in candidates:
            by_length.setdefault(len(statements), []).append(
                Needle(answer, tuple(statements), normalised(statements))
            )
    return by_length


# ---------------------------------------------------------------------------------------------
# The book


@dataclass(frozen=True)
class CodeCell:
    page: str
    line: int  # where the cell starts in the page
    source: str


def code_cells(text: str, page: str) -> list[CodeCell]:
    """The `{code-cell}` blocks of a MyST page, without their options (`:tags:` or a --- block)."""
    cells = []
    for match in CODE_CELL.finditer(text):
        lines = match.group("body").split("\n")
        if lines and lines[0].strip() == "---":
            end = next(
                index for index, line in enumerate(lines[1:], start=1) if line.strip() == "---"
            )
            lines = lines[end + 1 :]
        else:
            while lines and re.match(r"^:[\w-]+:", lines[0]):
                lines = lines[1:]
        # IPython magics and shell escapes are not Python: keep the line count, drop the line
        lines = ["pass" if line.lstrip().startswith(("%", "!")) else line for line in lines]
        cells.append(
            CodeCell(page, text[: match.start()].count("\n") + 1, "\n".join(lines).rstrip("\n"))
        )
    return cells


def book_pages() -> list[Path]:
    return sorted(BOOK.glob("*.md"))


def copies_in(page: Path, by_length) -> list[str]:
    found = []
    for cell in code_cells(page.read_text(), page.relative_to(REPO_ROOT).as_posix()):
        try:
            tree = ast.parse(cell.source)
        except SyntaxError as error:
            found.append(
                f"{cell.page}:{cell.line}: a code cell that is not Python, so it cannot be "
                f"checked: {error}"
            )
            continue
        for block in statement_lists(tree):
            for length, wanted in by_length.items():
                for statements in runs(block, length):
                    key = normalised(statements)
                    for needle in wanted:
                        if needle.key == key:
                            line = cell.line + statements[0].lineno
                            code = ast.unparse(ast.Module(body=list(statements), type_ignores=[]))
                            found.append(
                                f"{cell.page}:{line}: the answer of {needle.answer.where}:\n"
                                + "\n".join("    " + row for row in code.splitlines())
                            )
    return found


# ---------------------------------------------------------------------------------------------
# Tests


@pytest.fixture(scope="module")
def answer_needles():
    answers = solution_answers()
    return answers, needles(answers)


def test_every_solution_notebook_has_answers(answer_needles):
    """Does every assignment's solution notebook give at least one answer to look for?"""
    answers, _ = answer_needles
    notebooks = {answer.where.split(" cell ")[0] for answer in answers}
    expected = {
        course.solution_notebook(a).relative_to(REPO_ROOT).as_posix() for a in course.assignments()
    }
    assert expected and notebooks == expected, f"no answers found in {sorted(expected - notebooks)}"


def test_every_chapter_has_code_cells():
    """Is every numbered chapter read, so that the check below cannot pass by reading nothing?"""
    chapters = [page for page in book_pages() if re.match(r"\d\d-", page.name)]
    assert chapters, "no chapters found in book/"
    empty = [page.name for page in chapters if not code_cells(page.read_text(), page.name)]
    assert not empty, f"no code cells found in {empty}"


@pytest.mark.parametrize("page", book_pages(), ids=lambda page: page.name)
def test_page_prints_no_graded_answer(page, answer_needles):
    """Does this page of the book contain no graded answer, whole or as a run of statements?"""
    _, by_length = answer_needles
    found = copies_in(page, by_length)
    assert not found, (
        "The book must teach the idea another way (a loop, another axis, a special case, "
        "PyTorch's own "
        "function) and leave the general version to the exercise. Copies found:\n"
        + "\n".join(found)
    )


# Self-tests on hand-made pages: the detector finds what it must, and only that.

SOLUTION = '''
def softmax(x, axis=-1):
    """Softmax of `x` along `axis`."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    exps = np.exp(shifted)
    return exps / np.sum(exps, axis=axis, keepdims=True)
    ### END SOLUTION


def to_sdpa_mask(mask):
    ### BEGIN SOLUTION
    return ~np.asarray(mask, dtype=bool)
    ### END SOLUTION


def causal_mask(L, S):
    ### BEGIN SOLUTION
    return np.triu(np.ones((L, S), dtype=bool), k=1)
    ### END SOLUTION
'''


def page_with(code: str) -> str:
    return (
        f"# A page\n\nSome prose.\n\n```{{code-cell}} ipython3\n:tags: [hide-input]\n{code}\n```\n"
    )


def copies_on(code: str, tmp_path) -> list[str]:
    page = tmp_path / "page.md"
    page.write_text(page_with(code))
    found = []
    by_length = needles(answers_in(SOLUTION, "solution"))
    for cell in code_cells(page.read_text(), "page.md"):
        tree = ast.parse(cell.source)
        for block in statement_lists(tree):
            for length, wanted in by_length.items():
                found += [
                    needle.answer.where
                    for statements in runs(block, length)
                    for needle in wanted
                    if needle.key == normalised(statements)
                ]
    return found


def test_a_renamed_copy_is_found(tmp_path):
    """Is a copy with every name changed, a new docstring and comments still found?"""
    code = '''
def stable(values, dim=-1):
    """Different words."""
    values = numpy.asarray(values, dtype=numpy.float64)  # a comment
    moved = values - numpy.max(values, axis=dim, keepdims=True)
    e = numpy.exp(moved)
    return e / numpy.sum(e, axis=dim, keepdims=True)
'''
    assert "solution, function softmax" in copies_on(code, tmp_path)


def test_a_body_pasted_outside_a_function_is_found(tmp_path):
    """Are three consecutive statements of an answer found loose in a cell, among others?"""
    code = """
row = np.array([1.0, 2.0])
row = np.asarray(row, dtype=np.float64)
moved = row - np.max(row, axis=last, keepdims=True)
e = np.exp(moved)
print(e / e.sum())
"""
    assert copies_on(code, tmp_path) == ["solution, function softmax"]


def test_a_one_line_answer_is_found_anywhere(tmp_path):
    """Is an answer of one statement found as a single statement in a loop?"""
    code = (
        "for m in masks:\n    print(m)\n    return_value = 1\n    def f(m):\n        return "
        "~np.asarray(m, dtype=bool)\n"
    )
    assert copies_on(code, tmp_path) == ["solution, function to_sdpa_mask"]


def test_other_numbers_or_another_method_are_not_a_copy(tmp_path):
    """Does a demonstration with other numbers, or another way of computing, pass?"""
    code = """
largest = max(scores)
exps = [math.exp(s - largest) for s in scores]
total = sum(exps)
weights = [e / total for e in exps]
def flip(mask):
    return np.logical_not(mask)
def future(n, m):
    return np.triu(np.ones((n, m), dtype=bool), k=2)
"""
    assert copies_on(code, tmp_path) == []


def test_the_same_number_written_another_way_is_a_copy(tmp_path):
    """Is k=1.0 the same number as k=1?"""
    code = "def future(n, m):\n    return np.triu(np.ones((n, m), dtype=bool), k=1.0)\n"
    assert copies_on(code, tmp_path) == ["solution, function causal_mask"]


def test_code_cells_are_read_with_their_options_removed():
    """Are `:tags:` lines and a --- option block stripped, and magics neutralised, before
    parsing?"""
    text = (
        "```{code-cell} ipython3\n:tags: [remove-cell]\nx = 1\n```\n\n"
        "```{code-cell} ipython3\n---\nmystnb:\n  image:\n    alt: A plot\n---\n%matplotlib "
        "inline\ny = 2\n```\n"
    )
    cells = code_cells(text, "page.md")
    assert [cell.source for cell in cells] == ["x = 1", "pass\ny = 2"]
    assert all(ast.parse(cell.source) for cell in cells)
