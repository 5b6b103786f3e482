"""The learner's process for one notebook, seen from the trusted grader: a sandbox restarted
when it dies, all within one deadline, and proxies that stand for the learner's functions."""

import builtins
import re
import symtable
import time
from dataclasses import dataclass

import numpy as np

from autograder.checks.hidden import HIDDEN_CHECK_RUNNING
from autograder.checks.notebook_helpers import course_error, side_effect_problem
from autograder.grade.results import MAX_LISTED, CellOutput, clipped
from autograder.sandbox.host import Limits, Sandbox, SandboxDied
from autograder.sandbox.wire import Unsupported

MAX_SANDBOX_STARTS = 12
# The results of one test's calls kept for the mistake detector; beyond this, no diagnosis.
MAX_KEPT_RESULT_BYTES = 64 << 20
# What the learner's cells printed, kept for the autograded notebook: each cell's first
# MAX_CELL_OUTPUT_CHARS characters (autograder/sandbox/host.py), at most this many characters in
# all and this many cells; the rest is counted as omitted, or dropped.
MAX_NOTEBOOK_OUTPUT_CHARS = 32_000
MAX_CELLS_WITH_OUTPUT = 64


@dataclass
class Call:
    name: str
    args: tuple
    kwargs: dict
    result: object = None
    ok: bool = False
    raised: str | None = None  # "Type: message" when the learner's function raised
    # (changed argument positions and keywords, shared result) as watched_call reports them
    effects: tuple = (frozenset(), False)
    peak_bytes: int | None = None  # what the call allocated at most, when it was measured


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
    results kept up to MAX_KEPT_RESULT_BYTES for the mistake detector. `cell_errors` holds the
    first MAX_LISTED learner cells that raised (label -> error), `more_cell_errors` counts the
    rest."""

    def __init__(self, cells: list, limits: Limits, deadline: float):
        self.cells, self.limits = cells, limits
        self.deadline = deadline  # time.monotonic() when the notebook's budget runs out
        self.sandbox, self.starts = None, 0
        self.skipped, self.cell_errors, self.events = set(), {}, []
        self.cell_outputs: dict[str, CellOutput] = {}  # label -> its first run's output
        self.output_room = MAX_NOTEBOOK_OUTPUT_CHARS
        self.more_cell_errors = 0
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
                raise OutOfBudget(
                    "not graded: the submission used up its time budget (its code "
                    "kept timing out or crashing)"
                )
            self.starts += 1
            indices = [i for i in range(len(self.cells)) if i not in self.skipped]
            sandbox = Sandbox(self.limits)
            try:
                sources = [self.cells[i][1] for i in indices]
                for run in sandbox.execute(sources, self.deadline):
                    label, _, learners = self.cells[indices[run.index]]
                    if not learners:
                        continue
                    self._keep_output(label, run.streams, run.omitted)
                    if not run.error or clipped(label, 100) in self.cell_errors:
                        continue
                    if len(self.cell_errors) < MAX_LISTED:
                        self.cell_errors[clipped(label, 100)] = clipped(run.error)
                    else:
                        self.more_cell_errors += 1
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

    def _keep_output(self, label: str, streams: tuple, omitted: int) -> None:
        """Keep what a learner's cell printed on its first run, within the notebook's caps (keyed
        by its label clipped as cell_errors' keys are)."""
        label = clipped(label, 100)
        if label in self.cell_outputs or not (streams or omitted):
            return
        if len(self.cell_outputs) >= MAX_CELLS_WITH_OUTPUT:
            return
        kept = []
        for name, text in streams:
            piece = text[: self.output_room]
            omitted += len(text) - len(piece)
            self.output_room -= len(piece)
            if piece:
                kept.append((name, piece))
        self.cell_outputs[label] = CellOutput(label, tuple(kept), omitted)

    def lookup(self, names):
        if not names:
            return {}
        self._ensure()
        try:
            return self.sandbox.lookup(names, self.deadline)
        except SandboxDied as died:
            self.sandbox = None
            self.events.append(f"looking up {', '.join(names)}: {died}")
            raise AssertionError(
                f"the notebook's process ended while looking up {', '.join(names)}: {died}"
            ) from None

    def call(self, name, args, kwargs, measure_memory=False):
        record = Call(name, args, kwargs)
        self.calls.append(record)
        self._ensure()
        try:
            kind, value, effects = self.sandbox.call(
                name, args, kwargs, self.deadline, measure_memory=measure_memory
            )
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
        problem = unsupported(value)
        if problem is not None:
            raise AssertionError(
                f"{name}(...) returned {problem.description}; answers must be "
                "plain numpy arrays or numbers"
            )
        size = _nbytes(value)
        if self.kept_bytes + size <= MAX_KEPT_RESULT_BYTES:  # else: too big to keep, not diagnosed
            self.kept_bytes += size
            record.result, record.ok = value, True
        record.effects = effects
        record.peak_bytes = self.sandbox.peak_bytes if measure_memory else None
        return value

    def data_globals(self, name) -> list:
        """Data globals that the learner's function reads (for feedback only: [] when unknown).

        The names come from the notebook's text as this process read it (`globals_read`): the
        learner's process, which alone knows which of them hold data (arrays, numbers), may only
        choose among them. Its answer comes from code the learner can redefine, and a string it
        made up (the hidden inputs it was called with) would otherwise reach the feedback."""
        if self.sandbox is None:
            return []
        try:
            answer = self.sandbox.data_globals(name, self.deadline)
        except SandboxDied as died:
            self.sandbox = None
            self.events.append(f"asking which globals {name} reads: {died}")
            return []
        if not answer:
            return []
        return sorted(set(answer) & globals_read([cell[1] for cell in self.cells], name))

    def close(self):
        if self.sandbox is not None:
            self.sandbox.kill()
            self.sandbox = None


def globals_read(sources: list[str], name: str) -> set[str]:
    """The global names that the function `name`, as the cells `sources` define it (the last
    definition at the top level of a cell that compiles), reads, directly or through the other
    functions they define: from the text alone (Python's symtable), whatever the learner's process
    says. Empty when no cell defines it."""
    found, followed, waiting = set(), set(), [name]
    while waiting:
        function = waiting.pop()
        if function in followed:
            continue
        followed.add(function)
        table = _function_table(sources, function)
        if table is None:
            continue
        tables = [table]
        while tables:  # the function and what it nests: inner functions, lambdas, comprehensions
            table = tables.pop()
            tables.extend(table.get_children())
            for symbol in table.get_symbols():
                if symbol.is_global() and symbol.is_referenced():
                    found.add(symbol.get_name())
                    waiting.append(symbol.get_name())  # followed if the cells define it
    return found


def _function_table(sources: list[str], name: str):
    """The symbol table of the last top-level `def name` in `sources` that compiles, or None."""
    defines = re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(name)}\b", re.M)
    for source in reversed(sources):
        if not defines.search(source):
            continue
        try:
            top = symtable.symtable(source, "<cell>", "exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        tables = [
            child
            for child in top.get_children()
            if child.get_type() == "function" and child.get_name() == name
        ]
        if tables:
            return tables[-1]
    return None


def unsupported(value):
    """The first value the sandbox could not send (an Unsupported) in `value`, or None."""
    if isinstance(value, Unsupported):
        return value
    if isinstance(value, (list, tuple)):
        for item in value:
            found = unsupported(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        for item in value.values():
            found = unsupported(item)
            if found is not None:
                return found
    return None


class LearnerFunction:
    """Stands for one of the learner's functions: calling it calls it in the sandbox, where the
    course's watched_call sees whether it changed its arguments or repeated a result (so
    call_numpy_only leaves that to it); `parameter_names` are the course's answer's."""

    watches_its_arguments = True

    def __init__(self, session: LearnerSession, name: str, parameter_names=()):
        self.sandbox_function_name = name
        self.__name__ = self.__qualname__ = name
        self.parameter_names = list(parameter_names)
        self._session = session

    def __call__(self, *args, **kwargs):
        return self._call(args, kwargs)

    def call_measuring_memory(self, *args, **kwargs):
        """(result, the peak bytes the call allocated in the sandbox, or None if unmeasured): a
        check of memory use calls the learner's function this way, where it runs."""
        result = self._call(args, kwargs, measure_memory=True)
        return result, self._session.calls[-1].peak_bytes

    def _call(self, args, kwargs, measure_memory=False):
        result = self._session.call(self.sandbox_function_name, args, kwargs, measure_memory)
        changed, shared = self._session.calls[-1].effects
        problem = side_effect_problem(self, sorted(changed, key=str), shared)
        if problem:
            raise course_error(problem)
        return result

    def data_globals(self) -> list:
        return self._session.data_globals(self.sandbox_function_name)

    def __repr__(self):
        return f"<your function {self.sandbox_function_name}>"
