"""Grade one submitted notebook: the learner's cells run in the sandbox, the course's test cells
run here, in the trusted process, against torch.

What counts comes from the SOLUTION notebook, never from the submission: which cells are tests,
their points and their code. A test cell's points are earned when its code (the visible asserts
and the hidden check, exactly as in the notebook) runs without error; the learner's functions it
calls are proxies that ship the arguments to the sandbox and bring plain arrays back.

One notebook's bounds in this trusted process:
- time: one deadline (`budget` from the start of grade_notebook) covers every cell, call and
  callback; the rewriting of IPython syntax in the learner's text is linear past a small allowance.
- memory: one answer from the sandbox at a time (Limits.max_answer_bytes, 64 MiB of arrays, built
  without a copy, plus at most 1 MiB of JSON), the current test's call results (MAX_KEPT_RESULT_BYTES,
  64 MiB), and the checks' own work on the shapes they chose (the grader's functions refuse any
  other shape): about 160 MB above the worker's baseline. grade.cluster stops a worker past
  MAX_WORKER_RSS anyway, charging only the notebook it held.
"""

import ast
import builtins
import contextlib
import io
import json
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import course
from autograder.course.notebook_format import BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS, cell_grade_id, cell_source, nbgrader_metadata
from autograder.checks.assignments import load_assignment
from autograder.grade.messages import summary
from autograder.sandbox.host import Limits, Sandbox, SandboxDied, SandboxUnavailable, Unsupported
from autograder.checks.hidden import HIDDEN_CHECK_RUNNING
from autograder.checks.secret import STUDENT_ENV, SUBMISSION_DIGEST, code_digest

MAX_NOTEBOOK_BYTES = 20 << 20
MAX_SANDBOX_STARTS = 12
# The results of one test's calls kept for the mistake detector; beyond this, no diagnosis.
MAX_KEPT_RESULT_BYTES = 64 << 20


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


@contextlib.contextmanager
def quietly():
    """Trusted code's own prints and warnings (the visible tests print progress) stay out of the way."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


class AssignmentSpec:
    """Everything about one assignment that comes from the course, never from a submission."""

    def __init__(self, assignment: str):
        self.assignment = assignment
        notebook = json.loads(course.solution_notebook(assignment).read_text())
        self.readonly, self.answers, self.tests = {}, {}, {}
        for cell in notebook["cells"]:
            if cell.get("cell_type") != "code":
                continue
            metadata = nbgrader_metadata(cell)
            grade_id, source = metadata.get("grade_id"), cell_source(cell)
            if not grade_id:
                continue
            if metadata.get("solution"):
                self.answers[grade_id] = source
            elif metadata.get("grade"):
                self.tests[grade_id] = (float(metadata.get("points", 0)), source)
            else:
                self.readonly[grade_id] = source
        self.max_score = sum(points for points, _ in self.tests.values())
        self.answer_names = {grade_id: _defined_names(source) for grade_id, source in self.answers.items()}
        self.compiled = {grade_id: compile(source, f"<test {grade_id}>", "exec") for grade_id, (_, source) in self.tests.items()}
        self.mistakes = list(getattr(load_assignment(assignment), "MISTAKES", []))
        self.base = {"__name__": "__main__"}
        for grade_id, source in self.readonly.items():
            self._run_trusted(source, self.base, grade_id)
        self.needs = {grade_id: [name for name in _free_names(source) if name not in self.base]
                      for grade_id, (_, source) in self.tests.items()}
        self._reference = None
        self._mistake_namespaces = {}

    def fresh_namespace(self) -> dict:
        """The course's read-only cells run anew for each submission, so no state is shared."""
        namespace = {"__name__": "__main__"}
        for grade_id, source in self.readonly.items():
            self._run_trusted(source, namespace, grade_id)
        return namespace

    @staticmethod
    def _run_trusted(source, namespace, label):
        try:
            with quietly():
                exec(compile(source, f"<{label}>", "exec"), namespace)
        except Exception:  # a read-only cell may need the learner's functions: not ours to grade
            pass

    def _answers_namespace(self, mistake=None) -> dict:
        """The read-only cells' names plus the course's answers run afresh (trusted code), with the
        mistake's cell replaced by its wrong source: functions in the other cells then call the wrong
        variant, as they would in the learner's notebook."""
        namespace = dict(self.base)
        for grade_id, source in self.answers.items():
            if mistake is not None and grade_id == mistake.cell:
                self._run_trusted(mistake.source, namespace, mistake.name)
            else:
                self._run_trusted(source, namespace, grade_id)
        return namespace

    @property
    def reference(self) -> dict:
        """The course's own answers: the baseline of the mistake detectors."""
        if self._reference is None:
            self._reference = self._answers_namespace()
        return self._reference

    def mistake_namespace(self, mistake) -> dict:
        """The answers with one known mistake in place; keyed by the Mistake itself, not its name."""
        if mistake not in self._mistake_namespaces:
            self._mistake_namespaces[mistake] = self._answers_namespace(mistake)
        return self._mistake_namespaces[mistake]


# ------------------------------------------------------------------------------------------------
# Reading a submission

class NotebookProblem(Exception):
    """The submission is not a notebook that can be graded at all (the message says why)."""


def read_submission(path: Path) -> list:
    """The submission's cells as dicts; a NotebookProblem for anything that is not a notebook."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise NotebookProblem(f"cannot open the notebook ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as handle:
        data = handle.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
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
# IPython's TransformerManager rewrites, at a cost that grows with their number times the cell's size.
_IPYTHON_LINE = re.compile(r"^[ \t]*(?:[!%]|[\w.,\[\] \t]+=[ \t]*[!%]|[\w.]+[ \t]*\?\??[ \t]*$)", re.M)
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
            from IPython.core.inputtransformer2 import TransformerManager

            self._ipython = TransformerManager().transform_cell
        try:
            return self._ipython(source)
        except Exception:  # leave it as it is: a syntax error will be reported for the cell
            return source


def learner_sources(spec: AssignmentSpec, cells: list) -> list[str]:
    """The submission's own code: its code cells other than the course's tests and read-only cells
    (which run from the course's copy), as written. Their digest seeds the hidden inputs."""
    return [cell_source(cell) for cell in cells if cell.get("cell_type") == "code"
            and cell_grade_id(cell) not in spec.tests and cell_grade_id(cell) not in spec.readonly]


def plan_cells(spec: AssignmentSpec, cells: list):
    """What runs in the sandbox, and notes on how the submission differs from the course's notebook.

    The course's read-only cells (imports, helpers) come from the solution; test cells are left out
    (they run in the trusted process from the solution); every other code cell is the learner's."""
    transform = _CellTransformer()
    notes, run, seen = [], [], {}
    code_cells = [cell for cell in cells if cell.get("cell_type") == "code"]
    present = [cell_grade_id(cell) for cell in code_cells]
    missing_readonly = [grade_id for grade_id in spec.readonly if grade_id not in present]
    for grade_id in missing_readonly:
        run.append((f"course cell {grade_id}", spec.readonly[grade_id], False))
    for number, cell in enumerate(code_cells, start=1):
        grade_id, source = cell_grade_id(cell), cell_source(cell)
        seen[grade_id] = seen.get(grade_id, 0) + 1
        if grade_id in spec.tests:
            continue
        if grade_id in spec.readonly:
            run.append((f"course cell {grade_id}", spec.readonly[grade_id], False))
            continue
        run.append((grade_id or f"cell {number}", transform(source), True))
    if not any(grade_id for grade_id in present):
        notes.append("the notebook has no nbgrader metadata: every code cell was run, and the tests come from the course's copy")
    else:
        deleted = [grade_id for grade_id in spec.tests if grade_id not in seen]
        if deleted:
            notes.append(f"test cells missing from the submission (graded from the course's copy anyway): {', '.join(deleted)}")
        doubled = [grade_id for grade_id, count in seen.items() if grade_id and count > 1]
        if doubled:
            notes.append(f"cells that appear more than once: {', '.join(doubled)}")
        missing_answers = [grade_id for grade_id in spec.answers if grade_id not in seen]
        if missing_answers:
            notes.append(f"answer cells not found by their nbgrader id: {', '.join(missing_answers)}")
        changed = []
        for cell in code_cells:
            grade_id = cell_grade_id(cell)
            if grade_id in spec.tests:
                points = nbgrader_metadata(cell).get("points")
                if _visible(cell_source(cell)) != _visible(spec.tests[grade_id][1]) or points != spec.tests[grade_id][0]:
                    changed.append(grade_id)
        if changed:
            notes.append(f"test cells edited in the submission (the course's code and points were used): {', '.join(sorted(set(changed)))}")
    return run, notes


# ------------------------------------------------------------------------------------------------
# The learner's process, restarted when it dies, within a time budget

@dataclass
class Call:
    name: str
    args: tuple
    kwargs: dict
    result: object = None
    ok: bool = False
    raised: str | None = None  # "Type: message" when the learner's function raised


class OutOfBudget(AssertionError):
    pass


def _nbytes(value, depth: int = 0) -> int:
    """Roughly what keeping `value` costs: its arrays' bytes plus a little per item."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (list, tuple)) and depth < 30:
        return 64 + sum(_nbytes(item, depth + 1) for item in value)
    if isinstance(value, dict) and depth < 30:
        return 64 + sum(_nbytes(item, depth + 1) for item in value.values())
    return 64


class LearnerSession:
    """The learner's process for one notebook, restarted when it dies, all within one deadline.

    `calls` holds the current test's calls (grade_notebook starts a new list for each test), their
    results kept up to MAX_KEPT_RESULT_BYTES for the mistake detector."""

    def __init__(self, cells: list, limits: Limits, deadline: float):
        self.cells, self.limits = cells, limits
        self.deadline = deadline  # time.monotonic() when the notebook's budget runs out
        self.sandbox, self.starts = None, 0
        self.skipped, self.cell_errors, self.events = set(), {}, []
        self.calls: list[Call] = []
        self.kept_bytes = 0
        self.hidden_texts: set[str] = set()  # what the learner's code raised in a hidden check

    def new_test(self) -> None:
        self.calls, self.kept_bytes, self.hidden_texts = [], 0, set()

    def _check_budget(self):
        if time.monotonic() >= self.deadline:
            self.close()
            raise OutOfBudget("not graded: the submission used up its time budget")

    def _ensure(self):
        self._check_budget()
        if self.sandbox is not None:
            return
        while True:
            if self.starts >= MAX_SANDBOX_STARTS or time.monotonic() > self.deadline:
                raise OutOfBudget("not graded: the submission used up its time budget (its code kept timing out or crashing)")
            self.starts += 1
            indices = [i for i in range(len(self.cells)) if i not in self.skipped]
            sandbox = Sandbox(self.limits)
            try:
                for position, error in sandbox.run_cells([self.cells[i][1] for i in indices], self.deadline):
                    label, _, learners = self.cells[indices[position]]
                    if error and learners and label not in self.cell_errors:
                        self.cell_errors[label] = error
                self.sandbox = sandbox
                return
            except SandboxDied as died:
                if died.index is None and not indices:
                    self.events.append(f"the notebook's process: {died}")
                    continue
                # index None: every cell had run, and the process ended before saying so: the last
                # cell is the one that had the process last.
                index = indices[len(indices) - 1 if died.index is None else died.index]
                self.skipped.add(index)
                self.events.append(f"{self.cells[index][0]}: {died}; the cell was skipped")

    def lookup(self, names):
        if not names:
            return {}
        self._ensure()
        try:
            return self.sandbox.lookup(names, self.deadline)
        except SandboxDied as died:
            self.sandbox = None
            self.events.append(f"looking up {', '.join(names)}: {died}")
            raise AssertionError(f"the notebook's process ended while looking up {', '.join(names)}: {died}") from None

    def call(self, name, args, kwargs):
        record = Call(name, args, kwargs)
        self.calls.append(record)
        self._ensure()
        try:
            kind, value = self.sandbox.call(name, args, kwargs, self.deadline)
        except SandboxDied as died:
            self.sandbox = None
            self.events.append(f"{name}(...): {died}")
            raise AssertionError(f"{name}(...) did not return: {died}") from None
        if kind == "raised":
            kind_name, text = value
            record.raised = f"{kind_name}: {text}"
            error_class = getattr(builtins, kind_name, None)
            builtin = isinstance(error_class, type) and issubclass(error_class, Exception)
            if HIDDEN_CHECK_RUNNING.get() and text not in self.sandbox.grader_messages:
                # Kept from the feedback (see _message): it may show the hidden inputs.
                self.hidden_texts.update([text] if builtin else [text, kind_name])
            if builtin and not issubclass(error_class, OutOfBudget):
                error = error_class(text)
            else:
                error = AssertionError(f"{name}(...) raised {kind_name}: {text}")
            error.raised_by = name  # the learner's function, not a check, raised it
            raise error
        problem = _unsupported(value)
        if problem is not None:
            raise AssertionError(f"{name}(...) returned {problem.description}; answers must be plain numpy arrays or numbers")
        size = _nbytes(value)
        if self.kept_bytes + size <= MAX_KEPT_RESULT_BYTES:  # else: too big to keep, not diagnosed
            self.kept_bytes += size
            record.result, record.ok = value, True
        return value

    def data_globals(self, name) -> list:
        """Data globals that the learner's function reads (for feedback only: [] when unknown)."""
        if self.sandbox is None:
            return []
        try:
            return self.sandbox.data_globals(name, self.deadline)
        except SandboxDied as died:
            self.sandbox = None
            self.events.append(f"asking which globals {name} reads: {died}")
            return []

    def close(self):
        if self.sandbox is not None:
            self.sandbox.kill()
            self.sandbox = None


def _unsupported(value):
    if isinstance(value, Unsupported):
        return value
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _unsupported(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        for item in value.values():
            found = _unsupported(item)
            if found is not None:
                return found
    return None


class LearnerFunction:
    """Stands for one of the learner's functions: calling it calls it in the sandbox."""

    def __init__(self, session: LearnerSession, name: str):
        self.sandbox_function_name = name
        self.__name__ = self.__qualname__ = name
        self._session = session

    def __call__(self, *args, **kwargs):
        return self._session.call(self.sandbox_function_name, args, kwargs)

    def data_globals(self) -> list:
        return self._session.data_globals(self.sandbox_function_name)

    def __repr__(self):
        return f"<your function {self.sandbox_function_name}>"


# ------------------------------------------------------------------------------------------------

HIDDEN_TEXT = "[its message: not shown, as it may hold the hidden inputs]"


def _redact(text: str, hidden_texts: set) -> str:
    """`text` without what the learner's code raised during hidden checks (texts of 3 characters
    or more: shorter ones cannot carry the inputs), however the check quoted it."""
    for secret_text in sorted((t for t in hidden_texts if len(t.strip()) >= 3), key=len, reverse=True):
        text = text.replace(secret_text, HIDDEN_TEXT)
    return text


def _message(error: BaseException, needs: list, session: LearnerSession) -> str:
    if isinstance(error, NameError) and getattr(error, "name", None) in needs:
        text = f"{error.name} is not defined: its cell is missing, or raised an error before defining it"
        return text
    text = str(error).strip()
    redacted = _redact(text, session.hidden_texts)
    if redacted != text and getattr(error, "raised_by", None):
        return (f"{error.raised_by}(...) raised {type(error).__name__} on the hidden inputs (its message is not "
                "shown: it may hold them)")
    text = redacted
    if isinstance(error, NotImplementedError):
        return "NotImplementedError: the answer is not written yet (its cell still raises NotImplementedError)"
    if isinstance(error, AssertionError):
        return text or "a check failed"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def grade_notebook(spec: AssignmentSpec, student: str, path: Path | None, limits: Limits, budget: float,
                   notes: list | None = None) -> dict:
    """Grade one student's notebook for `spec`; always returns a result, never raises. Everything
    after reading the file, the work on the learner's text included, is within `budget` seconds."""
    from autograder.grade.diagnosis import likely_mistakes

    deadline = time.monotonic() + budget

    result = {
        "student": student, "assignment": spec.assignment, "max_score": spec.max_score, "score": 0.0,
        "notebook": None if path is None else str(path),
        "status": "graded", "notes": list(notes or []), "events": [], "cell_errors": {},
        "tests": [{"grade_id": grade_id, "points": points, "score": 0.0, "passed": False, "message": "", "mistakes": []}
                  for grade_id, (points, _) in spec.tests.items()],
    }
    if path is None:
        result.update(status="missing", message="missing notebook")
        return _summarise(result)
    try:
        cells = read_submission(path)
    except NotebookProblem as problem:
        result.update(status="error", message=f"{path.name}: {problem}")
        for test in result["tests"]:
            test["message"] = "not graded: " + str(problem)
        return _summarise(result)
    run, plan_notes = plan_cells(spec, cells)
    result["notes"] += plan_notes
    session = LearnerSession(run, limits, deadline)
    namespace = spec.fresh_namespace()
    os.environ[STUDENT_ENV] = student
    digest_token = SUBMISSION_DIGEST.set(code_digest(learner_sources(spec, cells)))
    try:
        for test in result["tests"]:
            grade_id = test["grade_id"]
            needs = spec.needs[grade_id]
            session.new_test()
            try:
                for name, (kind, value) in session.lookup(needs).items():
                    if kind == "callable":
                        namespace[name] = LearnerFunction(session, name)
                    elif kind == "value" and _unsupported(value) is None:
                        namespace[name] = value
                    else:
                        namespace.pop(name, None)
                with quietly():
                    exec(spec.compiled[grade_id], namespace)
            except (Exception, SystemExit) as error:  # noqa: BLE001 - every failure is a message
                test["message"] = _message(error, needs, session)[:1000]
                test["mistakes"] = likely_mistakes(spec, grade_id, session.calls)
            else:
                test.update(passed=True, score=test["points"], message="passed")
    except SandboxUnavailable as error:
        result.update(status="error", message=f"the sandbox could not start: {error}")
    finally:
        session.close()
        session.new_test()  # nothing of the calls outlives the notebook
        os.environ.pop(STUDENT_ENV, None)
        SUBMISSION_DIGEST.reset(digest_token)
    result["cell_errors"] = dict(session.cell_errors)
    result["events"] = list(session.events)
    return _summarise(result)


def _summarise(result: dict) -> dict:
    result["score"] = float(sum(test["score"] for test in result["tests"]))
    result["message"] = summary(result)
    return result
