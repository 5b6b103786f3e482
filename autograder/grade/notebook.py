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
  without a copy, plus at most 1 MiB of JSON), the current test's call results
  (MAX_KEPT_RESULT_BYTES, 64 MiB), and the checks' own work on the shapes they chose (the
  grader's functions refuse any other shape): about 160 MB above the worker's baseline.
  autograder/grade/cluster.py stops a worker past MAX_WORKER_RSS anyway, charging only the
  notebook it held.

The pieces: assignment_spec.py (what the course says), cell_plan.py (reading the submission and
planning its cells), learner_session.py (the learner's process), diagnosis.py (known mistakes),
results.py (what this module returns).
"""

import time
from dataclasses import replace
from pathlib import Path

from autograder.checks.oracle import quiet
from autograder.checks.secret import STUDENT_ID, SUBMISSION_DIGEST, code_digest
from autograder.course.notebook_format import cell_grade_id, cell_source
from autograder.grade.assignment_spec import AssignmentSpec
from autograder.grade.cell_plan import NotebookProblem, learner_sources, plan_cells, read_submission
from autograder.grade.learner_session import LearnerFunction, LearnerSession, unsupported
from autograder.grade.messages import summary, total_score
from autograder.grade.results import (
    RETRIED,
    NotebookResult,
    Status,
    TestCellResult,
    WrittenAnswer,
    bounded,
)
from autograder.sandbox.host import Limits, SandboxUnavailable

HIDDEN_TEXT = "[its message: not shown, as it may hold the hidden inputs]"


def _redact(text: str, hidden_texts: set) -> str:
    """`text` without what the learner's code raised during hidden checks (texts of 3 characters
    or more: shorter ones cannot carry the inputs), however the check quoted it."""
    long_enough = (hidden for hidden in hidden_texts if len(hidden.strip()) >= 3)
    for secret_text in sorted(long_enough, key=len, reverse=True):
        text = text.replace(secret_text, HIDDEN_TEXT)
    return text


def _message(error: BaseException, needs: list, hidden_texts: set) -> str:
    """What a learner reads about a failed test cell; `hidden_texts` are what their code raised
    during hidden checks, never shown."""
    if isinstance(error, NameError) and getattr(error, "name", None) in needs:
        return (
            f"{error.name} is not defined: its cell is missing, or raised an error before "
            "defining it"
        )
    text = str(error).strip()
    redacted = _redact(text, hidden_texts)
    if redacted != text and getattr(error, "raised_by", None):
        return (
            f"{error.raised_by}(...) raised {type(error).__name__} on the hidden inputs (its "
            "message is not shown: it may hold them)"
        )
    text = redacted
    if isinstance(error, NotImplementedError):
        return (
            "NotImplementedError: the answer is not written yet (its cell still raises "
            "NotImplementedError)"
        )
    if isinstance(error, AssertionError):
        return text or "a check failed"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _run_test(
    spec: AssignmentSpec, session: LearnerSession, namespace: dict, test: TestCellResult
) -> TestCellResult:
    """One test cell run on the learner's functions (proxies into the sandbox) and values."""
    needs = spec.needs[test.grade_id]
    session.new_test()
    try:
        for name, (kind, value) in session.lookup(needs).items():
            if kind == "callable":
                namespace[name] = LearnerFunction(session, name, spec.parameters.get(name, ()))
            elif kind == "value" and unsupported(value) is None:
                namespace[name] = value
            else:
                namespace.pop(name, None)
        with quiet(stdout=True):
            exec(spec.compiled[test.grade_id], namespace)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - every failure is a message
        return replace(
            test,
            message=_message(error, needs, session.hidden_texts)[:1000],
            mistakes=tuple(spec.detector.likely_mistakes(test.grade_id, session.calls)),
        )
    return replace(test, passed=True, score=test.points, message="passed")


def written_answers(spec: AssignmentSpec, cells: list) -> tuple[tuple[WrittenAnswer, ...], list]:
    """The submission's manually graded answers, each found by its nbgrader id (the first cell
    that has it), and notes on those not found. As nbgrader does, an answer left as the release
    had it scores 0 ("No response."); any other awaits a grader (score None)."""
    sources = {}
    for cell in cells:
        sources.setdefault(cell_grade_id(cell), cell_source(cell))
    answers, missing = [], []
    for grade_id, (points, released) in spec.written.items():
        if grade_id not in sources:
            missing.append(grade_id)
        answered = sources.get(grade_id, released) != released
        answers.append(WrittenAnswer(grade_id, points, answered, None if answered else 0.0))
    notes = (
        [f"written answers not found by their nbgrader id (no response): {', '.join(missing)}"]
        if missing
        else []
    )
    return tuple(answers), notes


def grade_notebook(
    spec: AssignmentSpec,
    student: str,
    path: Path | None,
    limits: Limits,
    budget: float,
    notes: list | None = None,
) -> NotebookResult:
    """Grade one student's notebook for `spec`; always returns a result, never raises. Everything
    after reading the file, the work on the learner's text included, is within `budget` seconds."""
    deadline = time.monotonic() + budget
    tests = [TestCellResult(grade_id, points) for grade_id, (points, _) in spec.tests.items()]
    result = NotebookResult(
        student,
        spec.assignment,
        Status.GRADED,
        "",
        max_score=spec.max_score,
        notebook=None if path is None else str(path),
        notes=tuple(notes or []),
    )
    if path is None:
        return _summarise(
            replace(result, status=Status.MISSING, message="missing notebook", tests=tuple(tests))
        )
    try:
        cells = read_submission(path)
    except NotebookProblem as problem:
        tests = [replace(test, message="not graded: " + str(problem)) for test in tests]
        return _summarise(
            replace(
                result, status=Status.ERROR, message=f"{path.name}: {problem}", tests=tuple(tests)
            )
        )
    run, plan_notes = plan_cells(spec, cells)
    written, written_notes = written_answers(spec, cells)
    result = replace(
        result, notes=result.notes + tuple(plan_notes + written_notes), written=written
    )
    session = LearnerSession(run, limits, deadline)
    namespace = spec.fresh_namespace()
    # Read by the hidden checks, which run here, in this thread (autograder/checks/hidden.py).
    student_token = STUDENT_ID.set(student)
    digest_token = SUBMISSION_DIGEST.set(code_digest(learner_sources(spec, cells)))
    try:
        for index, test in enumerate(tests):
            tests[index] = _run_test(spec, session, namespace, test)
        passed = {test.grade_id for test in tests if test.passed}
        tests = [
            replace(test, mistakes=spec.detector.not_contradicted(test.mistakes, passed))
            for test in tests
        ]
    except SandboxUnavailable as error:
        message = f"the sandbox could not start: {error} ({RETRIED})"
        result = replace(result, status=Status.ERROR, message=message, retryable=True)
    finally:
        session.close()
        session.new_test()  # nothing of the calls outlives the notebook
        STUDENT_ID.reset(student_token)
        SUBMISSION_DIGEST.reset(digest_token)
    notes = list(result.notes)
    if session.more_cell_errors:
        notes.append(
            f"{session.more_cell_errors} more cells raised an error (the first "
            f"{len(session.cell_errors)} are listed)"
        )
    return _summarise(
        replace(
            result,
            tests=tuple(tests),
            cell_errors=dict(session.cell_errors),
            events=bounded(session.events, "events"),
            notes=bounded(notes, "notes"),
            cell_outputs=tuple(session.cell_outputs.values()),
        )
    )


def _summarise(result: NotebookResult) -> NotebookResult:
    """`result` with its score (the sum of its test cells' and its graded written answers') and
    its one-line message."""
    return replace(result, score=total_score(result), message=summary(result))
