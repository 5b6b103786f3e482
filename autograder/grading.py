"""``python -m autograder grade SUBMITTED --out OUT``: grade a class, safely, in parallel.

SUBMITTED is laid out like nbgrader's submitted folder, ``<student>/<assignment>/<notebook>.ipynb``.
Every notebook gets a row in OUT/grades.csv, whatever is wrong with it, with the status
``graded``, ``missing`` (not handed in) or ``error`` (handed in but could not be graded: a broken
file, a folder name that cannot be an id, a crash of the grader). Everything is written under OUT:
grades.csv, results.json, feedback/, plots/, autograded/, gradebook.db, nbgrader_config.py and
.grading.lock.

Exit status: 0 when every notebook handed in was graded, 3 when the class was graded but some
notebooks could not be (status ``error`` in grades.csv), 2 when the class could not be graded at
all (no SUBMITTED, no sandbox on this platform, OUT not writable, an unknown --assignment).

Learner code runs only in the sandbox (autograder/sandbox_child.py); the checks run in worker
processes of the grader (one per core by default); only this main process writes OUT.
"""

import argparse
import fcntl
import os
import re
import sys
import time
from multiprocessing import get_context
from pathlib import Path

from . import course
from .messages import name_problem, safe_strings, shown_name
from .sandbox import Limits

REFUSAL = 2  # nothing was graded
INCOMPLETE = 3  # graded, but some notebooks could not be


def _size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use for example 512M or 2G)")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " "))


def parse_arguments(argv):
    paragraphs = __doc__.split("\n\n")
    exit_statuses = next(text for text in paragraphs if text.startswith("Exit status"))
    parser = argparse.ArgumentParser(prog="python -m autograder grade", description=paragraphs[0],
                                     epilog=exit_statuses)
    parser.add_argument("submitted", type=Path, help="folder of <student>/<assignment>/<notebook>.ipynb")
    parser.add_argument("--out", type=Path, required=True, help="folder for grades.csv, feedback, plots, gradebook.db")
    parser.add_argument("--assignment", action="append", metavar="ID",
                        help="grade this assignment (repeatable; default: every assignment with a folder "
                             "in SUBMITTED)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel graders (default: one per core)")
    parser.add_argument("--timeout", type=float, default=30.0, help="wall-clock seconds for each cell and each call (default 30)")
    parser.add_argument("--memory", type=_size, default=2 << 30, help="memory limit of the learner's process (default 2G)")
    parser.add_argument("--cpu", type=int, default=120, help="CPU seconds of one learner process (default 120)")
    parser.add_argument("--budget", type=float, default=None, help="wall-clock seconds for one notebook (default 20 x timeout)")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------
# Finding the submissions

def collect(submitted: Path, known: list[str], assignments: list[str] | None = None):
    """(tasks, rows): a task (student, assignment, path or None, notes) per notebook to grade, and
    ready-made error rows for what cannot be graded (a folder name that cannot be an id, an unknown
    assignment folder...).

    Only `assignments` are graded (default: every course assignment that has a folder in some
    student's folder); a student without a folder for one of them gets a task with no path, which
    the grader reports as missing. Folders of other assignments are left alone when the instructor
    names the assignments, and reported otherwise.
    """
    students = {}  # student id -> {folder name: folder}
    tasks, rows = [], []
    for student_dir in sorted(submitted.iterdir()):
        if student_dir.name.startswith(".") or student_dir.is_symlink() or not student_dir.is_dir():
            continue
        student, problem = shown_name(student_dir.name), name_problem(student_dir.name)
        if problem:
            rows.append(_row(student, "", None, "error", f"the student folder {student!r} cannot be used as "
                             f"a student id ({problem}): rename it; nothing in it was graded"))
            continue
        try:
            students[student] = {folder.name: folder for folder in sorted(student_dir.iterdir())
                                 if not folder.name.startswith(".")}
        except OSError as error:
            rows.append(_row(student, "", None, "error", f"cannot read the student folder: {error.strerror}"))
    present = {name for folders in students.values() for name in folders if name in known}
    chosen = sorted(present) if assignments is None else list(assignments)
    for student, folders in students.items():
        for name, folder in folders.items():
            if name in chosen or assignments is not None:
                continue  # graded below, or not asked for
            assignment, problem = shown_name(name), name_problem(name)
            if problem:
                message = f"the folder {assignment!r} cannot be an assignment id ({problem})"
            elif folder.is_symlink() or not folder.is_dir():
                message = f"{assignment} is not a folder (symbolic links are not followed)"
            else:
                message = f"unknown assignment {assignment!r}: this course has {', '.join(known)}"
            rows.append(_row(student, assignment, None, "error", message))
        for assignment in chosen:
            folder = folders.get(assignment)
            if folder is None:
                tasks.append((student, assignment, None, [f"not submitted: no folder {assignment}/"]))
            elif folder.is_symlink() or not folder.is_dir():
                rows.append(_row(student, assignment, None, "error",
                                 f"{assignment} is not a folder (symbolic links are not followed)"))
            else:
                try:
                    task = _notebook_task(student, assignment, folder)
                except OSError as error:
                    message = f"cannot read {assignment}/: {error.strerror}"
                    task = _row(student, assignment, None, "error", message)
                (tasks if isinstance(task, tuple) else rows).append(task)
    return tasks, rows


def _notebook_task(student: str, assignment: str, folder: Path):
    """The task grading `folder`'s notebook, or an error row when it holds several and none is
    named as expected."""
    expected = folder / course.notebook_name(assignment)
    notebooks = sorted(path for path in folder.glob("*.ipynb") if not path.is_symlink() and path.is_file())
    if expected in notebooks or expected.is_symlink():  # a link is refused (O_NOFOLLOW), with a message
        return student, assignment, expected, []
    if len(notebooks) == 1:
        renamed = f"the notebook is named {notebooks[0].name}, not {expected.name}"
        return student, assignment, notebooks[0], [renamed]
    if notebooks:
        names = ", ".join(path.name for path in notebooks)
        message = f"several notebooks and none named {expected.name}: {names}"
        return _row(student, assignment, None, "error", message)
    return student, assignment, None, [f"missing notebook: expected {assignment}/{expected.name}"]


def _row(student, assignment, max_score, status, message):
    """A result for a notebook that was never graded: same keys as the grader's results."""
    return {"student": student, "assignment": assignment, "score": 0.0, "max_score": max_score,
            "status": status, "message": message, "tests": [], "notes": [], "events": [], "cell_errors": {}}


# ------------------------------------------------------------------------------------------------
# Workers (trusted): each imports torch once and keeps each assignment's spec

_WORKER = {}


def _init_worker(limits: Limits, budget: float, secret: str) -> None:
    os.environ["MHA_GRADING_SECRET"] = secret
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    _WORKER.update(limits=limits, budget=budget, specs={})


def _grade_task(task) -> dict:
    from .grader import AssignmentSpec, grade_notebook

    student, assignment, path, notes = task
    try:
        specs = _WORKER["specs"]
        if assignment not in specs:
            specs[assignment] = AssignmentSpec(assignment)
        return grade_notebook(specs[assignment], student, path, _WORKER["limits"], _WORKER["budget"], notes)
    except Exception as error:  # a bug of ours must not stop the class: say so in the row
        return _row(student, assignment, None, "error", f"internal grader error: {type(error).__name__}: {error}")


# A notebook may hold its worker this long past its budget (the checks' own work, starting torch)
# before the worker is stopped; and a worker may grow to this resident size. Both are backstops:
# the budget and the bounds of autograder/sandbox.py and autograder/grader.py come first.
WORKER_GRACE_SECONDS = 60.0
MAX_WORKER_RSS = 3 << 30


def _worker_loop(connection, limits: Limits, budget: float, secret: str) -> None:
    """One grading worker: one notebook at a time, so the parent always knows which one it holds."""
    _init_worker(limits, budget, secret)
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        connection.send(_grade_task(task))


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _Worker:
    """A worker process, its pipe, and the notebook (task index) it is grading, if any."""

    def __init__(self, context, limits: Limits, budget: float, secret: str):
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=_worker_loop, args=(theirs, limits, budget, secret), daemon=True)
        self.process.start()
        theirs.close()
        self.index, self.started = None, 0.0

    def give(self, index: int, task) -> None:
        self.index, self.started = index, time.monotonic()
        self.connection.send(task)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)
        self.connection.close()


def grade_all(tasks, workers: int, limits: Limits, budget: float, secret: str, progress: bool) -> list:
    """Grade every task in `workers` processes; a result for each, whatever happens to a worker.

    Each worker holds one notebook at a time. When a worker dies (the out-of-memory killer, a
    crash), only the notebook it held is charged: it is retried once in a fresh worker, then given
    an error row; the others are not disturbed. A worker that holds one notebook for longer than
    its budget plus WORKER_GRACE_SECONDS, or grows past MAX_WORKER_RSS, is stopped, and that
    notebook alone gets an error row."""
    from multiprocessing.connection import wait

    from tqdm import tqdm

    context = get_context("fork")
    results, attempts, pending = [], {}, list(range(len(tasks)))
    pending.reverse()  # popped from the end: in order
    pool: list[_Worker] = []
    bar = tqdm(total=len(tasks), desc="grading", unit="notebook", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)

    def fail(index: int, message: str) -> None:
        student, assignment, _, _ = tasks[index]
        results.append(_row(student, assignment, None, "error", message))
        bar.update(1)

    try:
        while pending or any(worker.index is not None for worker in pool):
            while pending and len(pool) < max(1, workers):
                pool.append(_Worker(context, limits, budget, secret))
            for worker in list(pool):
                if worker.index is None and pending:
                    index = pending.pop()
                    try:
                        worker.give(index, tasks[index])
                    except OSError:  # it died before taking the notebook: seen below as a crash
                        pass
            busy = [worker for worker in pool if worker.index is not None]
            wait([worker.connection for worker in busy] + [worker.process.sentinel for worker in busy], timeout=0.5)
            for worker in busy:
                index, problem = worker.index, None
                if worker.connection.poll():
                    try:
                        results.append(worker.connection.recv())
                        bar.update(1)
                        worker.index = None
                        continue
                    except (EOFError, OSError):
                        problem = "crash"
                elif not worker.process.is_alive() or worker.connection.closed:
                    problem = "crash"
                elif time.monotonic() - worker.started > budget + WORKER_GRACE_SECONDS:
                    problem = f"the notebook held the grader for more than {budget + WORKER_GRACE_SECONDS:g} s"
                elif _resident_bytes(worker.process.pid) > MAX_WORKER_RSS:
                    problem = f"the grader used more than {MAX_WORKER_RSS >> 20} MiB of memory on this notebook"
                if problem is None:
                    continue
                worker.stop()
                pool.remove(worker)
                attempts[index] = attempts.get(index, 0) + 1
                if problem != "crash":
                    fail(index, f"not graded: {problem}")
                elif attempts[index] >= 2:
                    fail(index, "the grader's worker process crashed twice on this notebook")
                else:
                    pending.append(index)
    finally:
        for worker in pool:
            try:
                worker.connection.send(None)
            except OSError:
                pass
        for worker in pool:
            worker.process.join(timeout=5)
            worker.stop()
        bar.close()
    return results


# ------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    submitted, out = arguments.submitted, arguments.out
    if not submitted.is_dir():
        print(f"error: {submitted} is not a folder of submissions (<student>/<assignment>/<notebook>.ipynb)", file=sys.stderr)
        return REFUSAL
    known = course.assignments()
    unknown = [assignment for assignment in arguments.assignment or [] if assignment not in known]
    if unknown:
        print(f"error: unknown assignment {', '.join(unknown)}: this course has {', '.join(known)}",
              file=sys.stderr)
        return REFUSAL
    limits = Limits(timeout=arguments.timeout, cpu_seconds=arguments.cpu, memory_bytes=arguments.memory)
    budget = arguments.budget or 20 * arguments.timeout
    from .sandbox import SandboxUnavailable, probe

    try:
        info = probe(Limits(timeout=max(arguments.timeout, 10.0)))
    except SandboxUnavailable as error:
        print(f"error: refusing to grade: {error}. Learner code would run without its locked-down sandbox "
              "(Linux with unprivileged user namespaces, Landlock and seccomp is needed).", file=sys.stderr)
        return REFUSAL
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = open(out / ".grading.lock", "w")
    except OSError as error:
        print(f"error: cannot write to {out}: {error}", file=sys.stderr)
        return REFUSAL
    from .secret import grading_secret

    try:
        secret = grading_secret().decode()
    except OSError as error:
        print(f"error: no grading secret ($MHA_GRADING_SECRET or .grading-secret): {error}", file=sys.stderr)
        return REFUSAL
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"another grading run is writing {out}; waiting for it to finish", file=sys.stderr)
        fcntl.flock(lock, fcntl.LOCK_EX)
    started = time.monotonic()
    tasks, rows = collect(submitted, known, arguments.assignment)
    print(f"sandbox: user+network+mount namespaces, rlimits, Landlock ABI {info['landlock_abi']}, "
          f"seccomp {'on' if info['seccomp'] else 'off (not x86-64)'}; {len(tasks)} notebooks, {arguments.workers} workers",
          file=sys.stderr)
    graded = grade_all(tasks, arguments.workers, limits, budget, secret, not arguments.no_progress)
    # Learners' text (exception messages, printed names) enters here from the sandbox, through the
    # workers, and file names entered in collect: made safe once, before anything is written.
    results = [safe_strings(result) for result in rows + graded]
    results.sort(key=lambda result: (result["student"], result["assignment"]))
    from .reports import write_reports

    write_reports(results, out, known)
    from .class_reports import after_grading  # similarity report and LMS grades (issue 15)

    after_grading(out, submitted)
    elapsed = time.monotonic() - started
    print(f"{len(results)} notebooks in {elapsed:.1f} s: {summary_line(results)} (each named in "
          f"{out / 'grades.csv'})", file=sys.stderr)
    return INCOMPLETE if any(result["status"] == "error" for result in results) else 0


def summary_line(results: list) -> str:
    """The count of each status, as in "12 graded, 2 missing (not handed in), 1 could not be graded"."""
    count = {status: sum(result["status"] == status for result in results)
             for status in ("graded", "missing", "error")}
    return (f"{count['graded']} graded, {count['missing']} missing (not handed in), "
            f"{count['error']} could not be graded (status error)")


if __name__ == "__main__":
    sys.exit(main())
