"""The grading workers (trusted processes): each imports torch once and keeps each assignment's
spec, and grades one notebook at a time, so the parent always knows which notebook a worker held
when it died."""

import os
import signal
import sys
import time
from multiprocessing import get_context

from autograder.grade.collect import _row
from autograder.sandbox.host import Limits



_WORKER = {}


def _init_worker(limits: Limits, budget: float, secret: str) -> None:
    os.environ["MHA_GRADING_SECRET"] = secret
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    _WORKER.update(limits=limits, budget=budget, specs={})


def _grade_task(task) -> dict:
    from autograder.grade.notebook import AssignmentSpec, grade_notebook

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
# the budget and the bounds of autograder/sandbox/host.py and autograder/grade/notebook.py come first.
WORKER_GRACE_SECONDS = 60.0
MAX_WORKER_RSS = 3 << 30


def _worker_loop(connection, limits: Limits, budget: float, secret: str) -> None:
    """One grading worker: one notebook at a time, so the parent always knows which one it holds."""
    # Ctrl-C reaches the whole foreground process group: only the parent acts on it (it records
    # what has arrived and stops the workers), so a worker must not die half-way through a reply.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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


def grade_all(tasks, workers: int, limits: Limits, budget: float, secret: str, progress: bool):
    """Grade every task in `workers` processes; yield a result for each as soon as it arrives
    (in no set order), whatever happens to a worker.

    Each worker holds one notebook at a time. When a worker dies (the out-of-memory killer, a
    crash), only the notebook it held is charged: it is retried once in a fresh worker, then given
    an error row; the others are not disturbed. A worker that holds one notebook for longer than
    its budget plus WORKER_GRACE_SECONDS, or grows past MAX_WORKER_RSS, is stopped, and that
    notebook alone gets an error row. Closing the generator early (Ctrl-C) stops every worker at
    once."""
    from multiprocessing.connection import wait

    from tqdm import tqdm

    context = get_context("fork")
    results, attempts, pending = [], {}, list(range(len(tasks)))  # results: not yet yielded
    pending.reverse()  # popped from the end: in order
    pool: list[_Worker] = []
    bar = tqdm(total=len(tasks), desc="grading", unit="notebook", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)

    def fail(index: int, message: str) -> None:
        student, assignment, _, _ = tasks[index]
        results.append(_row(student, assignment, None, "error", message))
        bar.update(1)

    finished = False
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
            yield from results  # once every worker has its next notebook: they work meanwhile
            results.clear()
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
        yield from results
        finished = True
    finally:
        for worker in pool:
            try:
                if finished:  # idle: let it exit; otherwise (interrupted) it is killed below
                    worker.connection.send(None)
            except OSError:
                pass
        for worker in pool:
            if finished:
                worker.process.join(timeout=5)
            worker.stop()
        bar.close()
